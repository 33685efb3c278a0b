"""A real ``airflow api-server`` (own AIRFLOW_HOME and SQLite DB) and headless Chromium, for browser tests.

Locally a browser test skips, with the reason, when Chromium or Playwright is missing; under ``CI=true``
it fails instead, so CI can never pass without having driven the browser.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_trafficstars.testing.airflow_home import AirflowHome

REPO = Path(__file__).resolve().parents[2]
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def api_server(browser_requirements: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``airflow api-server`` on a free 127.0.0.1 port; yield its base URL."""
    home = tmp_path_factory.mktemp("api-server-home")
    env = AirflowHome.at(home).env(
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True", AIRFLOW__CORE__TEST_CONNECTION="Enabled"
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=180)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]

    port = _free_port()
    log_path = home / "api-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [airflow, "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1", "--apps", "core"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop uvicorn and its worker together
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"api-server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server not healthy after 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield base
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


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


def copy_if_requested(source: Path, target: Path) -> None:
    """Refresh a committed copy of an artifact when ``TS_E2E_UPDATE_DOCS=1`` (keeps git clean otherwise)."""
    if os.environ.get("TS_E2E_UPDATE_DOCS") == "1":
        shutil.copyfile(source, target)
