"""`make demo`: run the example DAGs on a throwaway SQLite Airflow against the bundled emulator.

The session example, then the report ETL (four reports to files under .demo/reports/) and the load DAG
(into the SQLite database .demo/warehouse.db), then the ETL and the load once more, to show that a rerun
replaces the days it loads instead of adding them twice; last the campaign guard-rail in dry-run mode.
The emulator enforces the API's rate limit (100 calls per 60 s). With TRAFFICSTARS_API_KEY set, the same
DAGs run against the real API (TRAFFICSTARS_HOST overrides the base URL). Everything lives under .demo/ and
is recreated on each run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from airflow_provider_trafficstars.testing._airflow_home import AirflowHome

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / ".demo"
HOME = DEMO / "airflow-home"
DAGS = ("example_trafficstars_session", "example_trafficstars_report_etl", "example_trafficstars_report_load")
#: The runs, in order: the ETL and the load run twice (the second time shows that nothing doubles).
RUNS = (DAGS[0], DAGS[1], DAGS[2], DAGS[1], DAGS[2])
CONN_ID = "trafficstars_default"
WAREHOUSE = DEMO / "warehouse.db"


def prepare_home() -> AirflowHome:
    """Recreate .demo/ with an Airflow home (SQLite) holding the example DAGs."""
    shutil.rmtree(DEMO, ignore_errors=True)
    home = AirflowHome.at(HOME)
    for dag_id in DAGS:
        shutil.copy(REPO / "example_dags" / f"{dag_id}.py", home.dags_folder)
    return home


def airflow(env: dict[str, str], *args: str, log: Path) -> None:
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], env=env, stdout=out, stderr=out)
    took = time.monotonic() - started
    if proc.returncode != 0:
        print(f"FAILED: airflow {' '.join(args)} (exit {proc.returncode}); last lines of {log}:")
        print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))
        raise SystemExit(1)
    print(f"  airflow {' '.join(args[:3])} ... ok ({took:.1f} s, log: {log.relative_to(REPO)})")


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def xcoms(dag_id: str) -> dict[str, Any]:
    """Return {task_id[map_index]: value} of the latest run of a DAG, straight from the metadata DB."""
    from airflow.models import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)).first()
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run.run_id)
        ).all()
        out: dict[str, Any] = {}
        for row in sorted(rows, key=lambda r: (r.task_id, r.map_index)):
            name = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            out[name] = _decode(row.value)
        return {"state": run.state, "xcom": out}


GUARD = "example_trafficstars_campaign_guard"


def demo_campaign_guard(env: dict[str, str], emulator: Any) -> None:
    """Run the guard-rail DAG in dry-run mode (its default) and print what it would pause; change nothing."""
    from airflow.models import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    shutil.copy(REPO / "example_dags" / f"{GUARD}.py", HOME / "dags")
    before = emulator.campaigns.snapshot() if emulator else None
    airflow(env, "dags", "test", GUARD, log=DEMO / f"{GUARD}.log")
    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == GUARD).order_by(DagRun.id.desc())).first()
        rows = session.scalars(select(XComModel).where(XComModel.dag_id == GUARD, XComModel.run_id == run.run_id))
        values = {(row.task_id, row.key): _decode(row.value) for row in rows}
        state = run.state
    report, result = values[("todays_report", "return_value")], values[("pause_over_limit", "return_value")]
    print(f"- {GUARD} (dry run): {state}")
    over = values[("find_over_limit", "campaigns")]
    print(f"    {report['day']}: {len(over)} of {len(report['rows'])} campaigns over the DAG param max_cpa")
    for campaign in over:
        cpa = f"cost per lead {campaign['cpa']}" if campaign["cpa"] is not None else "no lead yet"
        print(f"    campaign {campaign['campaign_id']}: spent {campaign['cost']}, {cpa}")
    print(f"    would pause: {result['changed']}; already paused: {result['unchanged']}; fail: {result['failed']}")
    if emulator:
        unchanged = emulator.campaigns.snapshot() == before and emulator.count("PUT") == 0
        print(f"    campaign state unchanged in the emulator (no PUT sent): {'yes' if unchanged else 'NO'}")


def main() -> int:
    home = prepare_home()
    real_key = os.environ.get("TRAFFICSTARS_API_KEY")
    emulator = None
    if real_key:
        host = os.environ.get("TRAFFICSTARS_HOST", "https://api.trafficstars.com")
        key = real_key
        print(f"Running against the real TrafficStars API at {host}")
    else:
        from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator

        key = "demo-key"
        emulator = TrafficStarsEmulator(api_keys=[key], campaigns=24).start()
        emulator.set_rate_limit((100, 60.0))  # the API's: beyond 100 calls in 60 s, 429
        host = emulator.url
        print(f"Running against the bundled emulator at {host} (24 campaigns, 100 calls per 60 s)")
    conn = json.dumps({"conn_type": "trafficstars", "host": host, "password": key})
    # This process reads the results from the metadata DB too: it uses the home as the airflow commands do.
    home.activate(
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        AIRFLOW_CONN_TRAFFICSTARS_DEFAULT=conn,
        # The report ETL writes its objects here, and the load DAG loads them into this SQLite file.
        TRAFFICSTARS_REPORT_BASE_URL=f"file://{DEMO}/reports",
        AIRFLOW_CONN_TRAFFICSTARS_WAREHOUSE=json.dumps({"conn_type": "sqlite", "host": str(WAREHOUSE)}),
    )
    env = dict(os.environ)

    print(f"Airflow home: {HOME.relative_to(REPO)} (SQLite)")
    airflow(env, "db", "migrate", log=DEMO / "db-migrate.log")
    runs: list[tuple[str, dict[str, Any], int]] = []
    for number, dag_id in enumerate(RUNS, 1):
        before = emulator.token_requests if emulator else 0
        airflow(env, "dags", "test", dag_id, log=DEMO / f"{number}-{dag_id}.log")
        runs.append((dag_id, xcoms(dag_id), (emulator.token_requests - before) if emulator else -1))

    demo_campaign_guard(env, emulator)
    print("\nSummary")
    for dag_id, result, tokens in runs:
        print(f"- {dag_id}: {result['state']}" + (f", {tokens} token request(s)" if emulator else ""))
        for task, value in result["xcom"].items():
            print(f"    {task}: {describe(value)}")
    if emulator:
        stats: dict[str, int] = {}
        for r in emulator.request_log():
            stats[f"{r.method} {r.path}"] = stats.get(f"{r.method} {r.path}", 0) + 1
        print("- emulator requests: " + ", ".join(f"{k} x{v}" for k, v in sorted(stats.items())))
        print(f"- answers of 429 (rate limit): {sum(1 for r in emulator.request_log() if r.status == 429)}")
        print(f"- access tokens issued: {len(emulator.issued_tokens)} (values masked: never printed)")
        emulator.stop()
    objects = sorted(p for p in (DEMO / "reports").rglob("*") if p.is_file()) if (DEMO / "reports").exists() else []
    print(f"- report objects under {(DEMO / 'reports').relative_to(REPO)}: {len(objects)}, e.g.")
    for path in objects[:: max(1, len(objects) // 4)][:4]:
        from airflow_provider_trafficstars.client.reports import (
            _files as report_files,  # (imports Airflow: after AIRFLOW_HOME is set)
        )

        rows = report_files.decode(report_files.format_of(path.name), path.read_bytes())  # our objects' one reader
        print(f"    {path.relative_to(DEMO / 'reports')} ({len(rows)} rows)")
    print(f"- SQL tables in {WAREHOUSE.relative_to(REPO)} (after two ETL + load runs: nothing doubled):")
    for table, rows, days in warehouse_counts():
        print(f"    {table}: {rows} rows, {days} day(s)")
    from airflow.models import Variable

    from airflow_provider_trafficstars.hooks.trafficstars import default_token_variable

    token_var = default_token_variable(CONN_ID)

    print(f"- Variable {token_var}: {'present' if Variable.get(token_var, default_var=None) else 'absent'}")
    print("Demo finished: all DAG runs succeeded.")
    return 0


def describe(value: Any) -> str:
    """Return one line about an XCom: a report transfer's objects summed up, anything else as JSON."""
    if isinstance(value, list) and value and all(isinstance(v, dict) and {"day", "rows"} <= set(v) for v in value):
        days = sorted(v["day"] for v in value)
        return f"{len(value)} object(s), {sum(v['rows'] for v in value)} rows, days {days[0]}..{days[-1]}"
    text = json.dumps(value, default=str)
    return text if len(text) < 160 else text[:157] + "..."


def warehouse_counts() -> list[tuple[str, int, int]]:
    """Return ``(table, rows, days)`` of every table the load DAG made, straight from the SQLite file."""
    import sqlite3

    conn = sqlite3.connect(WAREHOUSE)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(t, *conn.execute(f"SELECT COUNT(*), COUNT(DISTINCT day) FROM {t}").fetchone()) for t in tables]
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
