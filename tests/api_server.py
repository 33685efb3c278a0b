"""A real ``airflow api-server`` process on a free 127.0.0.1 port, for tests that go through Airflow's REST API.

Used by the browser tests (their own home) and the forged Asset event test (the test session's home: the
server and ``dag.test()`` share one SQLite metadata DB). Airflow 3 only (``airflow api-server``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

__all__ = ["api_server"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def api_server(env: dict[str, str], log_path: Path, *, timeout: float = 90.0) -> Iterator[str]:
    """Start ``airflow api-server`` (the core API, one worker) with ``env``; yield its base URL once healthy.

    :param env: the server's environment (``AirflowHome.env(...)``; its metadata DB must be migrated).
    :param log_path: where the server's output goes (its tail is shown when it fails to start).
    :param timeout: seconds to wait for ``/api/v2/monitor/health``.
    """
    airflow = str(Path(sys.executable).parent / "airflow")
    port = _free_port()
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
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"api-server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"api-server not healthy after {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)  # a real process starting: polled, with the deadline above
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
