"""Issue 16: one call budget per account, shared by every process (OS processes on one metadata DB).

Each worker is an OS process of its own (``python -m benchmarks.shared_budget worker``) that builds the hook
of a connection (token and budget in real Variables of the metadata DB under test), prints ``ready`` and
waits for ``go`` on stdin, so that all start at one barrier. It then reads ``calls`` days of the by-day report,
one call each, and prints one JSON line: when it started and finished, what failed, how long it waited for
budget and how often it visited the shared record. The emulator enforces the same limit per window.

``mode`` ``shared`` is the provider (the account's budget in a Variable); ``process`` is the old per-process
limiter (each process counts its own calls: a budget nobody else sees). ``scale`` shrinks the 60 s window
(and the 2 s margin) so that tests finish in seconds; the benchmark runs at scale 1 unless told otherwise.

``make bench-budget`` (``python -m benchmarks.shared_budget``) prints the table; ``benchmarks.run`` includes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, EmulatorProcess, airflow_env, conn_json, migrate, new_api_key

CONN_ID = "ts_budget"
FIRST_DAY = date(2026, 1, 1)
REPORT = "/v1.1/advertiser/custom/report/by-day"


# -- the process under test -----------------------------------------------------------------------
def worker() -> int:
    from airflow_provider_trafficstars.client.auth._token import utcnow
    from airflow_provider_trafficstars.client.cache._budget import AccountBudget
    from airflow_provider_trafficstars.client.cache._grants import BudgetRules
    from airflow_provider_trafficstars.client.cache._lease import SingleFlight
    from airflow_provider_trafficstars.client.cache._lease_record import LeaseTimings
    from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
    from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

    settings = json.loads(sys.stdin.readline())
    scale = float(settings["scale"])
    hook = TrafficStarsHook(settings.get("conn_id", CONN_ID))
    client = hook.get_conn()
    assert client.budget is not None
    rules = BudgetRules(client.config.rate_limit, 60.0 * scale, max(2.0 * scale, 0.5))
    if settings["mode"] == "process":  # the old per-process limiter: a budget that only this process counts
        client.budget = AccountBudget(MemoryTokenCache("own", {}), rules)
    else:
        client.budget.rules = rules
        if scale < 1:  # the budget lease's delays, scaled like the window (never below what a DB write takes)
            timings = LeaseTimings(jitter=0.02, settle_min=0.03, settle_max=0.3, poll=0.02)
            lease = SingleFlight(client.budget.store, clock=utcnow, sleep=time.sleep, timings=timings)
            client.budget._exclusive = lease.exclusive
    budget = client.budget
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    started = time.time()
    failed: list[str] = []
    for i in range(int(settings["calls"])):
        day = (FIRST_DAY + timedelta(days=i)).isoformat()
        try:
            client.request("GET", REPORT, params={"date_from": day, "date_to": day})
        except Exception as exc:
            failed.append(f"{type(exc).__name__}: {getattr(exc, 'status_code', '')}")
        if settings.get("hold_after") == i + 1:  # hold the rest of the grant, then wait to be killed
            print(json.dumps({"holding": time.time()}), flush=True)
            time.sleep(3600)
    finished = time.time()
    client.close()
    result = {"started": started, "finished": finished, "failed": failed, "waited": budget.waited,
              "visits": budget.visits}  # fmt: skip
    print(json.dumps(result), flush=True)
    return 0


# -- the controller -------------------------------------------------------------------------------
@dataclass
class Round:
    """What one round of processes measured."""

    calls: int
    answers_429: int
    token_requests: int
    seconds: float
    finishes: list[float]
    failed: list[str]
    visits: int
    killed_resume: float | None = None

    @property
    def spread(self) -> float:
        return max(self.finishes) - min(self.finishes) if self.finishes else 0.0


def _spawn(env: dict[str, str], settings: dict[str, Any]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.shared_budget", "worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(settings) + "\n")
    proc.stdin.flush()
    return proc


def _last_json(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """Read lines until one is a JSON object (Airflow may log before it)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        line = line.strip()
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise RuntimeError("a worker ended without a result")


def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "ready":
            return
    raise RuntimeError("a worker did not start")


