"""The wheel and sdist that ``python -m build`` makes: what they hold, and that the wheel registers the provider.

The wheel goes with ``--no-deps`` into a new virtualenv that sees this environment's site-packages through a
``.pth`` line (for Airflow and the dependencies: a full install costs a minute or more). Only the new
venv's own ``.pth`` files run, so this checkout's editable install stays invisible there: what imports is
the wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from airflow_provider_trafficstars import __version__
from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
from tests.helpers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PACKAGE = "airflow_provider_trafficstars"
ENTRY_POINT = "provider_info = airflow_provider_trafficstars.get_provider_info:get_provider_info"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the sdist, and the wheel from it, as a release would; return both paths."""
    pytest.importorskip("build", reason="pip install -e '.[test]' (the `build` package)")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    assert wheel.name == f"airflow_provider_trafficstars-{__version__}-py3-none-any.whl"
    assert sdist.name == f"airflow_provider_trafficstars-{__version__}.tar.gz"
    return {"wheel": wheel, "sdist": sdist}


def test_wheel_holds_the_package_typing_marker_license_and_entry_point(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as whl:
        names = set(whl.namelist())
        info = f"airflow_provider_trafficstars-{__version__}.dist-info"
        assert f"{PACKAGE}/py.typed" in names
        assert f"{PACKAGE}/get_provider_info.py" in names and f"{PACKAGE}/hooks/trafficstars.py" in names
        assert f"{PACKAGE}/testing/emulator.py" in names  # the emulator ships, for users' own tests
        assert not any(n.startswith(("tests/", "example_dags/", "benchmarks/", "docs/")) for n in names)
        assert f"{info}/licenses/LICENSE" in names
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
        assert "[apache_airflow_provider]" in entry_points and ENTRY_POINT in entry_points
        metadata = whl.read(f"{info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Framework :: Apache Airflow :: Provider" in metadata
    assert "Requires-Dist: apache-airflow" in metadata
    assert "Provides-Extra: browser" in metadata


def test_sdist_holds_what_a_rebuild_needs(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", f"{PACKAGE}/py.typed", f"{PACKAGE}/__init__.py"} <= names


def test_installed_wheel_registers_the_provider(dists: dict[str, Path], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
        .decode()
        .strip()
    )
    # Airflow and the dependencies, from this environment (its .pth files, e.g. the editable install, do not run).
    (site / "_reuse_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(dists["wheel"])],
        check=True,
        timeout=300,
    )
    probe = f"""
import json
from importlib.metadata import distribution, entry_points
import {PACKAGE}
(ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.dist.name == "airflow-provider-trafficstars"]
info = ep.load()()
print(json.dumps({{"file": {PACKAGE}.__file__, "dist": str(ep.dist.locate_file("")),
                  "package": info["package-name"], "version": distribution("airflow-provider-trafficstars").version}}))
"""
    env = AirflowHome.at(tmp_path / "home").env()
    found = json.loads(subprocess.check_output([str(python), "-c", probe], env=env, cwd=tmp_path, timeout=120))
    assert found["file"].startswith(str(site)), found  # the wheel's copy, not this checkout
    assert found["dist"].startswith(str(site)), found
    assert (found["package"], found["version"]) == ("airflow-provider-trafficstars", __version__)

    listed = subprocess.run(
        [str(python), "-m", "airflow", "providers", "list", "-o", "json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    # Airflow 3.0 prints log lines to stdout before the JSON list.
    (table,) = [line for line in listed.stdout.splitlines() if line.startswith("[{")]
    providers = {p["package_name"]: p for p in json.loads(table)}
    assert providers["airflow-provider-trafficstars"]["version"] == __version__
