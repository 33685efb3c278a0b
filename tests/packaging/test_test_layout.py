"""The test suite's own rules: fixtures live in conftest files and nothing imports a conftest (shared
names come from ``tests/helpers.py``); every test directory is a package (the tests import each other by
package path, e.g. ``python -m tests.client.cache.report_process``)."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import REPO

TESTS = REPO / "tests"


def conftest_imports(source: str) -> list[str]:
    """Return the import statements of ``source`` that import a conftest module, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] + [f"{node.module or ''}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        if any(module.split(".")[-1] == "conftest" for module in modules):
            found.append(ast.get_source_segment(source, node) or ast.dump(node))
    return found


@pytest.mark.parametrize(
    "source",
    [
        "from tests.conftest import conn_json",
        "from tests.e2e.conftest import REPO",
        "from .conftest import waits",
        "from tests import conftest",
        "import conftest",
        "import tests.conftest as c",
        "def f():\n    from tests.conftest import variable\n",
    ],
)
def test_an_import_of_a_conftest_is_found(source: str) -> None:
    assert conftest_imports(source) == [source.strip().splitlines()[-1].strip()]


def test_imports_of_other_modules_are_not() -> None:
    assert conftest_imports("from tests.helpers import conn_json\nimport tests.conftest_like\n") == []


def test_no_test_module_imports_a_conftest() -> None:
    offenders = {
        str(path.relative_to(REPO)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := conftest_imports(path.read_text()))
    }
    assert not offenders, f"import shared names from tests/helpers.py, not from a conftest: {offenders}"


def test_every_test_directory_is_a_package() -> None:
    dirs = {path.parent for path in TESTS.rglob("test_*.py")}
    missing = sorted(str(d.relative_to(REPO)) for d in dirs if not (d / "__init__.py").is_file())
    assert not missing, f"add an __init__.py to: {missing}"
