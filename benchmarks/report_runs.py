"""Scenarios 6 and 7: the report transfer under the API's rate limit, and its memory (``dag.test()`` runs).

``python -m benchmarks.report_runs OUT_JSON [DAYS]`` runs them in a process of its own (``make bench`` does
this with a fresh ``AIRFLOW_HOME``); the tests call :func:`backfill` in their own session. Each scenario
gets an emulator of its own in this process (its request log gives the 429 answers) that answers 429
beyond 100 calls in 60 s, as the API does. ``dag.test()`` runs the tasks one after another in this
process, so the client's rate limiter (one per account and process) spans the whole DAG run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator

DAG_FILE = Path(__file__).resolve().parent / "dags" / "ts_bench_reports.py"
#: The API's limit, which the emulator enforces here: calls per window.
RATE = (100, 60.0)
DATE_TO = "2026-10-31"
CAMPAIGNS = 3
REPORT_PREFIX = "/v1.1/advertiser/custom/report/"


def install(dags_folder: Path) -> dict[str, Any]:
    """Copy the report benchmark DAGs into the configured DAGs folder; return them by id."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.x, 3.0, 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    target = dags_folder / DAG_FILE.name
    shutil.copyfile(DAG_FILE, target)
    bag = DagBag(str(target))
    if bag.import_errors:
        raise RuntimeError(str(bag.import_errors))
    return dict(bag.dags)


def requests_made(emulator: TrafficStarsEmulator) -> dict[str, Any]:
    """Return the emulator's counts: API calls by path, token requests, 429 answers."""
    log = emulator.request_log()
    return {
        "calls": len(log),
        "token_requests": sum(1 for r in log if r.path == "/v1/auth/token"),
        "by_path": dict(Counter(r.path.removeprefix(REPORT_PREFIX) for r in log)),
        "answers_429": sum(1 for r in log if r.status == 429),
    }


def _task_states(run: Any) -> dict[str, int]:
    return dict(Counter(str(ti.state) for ti in run.get_task_instances()))


def backfill(dag: Any, emulator: TrafficStarsEmulator, days: int, base_url: str) -> dict[str, Any]:
    """Run the backfill DAG over ``days`` days; return its task states, the emulator's counts and wall time."""
    started = time.perf_counter()
    run = dag.test(run_conf={"days": days, "date_to": DATE_TO, "base_url": base_url})
    seconds = time.perf_counter() - started
    return {"state": str(run.state), "tasks": _task_states(run), "seconds": seconds, **requests_made(emulator)}


def naive(dag: Any, emulator: TrafficStarsEmulator, days: int) -> dict[str, Any]:
    """Run the baseline: one generic-operator task per campaign per day."""
    started = time.perf_counter()
    run = dag.test(run_conf={"days": days, "date_to": DATE_TO, "campaigns": CAMPAIGNS})
    seconds = time.perf_counter() - started
    return {"state": str(run.state), "tasks": _task_states(run), "seconds": seconds, **requests_made(emulator)}


def memory(dag: Any, base_url: str, out: Path) -> dict[str, Any]:
    """Run the memory DAG; return its figures per task (bytes)."""
    run = dag.test(run_conf={"base_url": base_url, "out": str(out)})
    figures: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    return {"state": str(run.state), **figures}


def _emulator(api_key: str, *, rate_limited: bool = True) -> TrafficStarsEmulator:
    emulator = TrafficStarsEmulator(api_keys=[api_key], campaigns=CAMPAIGNS).start()
    if rate_limited:
        emulator.set_rate_limit(RATE)
    # Each emulator has a URL of its own, so the client's limiter (per account: URL and key) starts empty.
    os.environ["AIRFLOW_CONN_TRAFFICSTARS_DEFAULT"] = json.dumps(
        {"conn_type": "trafficstars", "host": emulator.url, "password": api_key}
    )
    return emulator


def main(out: Path, days: int = 60) -> None:
    from airflow.utils.db import initdb

    from benchmarks.common import new_api_key

    initdb()
    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dags_folder.mkdir(parents=True, exist_ok=True)
    dags = install(dags_folder)
    key = new_api_key()
    work = Path(tempfile.mkdtemp(prefix="ts-bench-reports-"))
    results: dict[str, Any] = {"days": days, "rate": list(RATE), "campaigns": CAMPAIGNS}
    try:
        emulator = _emulator(key)
        try:
            results["backfill"] = backfill(dags["ts_bench_report_backfill"], emulator, days, f"file://{work}/ours")
        finally:
            emulator.stop()
        emulator = _emulator(key)
        try:
            results["naive"] = naive(dags["ts_bench_report_naive"], emulator, days)
        finally:
            emulator.stop()
        emulator = _emulator(key)
        try:
            emulator.reports.set_large_day(DATE_TO, 10_000)
            results["memory"] = memory(dags["ts_bench_report_memory"], f"file://{work}/memory", work / "memory.json")
        finally:
            emulator.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:3]))
