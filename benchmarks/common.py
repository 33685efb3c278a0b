"""Helpers shared by the benchmark scenarios and the tests that assert their counts.

Nothing here imports Airflow: every scenario that needs a metadata DB of its own runs Airflow in
subprocesses configured by :func:`airflow_env` (a throwaway home of
:mod:`airflow_provider_trafficstars.testing._airflow_home`), so one benchmark run can use SQLite and
PostgreSQL side by side without one process's Airflow settings leaking into the next.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
from airflow_provider_trafficstars.testing._state import new_api_key as new_api_key  # for the scenarios

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
REDIS = ("127.0.0.1", 6379)


def in_ci() -> bool:
    """Return True under CI (``CI=true``): a missing service is then a failure, never a skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that a killed run still stops its processes and drops its DB."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q`` percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- Airflow in subprocesses ----------------------------------------------------------------------
def airflow_env(home: Path, db_url: str = "", **extra: str) -> dict[str, str]:
    """Return the environment of an Airflow subprocess on its own home and metadata DB.

    Inherited ``AIRFLOW_*`` settings are dropped (:meth:`AirflowHome.env`), so a developer's own
    configuration (or the test session's) never leaks in; this checkout is on ``PYTHONPATH``.

    :param home: the ``AIRFLOW_HOME`` directory (created, with its DAGs folder, where missing).
    :param db_url: the metadata DB's SQLAlchemy URL; default SQLite in ``home``.
    :param extra: more variables, e.g. ``AIRFLOW__CORE__EXECUTOR``.
    """
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    settings = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", "PYTHONPATH": python_path, **extra}
    return AirflowHome.at(home, db_url=db_url).env(**settings)


def migrate(env: dict[str, str], timeout: float = 300) -> float:
    """Create the metadata DB of ``env``; return the seconds it took."""
    started = time.perf_counter()
    code = "from airflow.utils.db import initdb; initdb()"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr[-3000:]}")
    return time.perf_counter() - started


def conn_json(url: str, api_key: str, **extra: Any) -> str:
    body: dict[str, Any] = {"conn_type": "trafficstars", "host": url, "password": api_key}
    if extra:
        body["extra"] = extra
    return json.dumps(body)


# -- PostgreSQL -----------------------------------------------------------------------------------
def postgres_problem() -> str | None:
    """Return why PostgreSQL cannot be used here, or None when it can."""
    if not port_open(PG_ADMIN["host"], int(PG_ADMIN["port"])):
        return "no PostgreSQL server on 127.0.0.1:5432"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (pip install -e '.[distributed]')"
    return None


def _pg_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(**PG_ADMIN, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@contextlib.contextmanager
def postgres_database(prefix: str = "ts_bench") -> Iterator[str]:
    """Create a throwaway database, yield its SQLAlchemy URL, and drop it afterwards (even on errors)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{PG_ADMIN['user']}@{PG_ADMIN['host']}:{PG_ADMIN['port']}/{name}"
    finally:
        drop_postgres_database(name)


def postgres_conn_json(url: str) -> str:
    """Return the ``AIRFLOW_CONN_...`` JSON of a ``postgres`` connection to the database at SQLAlchemy ``url``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parts.hostname,
            "port": parts.port or 5432,
            "login": parts.username,
            "schema": parts.path.lstrip("/"),
        }
    )


def drop_postgres_database(name: str) -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- processes ------------------------------------------------------------------------------------
def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group(proc: subprocess.Popen[Any] | int, grace: float = 5.0) -> None:
    """End the process group of ``proc`` (started with ``start_new_session=True``): TERM, then KILL."""
    pgid = proc if isinstance(proc, int) else proc.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not isinstance(proc, int):
            proc.poll()  # reap the leader, or as a zombie it keeps the group alive
        if not _group_alive(pgid):
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    if not isinstance(proc, int):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)


class EmulatorProcess:
    """The emulator CLI in a process of its own, reachable by every Airflow process of a scenario."""

    def __init__(self, api_key: str, *, campaigns: int = 3, workdir: Path) -> None:
        port_file = workdir / f"emulator-{secrets.token_hex(4)}.port"
        cmd = [
            sys.executable,
            "-m",
            "airflow_provider_trafficstars.testing.emulator",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--api-key",
            api_key,
            "--campaigns",
            str(campaigns),
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=REPO
        )
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"

    @staticmethod
    def control(url: str, name: str, body: dict[str, Any] | None = None) -> Any:
        """Call a control endpoint (``/_emulator/<name>``) of the emulator at ``url``."""
        data = None if body is None else json.dumps(body).encode()
        method = "GET" if data is None else "POST"
        with urllib.request.urlopen(
            urllib.request.Request(f"{url}/_emulator/{name}", data, method=method), timeout=10
        ) as resp:
            return json.loads(resp.read() or b"null")

    @classmethod
    def stats_of(cls, url: str) -> dict[str, Any]:
        result: dict[str, Any] = cls.control(url, "stats")
        return result

    def stats(self) -> dict[str, Any]:
        return self.stats_of(self.url)

    def token_requests(self) -> int:
        return int(self.stats()["token_requests"])

    def reset(self) -> None:
        self.control(self.url, "reset", {})

    def set_token_latency(self, seconds: float) -> None:
        """Make every token request take this long (the real endpoint is no local loopback call)."""
        self.control(self.url, "latency", {"seconds": seconds, "path": "/v1/auth/token"})

    def stop(self) -> None:
        kill_group(self.proc)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