def run_round(
    env: dict[str, str],
    emu_url: str,
    *,
    processes: int,
    calls: int,
    limit: int,
    scale: float,
    mode: str = "shared",
    kill_one: bool = False,
    early: float = 0.0,
    timeout: float = 900,
) -> Round:
    """Start ``processes`` workers at one barrier (plus, with ``kill_one``, one killed while it holds budget).

    ``early``: the first worker is let go that many seconds before the others (a late arrival, made certain).
    """
    window = 60.0 * scale
    # Not reset: that would revoke the token the Variable holds, and a 401 on a token obtained less than a
    # minute ago is a refusal. The counts of the round are differences; a new limit starts an empty window.
    before = EmulatorProcess.stats_of(emu_url)
    EmulatorProcess.control(emu_url, "rate_limit", {"requests": limit, "window": window})
    settings = {"scale": scale, "mode": mode, "calls": calls}
    killed_at = None
    procs = [_spawn(env, settings) for _ in range(processes)]
    try:
        for proc in procs:
            _ready(proc)
        if kill_one:  # it takes a grant alone (a quarter of the window), spends one call of it and is killed
            victim = _spawn(env, {**settings, "hold_after": 1})
            _ready(victim)
            assert victim.stdin is not None
            victim.stdin.write("go\n")
            victim.stdin.flush()
            _last_json(victim, 120)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            killed_at = time.time()
        started = time.time()
        for i, proc in enumerate(procs):
            if i == 1 and early:
                time.sleep(early)
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [_last_json(proc, timeout) for proc in procs]
        seconds = max(r["finished"] for r in results) - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stats = EmulatorProcess.stats_of(emu_url)
    calls_made = sum(stats["counts"].values()) - sum(before["counts"].values())
    return Round(
        calls=calls_made,
        answers_429=int(stats["answers_429"]) - int(before["answers_429"]),
        token_requests=int(stats["token_requests"]) - int(before["token_requests"]),
        seconds=seconds,
        finishes=[r["finished"] - started for r in results],
        failed=[f for r in results for f in r["failed"]],
        visits=sum(r["visits"] for r in results),
        killed_resume=None if killed_at is None else max(r["finished"] for r in results) - killed_at,
    )


def budget_env(home: Path, db_url: str, emu_url: str, key: str, **extra: Any) -> dict[str, str]:
    env = airflow_env(home, db_url)
    env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = conn_json(emu_url, key, **extra)
    return env


