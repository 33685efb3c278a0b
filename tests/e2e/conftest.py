"""A real ``airflow api-server`` (own AIRFLOW_HOME and SQLite DB) and headless Chromium, for browser tests.

Locally a browser test skips, with the reason, when Chromium or Playwright is missing; under ``CI=true``
it fails instead, so CI can never pass without having driven the browser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
from tests.api_server import api_server as start_api_server
from tests.helpers import REPO

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots land here (``build/`` is ignored by git); docs/connection-form.png is a reviewed copy.
ARTIFACTS = Path(os.environ.get("TS_E2E_ARTIFACTS", REPO / "build" / "e2e"))


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_browser_requirement() -> str | None:
    """Return why the browser tests cannot run here, or None when they can."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (Debian: apt-get install -y chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the Playwright package is not installed (pip install -e '.[browser]'; no `playwright install`)"
    return None


@pytest.fixture(scope="session")
def browser_requirements() -> None:
    """Skip (locally) or fail (``CI=true``) when Chromium or Playwright is missing."""
    reason = missing_browser_requirement()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"browser test cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def api_server(browser_requirements: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``airflow api-server`` on a free 127.0.0.1 port (its own home and DB); yield its base URL."""
    home = tmp_path_factory.mktemp("api-server-home")
    env = AirflowHome.at(home).env(
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True", AIRFLOW__CORE__TEST_CONNECTION="Enabled"
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=180)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    try:
        with start_api_server(env, home / "api-server.log") as base:
            yield base
    except RuntimeError as exc:  # it did not start: the test cannot run
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def chromium(browser_requirements: None) -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright (no ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
