"""The layer rules of ARCHITECTURE.md, checked on the code itself (issue 17).

- ``client/`` imports no Airflow: every module below it imports with Airflow blocked, and its errors are
  plain exceptions there; the glue (``exceptions``) roots them under ``AirflowException``.
- No import circle, no core module over 250 lines (``scripts/layout_report.py``, the script the closing
  notes quote).
- Sensors and triggers share ``client/_checks``; neither imports the other.
- Every import path the README names works, and every module path of 0.1 still imports (deprecated).
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import airflow_provider_trafficstars as package

ROOT = Path(package.__file__).resolve().parents[1]
PACKAGE = ROOT / "airflow_provider_trafficstars"

_BLOCKED = """
import importlib, json, pkgutil, sys

class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"blocked: {name}")

sys.meta_path.insert(0, NoAirflow())
import airflow_provider_trafficstars.client as client
names = [m.name for m in pkgutil.walk_packages(client.__path__, client.__name__ + ".")]
for name in names:
    importlib.import_module(name)
from airflow_provider_trafficstars.client import TrafficStarsClient, errors
print(json.dumps({
    "modules": names,
    "airflow": sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow.")),
    "bases": [c.__name__ for c in errors.TrafficStarsError.__mro__],
}))
"""


def test_the_client_imports_no_airflow() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKED], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(found["modules"]) >= 20  # every module below client/ was imported
    assert found["airflow"] == []
    assert found["bases"] == ["TrafficStarsError", "_Root", "Exception", "BaseException", "object"]


def test_the_glue_roots_the_client_errors_under_airflow_exception() -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    from airflow_provider_trafficstars import exceptions
    from airflow_provider_trafficstars.client import errors

    assert exceptions.TrafficStarsApiError is errors.TrafficStarsApiError  # one tree, not a copy
    for name in exceptions.__all__:
        value = getattr(exceptions, name)
        if isinstance(value, type):
            assert issubclass(value, AirflowException), name
    assert issubclass(errors.TrafficStarsConfigError, ValueError)


def test_no_import_circle_and_no_long_core_module() -> None:
    report = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "layout_report.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "modules over their limit: 0" in report, report
    assert "import circles (every import): 0" in report, report
    assert re.search(r"core modules that import Airflow when imported: 0 of \d+", report), report


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(("side", "other"), [("sensors", "triggers"), ("triggers", "sensors")])
def test_sensors_and_triggers_share_checks_and_never_import_each_other(side: str, other: str) -> None:
    imported = set().union(*(_imports(f) for f in (PACKAGE / side).glob("*.py")))
    assert not {m for m in imported if m.startswith(f"airflow_provider_trafficstars.{other}")}
    assert "airflow_provider_trafficstars.client._checks" in imported


def _readme_paths() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    paths = set(re.findall(r"\bfrom (airflow_provider_trafficstars[\w.]*) import", readme))
    paths |= set(re.findall(r"`(airflow_provider_trafficstars(?:\.\w+)*)", readme))
    return sorted(paths)


@pytest.mark.parametrize("path", _readme_paths())
def test_every_import_path_in_the_readme_works(path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the README names the new paths only
        try:
            importlib.import_module(path)
        except ModuleNotFoundError:  # module.attribute (a function, a class, a constant)
            module, _, attribute = path.rpartition(".")
            assert hasattr(importlib.import_module(module), attribute), path


@pytest.mark.parametrize("old", sorted(package._MOVED))
def test_every_moved_module_still_imports_with_a_deprecation_warning(old: str) -> None:
    full = f"airflow_provider_trafficstars.{old}"
    sys.modules.pop(full, None)
    with pytest.warns(DeprecationWarning, match="moved"):
        module = importlib.import_module(full)
    assert module is importlib.import_module(f"airflow_provider_trafficstars.{package._MOVED[old]}")
