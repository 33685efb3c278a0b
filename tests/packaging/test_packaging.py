"""The wheel and sdist that ``python -m build`` makes: what they hold, that PyPI would take them, and that the
wheel alone runs an example DAG.

Two installs of the wheel. A quick one (``--no-deps``, into a venv that sees this environment's
site-packages through a ``.pth`` line) checks what Airflow registers. The release check installs the wheel
into a clean virtualenv together with Airflow, pinned by this Airflow's constraints file, as the
installation page tells users to, and runs ``example_trafficstars_session`` there with ``airflow dags test``
against the emulator the wheel ships: nothing of this checkout is importable there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from airflow_provider_trafficstars import __version__
from airflow_provider_trafficstars.get_provider_info import LOGO
from airflow_provider_trafficstars.testing import AirflowHome
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
        assert f"{PACKAGE}/{LOGO}" in names  # the integration's logo, named by get_provider_info()
        assert not any(n.startswith(("tests/", "example_dags/", "benchmarks/", "docs/")) for n in names)
        assert f"{info}/licenses/LICENSE" in names
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
        assert "[apache_airflow_provider]" in entry_points and ENTRY_POINT in entry_points
        metadata = whl.read(f"{info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert f"Version: {__version__}\n" in metadata  # from __version__, the one place it is written
    assert "Keywords: airflow-provider," in metadata
    assert "Classifier: Framework :: Apache Airflow\n" in metadata
    assert "Classifier: Framework :: Apache Airflow :: Provider" in metadata
    assert re.findall(r"Classifier: Programming Language :: Python :: (3\.\d+)", metadata) == ["3.11"]
    (airflow_req,) = re.findall(r"^Requires-Dist: apache-airflow([^-\w].*)$", metadata, re.MULTILINE)
    assert "<" not in airflow_req, airflow_req  # no upper bound, as the official providers'
    assert "Provides-Extra: docs" in metadata
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


def test_twine_accepts_the_wheel_and_the_sdist(dists: dict[str, Path]) -> None:
    """What PyPI checks on upload: the metadata and that the README renders as the long description."""
    pytest.importorskip("twine", reason="pip install -e '.[test]' (the `twine` package)")
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists["wheel"]), str(dists["sdist"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def _constraints_or_skip() -> Path:
    """Return this Airflow's constraints file; skip on the matrix's other legs (a clean install costs a minute
    each, and the quick install above already proves the wheel registers there)."""
    import airflow

    (default,) = re.findall(r"^AIRFLOW_VERSION \?= (\S+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    if airflow.__version__ != default:
        pytest.skip(
            f"the clean install runs on the default Airflow, {default} (make test); this is {airflow.__version__}"
        )

    constraints = (
        REPO / "constraints" / f"airflow-{airflow.__version__}-py{sys.version_info[0]}.{sys.version_info[1]}.txt"
    )
    if not constraints.is_file():
        pytest.skip(f"no constraints file for this Airflow and Python: {constraints.name}")
    return constraints


@pytest.fixture(scope="module")
def clean_venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding Airflow (this one's version, pinned by its constraints file) and the wheel."""
    import airflow

    constraints = _constraints_or_skip()
    venv = tmp_path_factory.mktemp("clean") / "venv"
    requirements = ["-c", str(constraints), f"apache-airflow=={airflow.__version__}", str(dists["wheel"])]
    uv = (
        REPO / "build" / "uv" / "bin" / "uv"
    )  # scripts/matrix.sh's, when there: the same install in a third of the time
    if uv.is_file():
        subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
        command = [str(uv), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *requirements]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        command = [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *requirements,
        ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


def test_the_wheel_alone_runs_an_example_dag_in_a_clean_airflow(clean_venv: Path, tmp_path: Path) -> None:
    python = str(clean_venv / "bin" / "python")
    home = AirflowHome.at(tmp_path / "home")
    env = home.env()
    for name in ("PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(name, None)
    where = subprocess.check_output(
        [python, "-c", f"import {PACKAGE}, airflow; print({PACKAGE}.__file__); print(airflow.__file__)"],
        env=env,
        cwd=tmp_path,
        text=True,
        timeout=120,
    ).split()
    assert all(path.startswith(str(clean_venv)) for path in where), where  # the wheel and the venv's Airflow
    assert not any(str(REPO) in path for path in where)

    # The example DAG comes from the repository (examples are not in the wheel); the code it imports does not.
    shutil.copy(REPO / "example_dags" / "example_trafficstars_session.py", home.dags_folder)
    port_file = tmp_path / "emulator.port"
    emulator = subprocess.Popen(
        [python, "-m", f"{PACKAGE}.testing.emulator", "--port", "0", "--port-file", str(port_file), "--api-key", "k-1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        airflow_cli = [python, "-m", "airflow"]
        migrate = subprocess.run(
            [*airflow_cli, "db", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
        for _ in range(600):  # the emulator writes its port once it listens (long before the migration ends)
            if port_file.is_file() and port_file.read_text().strip():
                break
            assert emulator.poll() is None, emulator.communicate()[1]
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        conn = json.dumps({"conn_type": "trafficstars", "host": url, "password": "k-1"})
        run = subprocess.run(
            [*airflow_cli, "dags", "test", "example_trafficstars_session"],
            env={**env, "AIRFLOW_CONN_TRAFFICSTARS_DEFAULT": conn},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-4000:]
        runs = subprocess.run(
            [*airflow_cli, "dags", "list-runs", "example_trafficstars_session", "-o", "json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        (table,) = [line for line in runs.stdout.splitlines() if line.startswith("[{")]
        assert [r["state"] for r in json.loads(table)] == ["success"], table
        with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as answer:
            stats = json.loads(answer.read())
        assert stats["token_requests"] == 1, stats
        assert "k-1" not in output
    finally:
        emulator.terminate()
        emulator.communicate(timeout=30)
