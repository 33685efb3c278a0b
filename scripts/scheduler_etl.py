"""Run the report ETL example on a real Airflow 3 scheduler, as a new user would, and print which days it covered.

A throwaway home (SQLite, LocalExecutor), the emulator in a process of its own, and Airflow's own processes:
scheduler, dag-processor, triggerer, api-server. Then:

1. ``airflow dags unpause`` the ETL and the load example: the ETL's latest scheduled run starts at once;
2. ``airflow dags trigger`` the ETL with no logical date;
3. clear that dateless run through the REST API (``clearTaskInstances``), as the UI's Clear button does.

After each step: the days each report task wrote, the export cursors (``airflow variables get``), the load
runs. About two minutes. Usage: ``.venv/bin/python scripts/scheduler_etl.py`` (``--keep`` keeps the home).
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.common import EmulatorProcess, airflow_env, conn_json, free_port, kill_group, migrate  # noqa: E402

AIRFLOW = str(Path(sys.executable).parent / "airflow")
ETL, LOAD = "example_trafficstars_report_etl", "example_trafficstars_report_load"


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="ts-scheduler-etl-"))
    port, key = free_port(), "tsk-scheduler-etl-0123456789"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with EmulatorProcess(key, campaigns=24, workdir=home) as emu:
            env = airflow_env(
                home,
                AIRFLOW__CORE__EXECUTOR="LocalExecutor",
                AIRFLOW__API__PORT=str(port),
                AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
                AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),  # one for every process
                AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
                AIRFLOW_CONN_TRAFFICSTARS_DEFAULT=conn_json(emu.url, key),
                AIRFLOW_CONN_TRAFFICSTARS_WAREHOUSE=json.dumps({"conn_type": "sqlite", "host": str(home / "wh.db")}),
                TRAFFICSTARS_REPORT_BASE_URL=f"file://{home}/reports",
            )
            for dag in (ETL, LOAD):
                shutil.copy(REPO / "example_dags" / f"{dag}.py", home / "dags")
            print(f"Airflow home {home}; metadata DB migrated in {migrate(env):.1f} s")
            for name in ("scheduler", "dag-processor", "triggerer", "api-server"):
                log = (home / f"{name}.log").open("wb")
                procs.append(subprocess.Popen([AIRFLOW, name], env=env, stdout=log, stderr=log, start_new_session=True))
            listed = lambda: cli(env, "dags", "list", "-o", "json", quiet=True)  # noqa: E731
            wait(lambda: ETL in (out := listed()) and LOAD in out, "the DAGs to be parsed")
            cli(env, "dags", "unpause", LOAD)
            cli(env, "dags", "unpause", ETL)  # its latest scheduled run starts at once
            wait(lambda: finished(home, 1), "the scheduled run")
            show(home, env, "the scheduled run")
            cli(env, "dags", "trigger", ETL)  # no logical date
            wait(lambda: finished(home, 2), "the dateless run")
            show(home, env, "the dateless run")
            dateless = next(run for run in runs(home, ETL) if run["logical_date"] is None)
            clear(port, ETL, dateless["run_id"])
            wait(lambda: finished(home, 2, cleared=dateless["run_id"]), "the cleared run")
            show(home, env, "the dateless run, cleared and run again")
            print("emulator calls:", emu.stats()["counts"])
    finally:
        for proc in procs:
            kill_group(proc)
        if "--keep" not in sys.argv:
            shutil.rmtree(home, ignore_errors=True)
    return 0


def cli(env: dict[str, str], *args: str, quiet: bool = False) -> str:
    out = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    if not quiet:
        print(f"$ airflow {' '.join(args)}  (exit {out.returncode})")
    return out.stdout


def wait(ready: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except (ValueError, sqlite3.Error):  # not there yet
            pass
        time.sleep(2)
    raise SystemExit(f"timed out waiting for {what}")


def runs(home: Path, dag_id: str) -> list[dict[str, Any]]:
    columns = "run_id, logical_date, state, run_after, start_date, clear_number"
    query = f"SELECT {columns} FROM dag_run WHERE dag_id=? ORDER BY id"
    with sqlite3.connect(home / "airflow.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(query, (dag_id,))]


def finished(home: Path, count: int, cleared: str = "") -> bool:
    found = runs(home, ETL)
    done = len(found) >= count and all(run["state"] in ("success", "failed") for run in found)
    return done and (not cleared or any(r["run_id"] == cleared and r["clear_number"] > 0 for r in found))


def clear(port: int, dag_id: str, run_id: str) -> None:
    body = {"dry_run": False, "dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}/clearTaskInstances",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        cleared = len(json.loads(answer.read())["task_instances"])
    print(f"POST /api/v2/dags/{dag_id}/clearTaskInstances {run_id}: {cleared} task instance(s) cleared")


def show(home: Path, env: dict[str, str], title: str) -> None:
    print(f"\n== after {title}")
    query = "SELECT task_id, value FROM xcom WHERE dag_id=? AND run_id=? AND key='return_value' ORDER BY task_id"
    for run in runs(home, ETL):
        print(
            f"{run['run_id']}: {run['state']}, logical_date {run['logical_date']}, run_after {run['run_after']}, "
            f"start_date {run['start_date']}, cleared {run['clear_number']} time(s)"
        )
        with sqlite3.connect(home / "airflow.db") as db:
            for task_id, value in db.execute(query, (ETL, run["run_id"])):
                written = json.loads(value)
                if isinstance(written, list):
                    print(f"    {task_id}: {[w['day'] for w in written]}")
    for item in json.loads(cli(env, "variables", "list", "-o", "json", quiet=True) or "[]"):
        if item["key"].startswith("trafficstars_report_cursor_"):
            record = json.loads(cli(env, "variables", "get", item["key"], quiet=True))
            print(f"    cursor {record['cursor']} of {record['export']['report']} ({item['key']})")
    print(f"    load runs: {[r['state'] for r in runs(home, LOAD)]}")


if __name__ == "__main__":
    sys.exit(main())
