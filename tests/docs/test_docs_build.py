"""``make docs`` as ``make test`` runs it: the site builds with warnings as errors and every reference resolved.

Skipped, with the reason, where the ``docs`` extra is not installed (the version matrix's older legs install
``.[test]`` only); ``make test`` installs it on the default Airflow version, and fails here under ``CI=true``
without it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_trafficstars import __version__

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def sphinx_or_skip() -> None:
    try:
        import furo  # noqa: F401
        import myst_parser  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as exc:
        reason = f"the docs extra is not installed ({exc.name}): pip install -e '.[docs]'"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"} and sys.version_info[:2] == (3, 11):
            import airflow

            if airflow.__version__ == "3.3.2":  # the default version, where `make test` installs the extra
                pytest.fail(reason)
        pytest.skip(reason)


def test_the_site_builds_with_no_warning_and_every_page(tmp_path: Path) -> None:
    sphinx_or_skip()
    out = tmp_path / "html"
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow-home")}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-q", "docs", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0 and not warnings, "\n".join(warnings) or result.stderr[-3000:]
    sources = sorted(p.relative_to(REPO / "docs").with_suffix(".html") for p in (REPO / "docs").rglob("*.md"))
    built = {p.relative_to(out) for p in out.rglob("*.html")}
    assert set(sources) <= built, set(sources) - built
    assert len(sources) >= 20
    index = (out / "index.html").read_text()
    assert __version__ in index
    # The API reference was generated from the docstrings (autodoc imported the public modules).
    api = (out / "api.html").read_text()
    for name in ("TrafficStarsHook", "TrafficStarsReportToStorageOperator", "TrafficStarsGuardError", "AccessToken"):
        assert re.search(rf'id="[\w.]+\.{name}"', api), name
    # The how-to guides show the example DAGs' code, and the changelog page is CHANGELOG.md.
    assert "TrafficStarsBalanceSensor" in (out / "howto" / "balance-sensor.html").read_text()
    assert "Keep a Changelog" in (out / "changelog.html").read_text()
    assert (out / "_static" / "token-cache.svg").is_file()
