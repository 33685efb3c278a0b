"""Scenario 4: a real distributed Airflow deployment (CeleryExecutor, Redis broker, PostgreSQL metadata DB).

The api-server (which also serves the execution API the workers talk to), scheduler, dag-processor,
triggerer and two Celery workers (concurrency 8 each) run as separate processes, each in a process group
of its own that :meth:`CeleryDeployment.stop` ends. The DAGs: the report ETL example (its ``@daily``
schedule starts the first run once the test unpauses it; the second is triggered through the REST API
with no logical date), the report-load example that the scheduler starts from the ETL's Asset events
(loading into a PostgreSQL database of its own), and a burst of 32 report tasks. Each ETL or burst run
starts with a stale token in the cache Variable; the emulator counts the token requests.

``python -m benchmarks.celery_cluster`` runs the whole scenario once and prints its figures as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.common import (
    REDIS,
    REPO,
    EmulatorProcess,
    airflow_env,
    conn_json,
    exit_on_sigterm,
    free_port,
    kill_group,
    migrate,
    new_api_key,
    port_open,
    postgres_conn_json,
    postgres_database,
    postgres_problem,
)

EXAMPLE_DAGS = [
    REPO / "example_dags" / "example_trafficstars_report_etl.py",
    REPO / "example_dags" / "example_trafficstars_report_load.py",
]
BURST_DAGS = REPO / "tests" / "distributed" / "dags" / "ts_report_burst.py"
ACCOUNTS_DAG = REPO / "example_dags" / "example_trafficstars_accounts.py"
ETL, LOAD, BURST, BURST_NAIVE, ACCOUNTS = (
    "example_trafficstars_report_etl",
    "example_trafficstars_report_load",
    "ts_report_burst",
    "ts_report_burst_naive",
    "example_trafficstars_accounts",
)
DAG_IDS = {
    EXAMPLE_DAGS[0]: [ETL],
    EXAMPLE_DAGS[1]: [LOAD],
    BURST_DAGS: [BURST, BURST_NAIVE],
    ACCOUNTS_DAG: [ACCOUNTS],
}
#: The tasks that call TrafficStars (a naive integration takes one token for each).
API_TASKS = ("refresh_token", "advertiser_by_day", "advertiser_by_campaign", "advertiser_by_country", "campaigns",
             "fetch_report", "export_by_campaign")  # fmt: skip
BURST_CONN_ID = "trafficstars_burst"  # the burst DAG's connection: its own emulator when given one
NAIVE_CONN_ID = "trafficstars_naive"  # the same API key with single_flight off
WAREHOUSE_CONN_ID = "trafficstars_warehouse"  # where the report-load example loads (a PostgreSQL database)
LOGICAL_DATE = "2026-11-26T00:00:00+00:00"

# Seeds the cache with an expired token of the right connection (fingerprint) and no lease, then runs
# `airflow dags trigger ...` in the same interpreter (one Airflow start-up instead of two).
_SEED_AND_TRIGGER = """
import sys
import pendulum
from airflow.models import Variable
from airflow_provider_trafficstars.hooks.trafficstars import default_token_variable
from airflow_provider_trafficstars.client.auth._token import AccessToken, fingerprint
from airflow_provider_trafficstars.client.cache._record import LEASE_SUFFIX
url, key, conn_id = sys.argv[1:4]
var = default_token_variable(conn_id)
now = pendulum.now("UTC")
fp = fingerprint(url, key)
stale = AccessToken("stale-" + "0" * 40, "Bearer", now.subtract(hours=11), now.subtract(minutes=5), fp)
Variable.set(var, stale.to_record())
Variable.delete(var + LEASE_SUFFIX)
sys.argv = ["airflow", *sys.argv[4:]]
from airflow.__main__ import main
main()
"""


#: How long each token request takes in this scenario: an OAuth round trip over the internet, not loopback.
#: It widens the window in which other tasks find the token stale while one renews it.
TOKEN_LATENCY = 0.3


def services_problem() -> str | None:
    """Return why the deployment cannot run here, or None when it can."""
    problem = postgres_problem()
    if problem:
        return problem
    if not port_open(*REDIS):
        return "no Redis server on 127.0.0.1:6379"
    try:
        import airflow.providers.celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        return "apache-airflow-providers-celery is not installed (pip install -e '.[distributed]')"
    return None


class CeleryDeployment:
    """Airflow with the CeleryExecutor on the metadata DB ``db_url``, in ``home``."""

    def __init__(
        self,
        home: Path,
        db_url: str,
        emulator: EmulatorProcess,
        api_key: str,
        burst_emulator: EmulatorProcess | None = None,
        warehouse_url: str | None = None,
        burst_limit: int | None = None,
    ) -> None:
        """``burst_limit``: calls per 60 s the burst's emulator enforces, and the burst connection's budget
        (``rate_limit``: the account's limit, all workers together)."""
        self.home, self.db_url, self.emulator, self.api_key = home, db_url, emulator, api_key
        self.warehouse_url = warehouse_url
        # Runs on different emulators can run at the same time and still be counted apart.
        self.burst_emulator = burst_emulator or emulator
        for emu in {id(e): e for e in (self.emulator, self.burst_emulator)}.values():
            emu.set_token_latency(TOKEN_LATENCY)
        if burst_limit is not None:
            EmulatorProcess.control(self.burst_emulator.url, "rate_limit", {"requests": burst_limit, "window": 60.0})
        self.port = free_port()
        self.queue = f"ts_bench_{secrets.token_hex(4)}"
        self.redis_db = 8 + secrets.randbelow(8)
        self.env = airflow_env(
            home,
            db_url,
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",  # the workers say "ready." at INFO
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.port}/execution/",
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{self.port}",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
            AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
            AIRFLOW__CELERY__BROKER_URL=f"redis://{REDIS[0]}:{REDIS[1]}/{self.redis_db}",
            AIRFLOW__CELERY__RESULT_BACKEND=f"db+{db_url}",  # keeps +psycopg2: SQLAlchemy 2.1 defaults to psycopg 3
            AIRFLOW__CELERY__WORKER_CONCURRENCY="8",
            AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER="1",
            AIRFLOW__OPERATORS__DEFAULT_QUEUE=self.queue,  # other Redis users never see our tasks
            # On, for the load DAG's Asset-triggered runs: the ETL (@daily) stays paused until a test unpauses it.
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",  # REST API triggers without a login
            AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="0.2",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="3",
            AIRFLOW__CORE__PARALLELISM="32",
            AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="32",
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW_CONN_TRAFFICSTARS_DEFAULT=conn_json(emulator.url, api_key),
            AIRFLOW_CONN_TRAFFICSTARS_NAIVE=conn_json(emulator.url, api_key, single_flight=False),
            AIRFLOW_CONN_TRAFFICSTARS_BURST=conn_json(
                self.burst_emulator.url, api_key, **({} if burst_limit is None else {"rate_limit": burst_limit})
            ),
            # The report ETL writes to this machine's file system (both workers share it).
            TRAFFICSTARS_REPORT_BASE_URL=f"file://{home}/reports",
        )
        if warehouse_url:
            self.env["AIRFLOW_CONN_" + WAREHOUSE_CONN_ID.upper()] = postgres_conn_json(warehouse_url)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pgids_file = home / "pgids"

    # -- lifecycle ------------------------------------------------------------------------------
    def _airflow(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "airflow"), *args]

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = (self.home / "logs" / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            cmd, env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        # Written as they start, so that whoever started us can end them even if we are killed.
        with self.pgids_file.open("a") as f:
            f.write(f"{self.procs[name].pid}\n")

    def start(self, dag_files: list[Path], *, migrated: bool = False, timeout: float = 180) -> dict[str, float]:
        """Migrate (unless ``migrated``), start every component, wait for the DAGs and both workers."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        dags = self.home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        for dag_file in dag_files:
            shutil.copyfile(dag_file, dags / dag_file.name)
        timings["migrate"] = 0.0 if migrated else migrate(self.env)
        self._spawn("api-server", self._airflow("api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"))
        self._spawn("scheduler", self._airflow("scheduler", "--skip-serve-logs"))
        self._spawn("dag-processor", self._airflow("dag-processor"))
        self._spawn("triggerer", self._airflow("triggerer", "--skip-serve-logs"))
        for n in (1, 2):
            worker = ["celery", "worker", "-c", "8", "-q", self.queue, "-H", f"{self.queue}_w{n}@%h"]
            self._spawn(
                f"worker{n}", self._airflow(*worker, "--skip-serve-logs", "--without-gossip", "--without-mingle")
            )
        deadline = time.monotonic() + timeout
        wanted = {dag_id for f in dag_files for dag_id in DAG_IDS[f]}
        self._wait(lambda: wanted <= self._parsed(), deadline, f"DAGs not parsed: {sorted(wanted)}")
        # Unpaused once for all runs, while the workers start; not the scheduled DAGs, whose schedule would
        # start a run at once (start_scheduled_run unpauses the ETL once its token is seeded).
        unpause = sorted(wanted - {ETL, ACCOUNTS})
        self._cli("dags", "unpause", "--treat-dag-id-as-regex", "-y", "^(" + "|".join(unpause) + ")$")
        self._wait(lambda: self._healthy(), deadline, "the api-server did not become healthy")
        self._wait(lambda: all(self._log_has(f"worker{n}", b" ready.") for n in (1, 2)), deadline, "workers")
        timings["start"] = time.perf_counter() - started
        return timings

    def _wait(self, ready: Any, deadline: float, what: str) -> None:
        while not ready():
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}); see {self.home}/logs/{name}.log")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} (logs in {self.home}/logs)")
            time.sleep(0.5)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def _log_has(self, name: str, marker: bytes) -> bool:
        path = self.home / "logs" / f"{name}.log"
        return path.exists() and marker in path.read_bytes()

    def _sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg2

        conn = psycopg2.connect(self.db_url.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def _parsed(self) -> set[str]:
        try:
            return {row[0] for row in self._sql("SELECT dag_id FROM serialized_dag")}
        except Exception:  # tables still being created, or the DB is busy: try again
            return set()

    def stop(self) -> None:
        """End every component's process group, then forget our Redis queue."""
        for proc in self.procs.values():  # all at once: they shut down in parallel
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3  # the database is dropped next: no need for a graceful end
        for proc in self.procs.values():
            kill_group(proc, grace=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis(host=REDIS[0], port=REDIS[1], db=self.redis_db, socket_timeout=5)
            for key in client.scan_iter(match=f"*{self.queue}*"):
                client.delete(key)
            # Messages of tasks still running when the workers were ended stay "unacked" (acks_late).
            for tag, message in client.hgetall("unacked").items():
                if self.queue.encode() in message:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)

    # -- runs -----------------------------------------------------------------------------------
    def _cli(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            self._airflow(*args), env=self.env, cwd=self.home, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def _seed_and_run(self, conn_id: str, *command: str) -> None:
        """Seed a stale token in the cache Variable of ``conn_id``, then run ``airflow <command>``."""
        url = self.burst_emulator.url if conn_id == BURST_CONN_ID else self.emulator.url
        cmd = [sys.executable, "-c", _SEED_AND_TRIGGER, url, self.api_key, conn_id, *command]
        result = subprocess.run(cmd, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"seeding the stale token or triggering failed: {result.stderr[-2000:]}")

    def start_run(self, dag_id: str) -> dict[str, Any]:
        """Seed a stale token in the Variable of ``dag_id``'s connection and trigger a run of it."""
        conn_id = {BURST: BURST_CONN_ID, BURST_NAIVE: NAIVE_CONN_ID}.get(dag_id, "trafficstars_default")
        emulator = self.burst_emulator if conn_id == BURST_CONN_ID else self.emulator
        handle = {"dag_id": dag_id, "run_id": f"bench_{secrets.token_hex(4)}", "emulator": emulator}
        handle["before"] = emulator.token_requests()
        handle["before_429"] = int(emulator.stats()["answers_429"])
        self._seed_and_run(conn_id, "dags", "trigger", dag_id, "-r", handle["run_id"], "-l", LOGICAL_DATE)
        return handle

    def start_scheduled_run(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Seed a stale token, unpause ``dag_id`` and return the handle of the run its schedule starts."""
        before = self.emulator.token_requests()
        self._seed_and_run("trafficstars_default", "dags", "unpause", dag_id)
        run_id = self._next_run(dag_id, "scheduled", set(), timeout)
        return {"dag_id": dag_id, "run_id": run_id, "emulator": self.emulator, "before": before}

    def trigger_without_date(self, dag_id: str) -> dict[str, Any]:
        """Trigger ``dag_id`` through the REST API with ``"logical_date": null``, as a user or a tool does."""
        base = f"http://127.0.0.1:{self.port}"
        with urllib.request.urlopen(f"{base}/auth/token", timeout=30) as resp:  # all admins: no credentials
            token = json.loads(resp.read())["access_token"]
        run_id = f"bench_{secrets.token_hex(4)}"
        request = urllib.request.Request(
            f"{base}/api/v2/dags/{dag_id}/dagRuns",
            data=json.dumps({"dag_run_id": run_id, "logical_date": None}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        before = self.emulator.token_requests()
        with urllib.request.urlopen(request, timeout=30) as resp:
            body = json.loads(resp.read())
        if body.get("logical_date") is not None:
            raise RuntimeError(f"the REST API gave the run a logical date: {body.get('logical_date')}")
        return {"dag_id": dag_id, "run_id": run_id, "emulator": self.emulator, "before": before}

    def trigger_with_conf(self, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """Trigger ``dag_id`` with ``conf`` and no logical date (a paused DAG's run waits until it is unpaused)."""
        run_id = f"bench_{secrets.token_hex(4)}"
        self._cli("dags", "trigger", dag_id, "-r", run_id, "-c", json.dumps(conf))
        return {"dag_id": dag_id, "run_id": run_id, "emulator": self.emulator, "before": self.emulator.token_requests()}

    def unpause_scheduled(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Unpause ``dag_id`` and return the handle of the run its schedule then starts."""
        self._cli("dags", "unpause", dag_id)
        run_id = self._next_run(dag_id, "scheduled", set(), timeout)
        return {"dag_id": dag_id, "run_id": run_id, "emulator": self.emulator, "before": self.emulator.token_requests()}

    def next_asset_triggered_run(self, dag_id: str, seen: set[str], timeout: float = 120) -> dict[str, Any]:
        """Return the handle of ``dag_id``'s next Asset-triggered run (one whose id is not in ``seen``)."""
        run_id = self._next_run(dag_id, "asset_triggered", seen, timeout)
        return {"dag_id": dag_id, "run_id": run_id, "emulator": self.emulator, "before": self.emulator.token_requests()}

    def _next_run(self, dag_id: str, run_type: str, seen: set[str], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            rows = self._sql(
                "SELECT run_id FROM dag_run WHERE dag_id = %s AND run_type = %s ORDER BY id", dag_id, run_type
            )
            new = [row[0] for row in rows if row[0] not in seen]
            if new:
                return str(new[0])
            if time.monotonic() > deadline:
                raise TimeoutError(f"no new {run_type} run of {dag_id} in {timeout:.0f} s (logs in {self.home}/logs)")
            time.sleep(0.5)

    def warehouse_tables(self) -> dict[str, dict[str, int]]:
        """Return ``{table: {"rows", "keys", "days"}}`` of the report-load example's PostgreSQL tables."""
        import psycopg2

        assert self.warehouse_url, "no warehouse database was given"
        keys = {
            "trafficstars_advertiser_by_day": "day",
            "trafficstars_advertiser_by_campaign": "day, campaign_id",
            "trafficstars_advertiser_by_country": "day, country",
            "trafficstars_campaigns": "day, id",
        }
        conn = psycopg2.connect(
            self.warehouse_url.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=10
        )
        try:
            with conn.cursor() as cur:
                out = {}
                for table, key in keys.items():
                    cur.execute(f"SELECT count(*), count(DISTINCT ({key})), count(DISTINCT day) FROM {table}")
                    rows, distinct, days = cur.fetchone()
                    out[table] = {"rows": rows, "keys": distinct, "days": days}
                return out
        finally:
            conn.close()

    def warehouse_rows(self, query: str) -> list[tuple[Any, ...]]:
        """Return the rows of ``query`` on the warehouse database."""
        import psycopg2

        assert self.warehouse_url, "no warehouse database was given"
        conn = psycopg2.connect(
            self.warehouse_url.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=10
        )
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                return list(cur.fetchall())
        finally:
            conn.close()

    def wait_run(self, handle: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        """Wait for a run started by :meth:`start_run`; return its state, token requests and wall time."""
        dag_id, run_id = handle["dag_id"], handle["run_id"]
        deadline = time.monotonic() + timeout
        while True:
            rows = self._sql(
                "SELECT state, EXTRACT(EPOCH FROM end_date - queued_at) FROM dag_run WHERE dag_id = %s AND run_id = %s",
                dag_id,
                run_id,
            )
            if rows and rows[0][0] in ("success", "failed"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} run {run_id} did not finish in {timeout:.0f} s (state {rows})")
            time.sleep(0.5)
        tasks = dict(
            self._sql(
                "SELECT task_id, count(*) FROM task_instance WHERE dag_id = %s AND run_id = %s AND state = 'success' "
                "GROUP BY task_id",
                dag_id,
                run_id,
            )
        )
        return {
            "dag_id": dag_id,
            "run_id": run_id,
            "state": rows[0][0],
            "token_requests": handle["emulator"].token_requests() - handle["before"],
            "answers_429": int(handle["emulator"].stats()["answers_429"]) - handle.get("before_429", 0),
            "seconds": float(rows[0][1]),
            "tasks": sum(tasks.values()),
            # What a naive integration (a token per task) would cost: one per task that calls the API.
            "api_tasks": sum(n for task, n in tasks.items() if task in API_TASKS),
        }

    def run(self, dag_id: str, timeout: float = 300) -> dict[str, Any]:
        """Seed a stale token, trigger ``dag_id`` and wait for its run."""
        return self.wait_run(self.start_run(dag_id), timeout)


def report_etl_rounds(deployment: CeleryDeployment) -> dict[str, Any]:
    """Run the report ETL twice and let the scheduler start the load DAG after each; return what happened.

    The first ETL run is the one its ``@daily`` schedule starts (with a stale token in the cache), the
    second is triggered through the REST API with no logical date. Each updates the ETL's Assets, and the
    scheduler starts the load DAG from those events; the warehouse tables are read after each load.
    """
    etl = deployment.wait_run(deployment.start_scheduled_run(ETL))
    load = deployment.wait_run(deployment.next_asset_triggered_run(LOAD, set()))
    tables = deployment.warehouse_tables()
    etl_again = deployment.wait_run(deployment.trigger_without_date(ETL))
    load_again = deployment.wait_run(deployment.next_asset_triggered_run(LOAD, {load["run_id"]}))
    return {
        "runs": [etl, load, etl_again, load_again],
        "tables": tables,
        "tables_again": deployment.warehouse_tables(),
    }


def run_scenario(workdir: Path, *, naive_burst: bool = True) -> dict[str, Any]:
    """Start a deployment on a fresh PostgreSQL database, run the DAGs, tear everything down."""
    api_key = new_api_key()
    home = workdir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    with (
        EmulatorProcess(api_key, campaigns=32, workdir=workdir) as emu,
        postgres_database() as db_url,
        postgres_database("ts_warehouse") as warehouse_url,
    ):
        # The account's limit enforced (100 calls / 60 s, every connection's budget): runs count their 429s.
        deployment = CeleryDeployment(home, db_url, emu, api_key, warehouse_url=warehouse_url, burst_limit=100)
        try:
            result: dict[str, Any] = {"timings": deployment.start([*EXAMPLE_DAGS, BURST_DAGS])}
            result.update(report_etl_rounds(deployment))
            result["runs"].append(deployment.run(BURST))
            if naive_burst:
                result["runs"].append(deployment.run(BURST_NAIVE))
            return result
        finally:
            deployment.stop()


def main() -> None:
    import tempfile

    exit_on_sigterm()
    problem = services_problem()
    if problem:
        sys.exit(f"cannot run the distributed scenario: {problem}")
    workdir = Path(tempfile.mkdtemp(prefix="ts-celery-"))
    try:
        print(json.dumps(run_scenario(workdir)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