def no_contention(emu_url: str, key: str, env: dict[str, str], calls: int = 500) -> dict[str, float]:
    """One process, 500 calls, the limit out of reach: median time per call against a raw requests.Session."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.shared_budget", "solo", str(calls)],
        env=env,
        cwd=REPO,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=600,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def solo(calls: int) -> int:
    import requests

    from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

    hook = TrafficStarsHook(CONN_ID)
    client = hook.get_conn()
    token = client.token().access_token
    raw = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    params = {"date_from": "2026-01-01", "date_to": "2026-01-01"}
    ours: list[float] = []
    naive: list[float] = []
    for _ in range(calls):  # alternated, so that both see the same machine load
        t = time.perf_counter()
        client.request("GET", REPORT, params=params)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw.get(client.config.base_url + REPORT, params=params, headers=headers, timeout=30).raise_for_status()
        naive.append(time.perf_counter() - t)
    assert client.budget is not None
    m_ours, m_raw = statistics.median(ours), statistics.median(naive)
    result = {"median_ours": m_ours, "median_raw": m_raw, "ratio": m_ours / m_raw, "visits": client.budget.visits,
              "calls": calls}  # fmt: skip
    print(json.dumps(result), flush=True)
    return 0


def scenarios(work: Path, db_url: str, *, scale: float, quick: bool = False, barrier: bool = False) -> dict[str, Any]:
    """Rows (c), (d), (e) of issue 16 on one metadata DB (``db_url``); each side by side with the old limiter."""
    key = new_api_key()
    home = work / "budget"
    home.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"scale": scale}
    with EmulatorProcess(key, workdir=work) as emu:
        env = budget_env(home, db_url, emu.url, key, rate_limit=100)
        migrate(env)
        calls = 10 if quick else 40
        print("8 processes at a barrier ...", file=sys.stderr, flush=True)
        out["barrier"] = run_round(env, emu.url, processes=8, calls=calls, limit=100, scale=scale)
        if barrier:  # --barrier: row (c) only
            return out
        out["barrier_old"] = run_round(env, emu.url, processes=8, calls=calls, limit=100, scale=scale, mode="process")
        print(f"{out['barrier']}\n{out['barrier_old']}\na killed holder ...", file=sys.stderr, flush=True)
        out["killed"] = run_round(env, emu.url, processes=3, calls=30, limit=100, scale=scale, kill_one=True)
        print(f"{out['killed']}\nno contention ...", file=sys.stderr, flush=True)
        solo_env = budget_env(home, db_url, emu.url, key, rate_limit=100_000)
        EmulatorProcess.control(emu.url, "rate_limit", {})
        out["solo"] = no_contention(emu.url, key, solo_env, calls=100 if quick else 500)
    return out


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Table rows (#, scenario, measure, ours, old per-process limiter: the baseline column)."""
    b = r["barrier"]
    scale = r["scale"]
    window = 60.0 * scale
    span = window + max(2.0 * scale, 0.5)
    floor = (b.calls // 100) * span if b.calls > 100 else 0.0
    label = f"8 processes, one barrier, {b.calls} calls, 100 calls / {window:g} s" + (
        f" (window scaled x{scale:g})" if scale != 1 else ""
    )
    if "barrier_old" not in r:  # --barrier
        return [("16c", label, "answers of 429 / failed / token requests / visits",
                 f"{b.answers_429} / {len(b.failed)} / {b.token_requests} / {b.visits}", ""),
                ("16c", "", "wall time (floor: full windows to roll over)", f"{b.seconds:.1f} s (floor {floor:.1f} s)",
                 ""),
                ("16c", "", "spread first to last finish", f"{b.spread:.1f} s", "")]  # fmt: skip
    old, k, s = r["barrier_old"], r["killed"], r["solo"]
    return [
        ("16c", label, "answers of 429 / failed calls", f"{b.answers_429} / {len(b.failed)}",
         f"{old.answers_429} / {len(old.failed)}"),
        ("16c", "", "wall time (floor: full windows to roll over)", f"{b.seconds:.1f} s (floor {floor:.1f} s)",
         f"{old.seconds:.1f} s"),
        ("16c", "", "spread first to last finish", f"{b.spread:.1f} s", f"{old.spread:.1f} s"),
        ("16c", "", "token requests / visits of the shared record", f"{b.token_requests} / {b.visits}",
         f"{old.token_requests} / -"),
        ("16d", "a process SIGKILLed holding a grant; 3 others x 30 calls", "kill to the others' last call "
         f"(bound: hold + window = {window / 6 + span:.1f} s)", f"{k.killed_resume:.1f} s, {k.answers_429} x 429",
         ""),
        ("16e", f"one process, {s['calls']} calls, limit out of reach",
         "median time per call, ratio to raw requests.Session",
         f"{s['ratio']:.2f} ({s['median_ours'] * 1000:.2f} ms, {s['visits']} visits)",
         f"1.00 ({s['median_raw'] * 1000:.2f} ms)"),
    ]  # fmt: skip


def deploy_rows(d: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Rows of (a): the LocalExecutor deployment."""
    ours, naive = d["ours"], d["naive"]
    bound = 1.05 * ours["calls"] / 100 * 60 + 15
    label = f"scheduler + LocalExecutor on {d.get('db', 'PostgreSQL')}, 4 tasks x 90 days, 100 calls / 60 s"
    return [
        ("16a", label, "run state / answers of 429", f"{ours['state']} / {ours['answers_429']}",
         f"{naive['state']} / {naive['answers_429']} (rate_limit 0 = the old limiter: 90 < 100 per process)"),
        ("16a", "", f"wall time, queued to end (goal <= {bound:.0f} s)",
         f"{ours['seconds']:.1f} s ({ours['calls']} calls)",
         f"{naive['seconds']:.1f} s ({naive['calls']} calls)"),
        ("16a", "", "token requests", str(ours["token_requests"]), str(naive["token_requests"])),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deploy", action="store_true", help="only (a): a scheduler with the LocalExecutor")
    parser.add_argument("--scale", type=float, default=1.0, help="window scale (1: the real 60 s)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--barrier", action="store_true", help="only (c): 8 processes at a barrier")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    from benchmarks.common import postgres_database
    from benchmarks.run import table

    work = Path(tempfile.mkdtemp(prefix="ts-budget-"))
    if args.deploy:
        print(table(deploy_rows(local_executor_scenario(work, args.db if "--db" in sys.argv else "postgres"))))
        return
    if args.db == "postgres":
        with postgres_database() as url:
            r = scenarios(work, url, scale=args.scale, quick=args.quick, barrier=args.barrier)
    else:
        r = scenarios(work, f"sqlite:///{work}/airflow.db", scale=args.scale, quick=args.quick, barrier=args.barrier)
    print(table(rows(r)))


# -- (a) a real scheduler with the LocalExecutor --------------------------------------------------
DEPLOY_DAGS = REPO / "benchmarks" / "dags" / "ts_budget_reports.py"


def local_executor_scenario(work: Path, db: str = "postgres") -> dict[str, Any]:
    """A scheduler + LocalExecutor (+ api-server, dag-processor) on PostgreSQL (or SQLite), started and stopped here.

    Runs ``ts_budget_reports`` (4 tasks x 90 calls, the account's budget) and then ``ts_budget_reports_naive``
    (rate_limit 0: the old per-process limiter never limited 90 calls) against the emulator at 100 calls / 60 s.
    """
    from benchmarks.celery_cluster import CeleryDeployment
    from benchmarks.common import conn_json as cj
    from benchmarks.common import postgres_database

    class LocalDeployment(CeleryDeployment):
        def _sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
            if not self.db_url.startswith("sqlite:"):
                return super()._sql(query, *params)
            import sqlite3

            # The same queries in SQLite's dialect (placeholders, the seconds between two timestamps).
            query = query.replace("%s", "?").replace(
                "EXTRACT(EPOCH FROM end_date - queued_at)", "(julianday(end_date) - julianday(queued_at)) * 86400"
            )
            conn = sqlite3.connect(self.db_url.removeprefix("sqlite:///"), timeout=30)
            try:
                return list(conn.execute(query, params).fetchall())
            finally:
                conn.close()

        def start(self, dag_files: list[Path], *, migrated: bool = False, timeout: float = 300) -> dict[str, float]:
            import shutil

            started = time.perf_counter()
            (self.home / "logs").mkdir(parents=True, exist_ok=True)
            (self.home / "dags").mkdir(parents=True, exist_ok=True)
            for f in dag_files:
                shutil.copyfile(f, self.home / "dags" / f.name)
            migrate(self.env)
            self._spawn("api-server", self._airflow("api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"))
            self._spawn("scheduler", self._airflow("scheduler", "--skip-serve-logs"))
            self._spawn("dag-processor", self._airflow("dag-processor"))
            deadline = time.monotonic() + timeout
            wanted = {"ts_budget_reports", "ts_budget_reports_naive"}
            self._wait(lambda: wanted <= self._parsed(), deadline, "DAGs not parsed")
            self._cli("dags", "unpause", "-y", "--treat-dag-id-as-regex", "^ts_budget_reports")
            self._wait(self._healthy, deadline, "the api-server did not become healthy")
            return {"start": time.perf_counter() - started}

    key = new_api_key()
    home = work / "local"
    home.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"db": "SQLite" if db == "sqlite" else "PostgreSQL"}
    database = postgres_database() if db == "postgres" else contextlib.nullcontext(f"sqlite:///{home}/airflow.db")
    with EmulatorProcess(key, workdir=work) as emu, database as db_url:
        deployment = LocalDeployment(home, db_url, emu, key)
        deployment.env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
        deployment.env["AIRFLOW__CORE__PARALLELISM"] = "8"
        deployment.env["AIRFLOW_CONN_TRAFFICSTARS_DEFAULT"] = cj(emu.url, key, rate_limit=100)
        deployment.env["AIRFLOW_CONN_TRAFFICSTARS_NAIVE"] = cj(emu.url, key, rate_limit=0)
        emu.set_token_latency(0)
        try:
            out["start"] = deployment.start([DEPLOY_DAGS])
            for name, dag_id in (("ours", "ts_budget_reports"), ("naive", "ts_budget_reports_naive")):
                before = EmulatorProcess.stats_of(emu.url)
                EmulatorProcess.control(emu.url, "rate_limit", {"requests": 100, "window": 60.0})
                run = deployment.run(dag_id, timeout=900)
                after = EmulatorProcess.stats_of(emu.url)
                run["calls"] = sum(after["counts"].values()) - sum(before["counts"].values())
                run["answers_429"] = after["answers_429"] - before["answers_429"]
                run.pop("emulator", None)
                out[name] = run
                time.sleep(62)  # the next run starts on an empty window
        finally:
            deployment.stop()
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        sys.exit(worker())
    if sys.argv[1:2] == ["solo"]:
        sys.exit(solo(int(sys.argv[2])))
    main()
