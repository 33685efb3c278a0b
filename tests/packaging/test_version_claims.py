"""The Airflow versions ``pyproject.toml`` claims are exactly the ones the version matrix and CI run.

A new Airflow line, or a lower bound moved down, fails here until the matrix (``scripts/matrix.sh``),
CI (``.ci/run``), a constraints file and the compatibility tables cover it.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.helpers import REPO

tomllib = pytest.importorskip("tomllib", reason="reads pyproject.toml with Python 3.11+'s tomllib")


def _words_of(path: str, pattern: str) -> list[str]:
    match = re.search(pattern, (REPO / path).read_text(), re.MULTILINE)
    assert match, f"{pattern!r} not found in {path}"
    return match.group(1).split()


def dependency_specifier(name: str) -> SpecifierSet:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (spec,) = [Requirement(d).specifier for d in project["dependencies"] if Requirement(d).name == name]
    return spec


def airflow_specifier() -> SpecifierSet:
    return dependency_specifier("apache-airflow")


def pinned_version(constraints: Path, name: str) -> Version:
    (pin,) = re.findall(rf"^{re.escape(name)}==(\S+)$", constraints.read_text(), re.MULTILINE)
    return Version(pin)


def default_version() -> str:
    (version,) = _words_of("Makefile", r"^AIRFLOW_VERSION \?= (\S+)$")
    return version


def matrix_versions() -> list[str]:
    return _words_of("scripts/matrix.sh", r'^DEFAULT_VERSIONS="([^"]+)"$')


def ci_versions() -> list[str]:
    return _words_of(".ci/run", r'make test-matrix MATRIX_VERSIONS="([^"]+)"')


# Airflow 2's last minor line; 3.x lines are bounded by the specifier's upper bound.
LAST_MINOR = {2: 11}


def admitted(spec: SpecifierSet, major: int, minor: int) -> list[Version]:
    """Every version of one minor line the specifier admits (patch numbers up to 30, released or not)."""
    if minor > LAST_MINOR.get(major, minor):
        return []
    return [v for v in (Version(f"{major}.{minor}.{patch}") for patch in range(31)) if v in spec]


def test_the_default_version_is_in_the_matrix_and_every_matrix_version_is_claimed() -> None:
    spec = airflow_specifier()
    versions = matrix_versions()
    assert default_version() in versions
    for version in versions:
        assert Version(version) in spec, f"the matrix runs {version}, which pyproject.toml does not claim"


def test_every_claimed_minor_line_is_tested_and_a_floor_inside_a_line_from_that_release() -> None:
    """A line claimed from x.y.0 stands on its tested release; a floor at x.y.z (3.0.6) is a fix to prove."""
    spec = airflow_specifier()
    tested = sorted(Version(v) for v in matrix_versions())
    newest = (tested[-1].major, tested[-1].minor)
    # No upper bound (as the official providers): lines after the newest tested one are not a claim of ours.
    lines = [(major, minor) for major in (2, 3) for minor in range(20) if (major, minor) <= newest]
    claimed_lines = {line for line in lines if admitted(spec, *line)}
    assert claimed_lines == {(v.major, v.minor) for v in tested}, "one matrix version per claimed minor line"
    for major in {v.major for v in tested}:
        oldest_claimed = min(v for minor in range(20) for v in admitted(spec, major, minor))
        if oldest_claimed.micro:
            assert oldest_claimed == min(v for v in tested if v.major == major), (
                f"pyproject.toml claims Airflow {oldest_claimed}, older than any {major}.x the matrix runs"
            )


def test_apache_airflow_has_no_upper_bound_like_the_official_providers() -> None:
    """An upper bound would make pip refuse the next Airflow for every user; the matrix says what is tested."""
    assert not [s for s in airflow_specifier() if s.operator in ("<", "<=", "~=", "==", "===")]


def test_the_only_python_classifier_is_the_interpreter_every_test_run_uses() -> None:
    classifiers = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["classifiers"]
    python = re.compile(r"Programming Language :: Python :: (3\.\d+)")
    versions = [m.group(1) for m in map(python.fullmatch, classifiers) if m]
    assert versions == ["3.11"]
    assert all(f"-py{versions[0]}.txt" in c.name for c in (REPO / "constraints").glob("airflow-*.txt"))


def test_every_constraints_file_pins_a_common_compat_release_the_package_claims() -> None:
    """The task-facing imports come from common-compat's sdk module: each leg must install a release that has it."""
    claimed = dependency_specifier("apache-airflow-providers-common-compat")
    assert claimed, "pyproject.toml must bound apache-airflow-providers-common-compat from below"
    for version in matrix_versions():
        constraints = REPO / "constraints" / f"airflow-{version}-py3.11.txt"
        pin = pinned_version(constraints, "apache-airflow-providers-common-compat")
        assert pin in claimed, f"{constraints.name} pins common-compat {pin}, outside {claimed}"


def test_ci_runs_the_whole_matrix() -> None:
    assert sorted([default_version(), *ci_versions()]) == sorted(matrix_versions())


def test_every_matrix_version_is_pinned_and_listed_in_the_compatibility_tables() -> None:
    readme = (REPO / "README.md").read_text()
    compatibility = (REPO / "docs" / "compatibility.md").read_text()
    for version in matrix_versions():
        assert (REPO / "constraints" / f"airflow-{version}-py3.11.txt").is_file(), f"no constraints for {version}"
        assert f"| {version} |" in compatibility, f"docs/compatibility.md has no row for {version}"
        minor = ".".join(version.split(".")[:2])
        assert re.search(rf"^\| {re.escape(minor)}\b", readme, re.MULTILINE), f"README has no row for {minor}"


@pytest.mark.parametrize("version", ["3.0.0", "3.0.4", "3.0.5"])
def test_a_3_0_release_before_3_0_6_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """pip keeps them out; an install that bypassed it gets a clear error instead of an obscure one."""
    import airflow

    from airflow_provider_trafficstars.hooks import _airflow as _compat

    assert Version(version) not in airflow_specifier()
    monkeypatch.setattr(airflow, "__version__", version)
    with pytest.raises(ImportError, match=rf"Airflow 3\.0\.6 or later .*found {re.escape(version)}.*not masked"):
        runpy.run_path(_compat.__file__)
