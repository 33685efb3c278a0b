"""Every public class is importable from the package itself, lazily, and Airflow's start-up stays cheap."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import airflow_provider_trafficstars as package

INIT = Path(package.__file__)


def type_checking_imports() -> dict[str, str]:
    """Return ``{name: module}`` of the ``if TYPE_CHECKING:`` imports of the package's ``__init__``."""
    found: dict[str, str] = {}
    for node in ast.parse(INIT.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.dump(stmt)
                found.update({alias.name: stmt.module for alias in stmt.names})
    return found


def test_every_public_name_is_the_class_of_its_module() -> None:
    exports = package._EXPORTS
    assert set(package.__all__) == {*exports, "__version__"}
    assert type_checking_imports() == exports, "the TYPE_CHECKING imports (for type checkers) must match _EXPORTS"
    for name, module in exports.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name), name


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import() -> None:
    try:
        package.TrafficStarsNoSuchThing  # noqa: B018
    except AttributeError as error:
        assert "TrafficStarsNoSuchThing" in str(error)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
    from airflow_provider_trafficstars.hooks import _airflow as _compat
    from airflow_provider_trafficstars.hooks import _connection as connection_fields  # submodules, not exports

    assert _compat.__name__.endswith("._airflow") and connection_fields.CONN_TYPE == "trafficstars"


_FRESH_PROCESS = """
import json, sys
import airflow_provider_trafficstars
from airflow_provider_trafficstars.get_provider_info import get_provider_info
get_provider_info()
at_start_up = sorted(m for m in sys.modules if m.split(".")[0] in ("airflow", "airflow_provider_trafficstars"))
heavy = sorted(m for m in ("requests", "httpx", "tenacity", "pendulum") if m in sys.modules)
# The sensor first: it imports the hook, which imports the package's _compat (no circular import).
from airflow_provider_trafficstars import TrafficStarsSessionSensor, TrafficStarsHook
print(json.dumps({"at_start_up": at_start_up, "heavy": heavy, "hook": TrafficStarsHook.__module__,
                  "sensor": TrafficStarsSessionSensor.__module__}))
"""


def test_airflow_start_up_imports_only_the_registration_and_names_resolve_in_a_fresh_process() -> None:
    """What Airflow pays at start-up (it imports ``get_provider_info`` from the package): no Airflow, no hook."""
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["at_start_up"] == [
        "airflow_provider_trafficstars",
        "airflow_provider_trafficstars.client",
        "airflow_provider_trafficstars.client.errors",
        "airflow_provider_trafficstars.client.http",
        "airflow_provider_trafficstars.client.http._urls",
        "airflow_provider_trafficstars.get_provider_info",
        "airflow_provider_trafficstars.hooks",
        "airflow_provider_trafficstars.hooks._connection",
    ]
    assert found["heavy"] == []
    assert found["hook"] == "airflow_provider_trafficstars.hooks.trafficstars"
    assert found["sensor"] == "airflow_provider_trafficstars.sensors.trafficstars"


def test_the_readme_lists_every_public_class_with_its_module() -> None:
    readme = (INIT.parents[1] / "README.md").read_text()
    table = readme[readme.index("Every public class can be imported from the package itself") :]
    table = table[: table.index("\n\n", table.index("| class |"))]
    listed: dict[str, str] = {}
    for row in (line for line in table.splitlines() if line.startswith("| `")):
        classes, module = row.strip("|").split("|")
        (module_name,) = re.findall(r"`([\w.]+)`", module)
        listed.update({name: module_name for name in re.findall(r"`(\w+)`", classes)})
    testing = {name for name, module in listed.items() if module == "airflow_provider_trafficstars.testing"}
    assert "TrafficStarsEmulator" in testing  # test helpers: listed, imported from .testing only
    for name in testing:
        assert hasattr(importlib.import_module(listed.pop(name)), name), name
    assert listed == package._EXPORTS
