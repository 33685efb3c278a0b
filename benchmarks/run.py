"""Run every benchmark scenario against the emulator and print one table: our figure next to a naive baseline.

``make bench`` (or ``python -m benchmarks.run``) from the repository root. Scenarios 3 (PostgreSQL) and
4 need PostgreSQL and Redis on 127.0.0.1 and the ``distributed`` extra; without them those rows say why
they were skipped. ``--quick`` runs fewer rounds (for a smoke check, not for RESULTS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
from benchmarks import import_cost, shared_budget
from benchmarks.celery_cluster import run_scenario, services_problem
from benchmarks.common import (
    REPO,
    EmulatorProcess,
    airflow_env,
    exit_on_sigterm,
    migrate,
    new_api_key,
    postgres_database,
    postgres_problem,
)
from benchmarks.contention import LEASE_CONN, NAIVE_CONN, ContentionPool, summarize

Row = tuple[str, str, str, str, str]


def machine() -> str:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {mem_kb / 1024**2:.0f} GiB memory, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, load average {load}"
    )


def dag_scenarios(work: Path, key: str) -> dict[str, Any]:
    """Scenarios 1 and 2 in a process of their own, on a fresh SQLite DB."""
    home = work / "dagtest"
    home.mkdir()
    out = home / "result.json"
    with EmulatorProcess(key, workdir=work) as emu:
        env = airflow_env(home)
        cmd = [sys.executable, "-m", "benchmarks.dag_runs", emu.url, key, str(out)]
        subprocess.run(cmd, env=env, cwd=REPO, check=True, timeout=1800, capture_output=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def report_scenarios(work: Path) -> dict[str, Any]:
    """Scenarios 6 and 7 in a process of their own, on a fresh SQLite DB (about 4 minutes: the rate limit)."""
    home = work / "reports"
    home.mkdir()
    out = home / "result.json"
    env = airflow_env(home, f"sqlite:///{home}/airflow.db")
    cmd = [sys.executable, "-m", "benchmarks.report_runs", str(out)]
    subprocess.run(cmd, env=env, cwd=REPO, check=True, timeout=1800, capture_output=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def report_rows(r: dict[str, Any]) -> list[Row]:
    """The table rows of scenarios 6 and 7, with the goals of issue 11 checked."""
    ours, naive, mem = r["backfill"], r["naive"], r["memory"]
    calls_per_s = r["rate"][0] / r["rate"][1]
    bound = 1.15 * ours["calls"] / calls_per_s + 5
    failed = ours["tasks"].get("failed", 0) + ours["tasks"].get("upstream_failed", 0)
    naive_failed = naive["tasks"].get("failed", 0) + naive["tasks"].get("upstream_failed", 0)
    label = f"{r['days']}-day backfill, by-campaign + by-country + by-day, {r['rate'][0]} calls/{r['rate'][1]:.0f} s"
    by_path = ", ".join(f"{k} {v}" for k, v in sorted(ours["by_path"].items()))
    rows: list[Row] = [
        ("6", label, "failed tasks / answers of 429", f"{failed} / {ours['answers_429']}",
         f"{naive_failed} / {naive['answers_429']}"),
        ("6", f"(emulator: {r['campaigns']} campaigns)", "API calls (token requests included)",
         f"{ours['calls']} ({by_path})", f"{naive['calls']} (one per campaign per day, by-campaign only)"),
        ("6", "", "wall time (goal: <= 1.15 x calls / rate + 5 s)",
         f"{ours['seconds']:.1f} s (goal {bound:.1f} s)", f"{naive['seconds']:.1f} s"),
    ]  # fmt: skip
    for task, what in (("by_day_366_days", "366-day by-day export"), ("by_spot_10000_rows", "10 000-row by-spot day")):
        m = mem.get(task, {})
        if not m:
            rows.append(("7", what, "peak memory", f"not measured ({mem.get('state')})", ""))
            continue
        rows.append(
            ("7", what, "peak traced memory: export / parsing its largest answer",
             f"{m['export_peak'] / 1e6:.2f} MB / {m['one_answer_peak'] / 1e6:.2f} MB",
             f"answer {m['answer_bytes'] / 1e6:.2f} MB, {m['rows']} rows in {m['objects']} object(s)")
        )  # fmt: skip
    return rows


def contention(work: Path, key: str, db: str, rounds: int) -> dict[str, Any]:
    """Scenario 3: naive and lease rounds alternated on the same 16 processes."""
    home = work / f"contention-{db}"
    with EmulatorProcess(key, workdir=work) as emu, _database(db, home) as url:
        migrate(airflow_env(home, url))
        with ContentionPool(url, home, emu, key, n=16) as pool:
            pool.round(LEASE_CONN)  # untimed: first use of the DB and the emulator
            naive, lease = [], []
            for _ in range(rounds):
                naive.append(pool.round(NAIVE_CONN))
                lease.append(pool.round(LEASE_CONN))
    return {"naive": summarize(naive), "lease": summarize(lease)}


def token_core(work: Path, key: str, db: str) -> dict[str, Any]:
    """Scenario 8 (issue 10): a slow token endpoint under 6 processes; 5 triggers in one loop plus 2 workers."""
    home = work / f"core-{db}"
    with EmulatorProcess(key, workdir=work) as emu, _database(db, home) as url:
        migrate(airflow_env(home, url))
        with ContentionPool(url, home, emu, key, n=6) as pool:
            pool.round(LEASE_CONN)  # untimed: first use of the DB and the emulator
            slow = pool.round(LEASE_CONN, token_latency=10)
            slow_naive = pool.round(NAIVE_CONN, token_latency=10)
        with ContentionPool(url, home / "triggers", emu, key, n=3) as pool:
            triggers = pool.round(LEASE_CONN, triggers={0: 5})
            triggers_naive = pool.round(NAIVE_CONN, triggers={0: 5})
    return {"slow": slow, "slow_naive": slow_naive, "triggers": triggers, "triggers_naive": triggers_naive}


def _database(db: str, home: Path) -> contextlib.AbstractContextManager[str]:
    """A throwaway PostgreSQL database (``db == "postgres"``), else SQLite in ``home``: yields its URL."""
    return postgres_database() if db == "postgres" else contextlib.nullcontext(AirflowHome(home).db_url)


def table(rows: list[Row]) -> str:
    header: Row = ("#", "scenario", "measure", "ours", "naive baseline (same run)")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([line, rule, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke check")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["dags", "contention", "core", "celery", "import", "reports", "budget"],
    )
    args = parser.parse_args()
    exit_on_sigterm()
    rounds = 2 if args.quick else 10
    work = Path(tempfile.mkdtemp(prefix="ts-bench-"))
    key = new_api_key()
    rows: list[Row] = []
    started = time.perf_counter()
    print(f"machine: {machine()}", flush=True)
    try:
        if "dags" not in args.skip:
            d = dag_scenarios(work, key)
            rows.append(
                (
                    "1",
                    "50 mapped task runs, one DAG run (dag.test)",
                    "token requests",
                    str(d["fanout"]["token_requests"]),
                    str(d["fanout_naive"]["token_requests"]),
                )
            )
            c = d["calls"]
            rows += [
                ("2", "one task, 500 API calls", "token requests", str(c["token_requests"]), "-"),
                ("2", "", "Variable reads (token + lease + call budget)",
                 f"{c['variable_reads']} ({c['token_variable_reads']} + {c['lease_variable_reads']} + "
                 f"{c.get('budget_variable_reads', 0)})", "-"),
                ("2", "", "median time per call, ratio to raw requests.Session",
                 f"{c['ratio']:.2f} ({c['median_ours'] * 1000:.2f} ms)", f"1.00 ({c['median_raw'] * 1000:.2f} ms)"),
            ]  # fmt: skip
            print(table(rows), flush=True)
        if "contention" not in args.skip:
            for db in ("sqlite", "postgres"):
                label = f"16 processes on {'SQLite' if db == 'sqlite' else 'PostgreSQL'}, cold cache, barrier"
                if db == "postgres" and postgres_problem():
                    rows.append(("3", label, "skipped", str(postgres_problem()), ""))
                    continue
                r = contention(work, key, db, rounds)
                lease, naive = r["lease"], r["naive"]
                rows += [
                    ("3", label, f"token requests, worst of {rounds} rounds",
                     f"{lease['token_requests_max']} ({'/'.join(map(str, lease['token_requests']))})",
                     f"{naive['token_requests_max']} ({'/'.join(map(str, naive['token_requests']))})"),
                    ("3", "", "time to a token, p50 / p95",
                     f"{lease['p50']:.3f} / {lease['p95']:.3f} s", f"{naive['p50']:.3f} / {naive['p95']:.3f} s"),
                    ("3", "", "p95 latency the lease adds", f"{lease['p95'] - naive['p95']:+.3f} s", ""),
                    ("3", "", "Variable reads per round (all processes)",
                     f"{lease['reads_per_round']:.0f}", f"{naive['reads_per_round']:.0f}"),
                ]  # fmt: skip
                print(table(rows), flush=True)
        if "core" not in args.skip:
            for db in ("sqlite", "postgres"):
                name = "SQLite" if db == "sqlite" else "PostgreSQL"
                if db == "postgres" and postgres_problem():
                    rows.append(("8", f"token core on {name}", "skipped", str(postgres_problem()), ""))
                    continue
                r = token_core(work, key, db)
                slow, slow_naive, trig, trig_naive = r["slow"], r["slow_naive"], r["triggers"], r["triggers_naive"]
                rows += [
                    ("8", f"6 processes, one barrier, token endpoint answers in 10 s ({name})", "token requests",
                     str(slow.token_requests), f"{slow_naive.token_requests} (single_flight off)"),
                    ("8", "", "time to a token, max", f"{max(slow.latencies):.1f} s",
                     f"{max(slow_naive.latencies):.1f} s"),
                    ("8", f"5 triggers in one event loop + 2 workers, cold cache ({name})", "token requests",
                     str(trig.token_requests), f"{trig_naive.token_requests} (single_flight off)"),
                ]  # fmt: skip
                errors = slow.errors + trig.errors
                if errors:
                    rows.append(("8", "", "errors", "; ".join(errors), ""))
                print(table(rows), flush=True)
        if "celery" not in args.skip:
            label = "Celery: 2 workers x 8, Redis, PostgreSQL; 32 campaigns, stale token"
            if services_problem():
                rows.append(("4", label, "skipped", str(services_problem()), ""))
            else:
                res = run_scenario(work / "celery", naive_burst=True)
                etl, load, etl2, load2, burst, naive_burst = res["runs"]
                by_campaign = res["tables_again"]["trafficstars_advertiser_by_campaign"]
                rows += [
                    ("4", label, "token requests, report ETL run (scheduled, refresh_token first)",
                     str(etl["token_requests"]), f"{etl['api_tasks']} (one per API-calling task)"),
                    ("4", "", "token requests, 32 reports 16 at a time, no upstream call",
                     str(burst["token_requests"]), f"{naive_burst['token_requests']} (single_flight off)"),
                    ("4", "", "ETL + Asset-triggered load into PostgreSQL, twice: states, by-campaign rows",
                     f"{'/'.join(r['state'] for r in (etl, load, etl2, load2))}, "
                     f"{by_campaign['rows']} rows = {by_campaign['keys']} distinct (day, campaign)", ""),
                    ("4", "", "wall time of the run (queued to end): ETL / load / burst",
                     f"{etl['seconds']:.1f} / {load['seconds']:.1f} / {burst['seconds']:.1f} s",
                     f"burst: {naive_burst['seconds']:.1f} s"),
                    ("4", "", "deployment start (migrate, 6 processes up, DAGs parsed)",
                     f"{res['timings']['start']:.1f} s", ""),
                ]  # fmt: skip
                print(table(rows), flush=True)
        if "reports" not in args.skip:
            rows += report_rows(report_scenarios(work))
            print(table(rows), flush=True)
        if "budget" not in args.skip:
            rows += shared_budget.rows(shared_budget.scenarios(work, f"sqlite:///{work}/budget.db",
                                                               scale=1.0, quick=args.quick))  # fmt: skip
            print(table(rows), flush=True)
        if "import" not in args.skip:
            imp = import_cost.measure()
            rows.append(("5", "import after `import airflow.sdk`", "hook module, median of 10 interpreters",
                         f"{imp['hook_import_median'] * 1000:.0f} ms", ""))  # fmt: skip
            for name, seconds in imp["dag_parse_median"].items():
                rows.append(("5", "", f"parse {name}, median of 5", f"{seconds * 1000:.0f} ms", ""))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"machine: {machine()}")
    print(f"command: make bench  (python -m benchmarks.run{' --quick' if args.quick else ''}), "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    print(table(rows))


if __name__ == "__main__":
    main()
