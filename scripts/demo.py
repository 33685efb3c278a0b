"""`make demo`: run the example DAGs on a throwaway SQLite Airflow against the bundled emulator.

With TRAFFICSTARS_API_KEY set, the same DAGs run against the real API (TRAFFICSTARS_HOST overrides the
base URL). Everything lives under .demo/ and is recreated on each run.
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

from airflow_provider_trafficstars.testing.airflow_home import AirflowHome

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / ".demo"
HOME = DEMO / "airflow-home"
DAGS = ("example_trafficstars_session", "example_trafficstars_campaign_report")
REPORT_DATE = "2026-11-26"
CONN_ID = "trafficstars_default"


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
        host = emulator.url
        print(f"Running against the bundled emulator at {host} (24 campaigns)")
    conn = json.dumps({"conn_type": "trafficstars", "host": host, "password": key})
    # This process reads the results from the metadata DB too: it uses the home as the airflow commands do.
    home.activate(AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING", AIRFLOW_CONN_TRAFFICSTARS_DEFAULT=conn)
    env = dict(os.environ)

    print(f"Airflow home: {HOME.relative_to(REPO)} (SQLite)")
    airflow(env, "db", "migrate", log=DEMO / "db-migrate.log")
    counts: dict[str, int] = {}
    for dag_id in DAGS:
        before = emulator.token_requests if emulator else 0
        extra = [REPORT_DATE] if dag_id.endswith("report") else []
        airflow(env, "dags", "test", dag_id, *extra, log=DEMO / f"{dag_id}.log")
        counts[dag_id] = (emulator.token_requests - before) if emulator else -1

    demo_campaign_guard(env, emulator)
    print("\nSummary")
    for dag_id in DAGS:
        result = xcoms(dag_id)
        print(f"- {dag_id}: {result['state']}")
        mapped: dict[str, list[Any]] = {}
        for task, value in result["xcom"].items():
            if "[" in task:
                mapped.setdefault(task.split("[")[0], []).append(value)
                continue
            text = json.dumps(value, default=str)
            print(f"    {task}: {text if len(text) < 160 else text[:157] + '...'}")
        for task, values in mapped.items():
            rows = sum(len(v) for v in values if isinstance(v, list))
            print(f"    {task}: {len(values)} mapped task instances, {rows} rows in all")
        if emulator:
            print(f"    token requests during this run: {counts[dag_id]}")
    if emulator:
        total = sum(counts.values())
        print(f"- token requests in total: {total} ({', '.join(f'{d}: {n}' for d, n in counts.items())})")
    if emulator:
        stats = {f"{r.method} {r.path}": 0 for r in emulator.request_log()}
        for r in emulator.request_log():
            stats[f"{r.method} {r.path}"] += 1
        print("- emulator requests: " + ", ".join(f"{k} x{v}" for k, v in sorted(stats.items())))
        print(f"- access tokens issued: {len(emulator.issued_tokens)} (values masked: never printed)")
        print(
            "  Each DAG run cost exactly one token request, however many tasks it ran; the session DAG's\n"
            "  last step logs out, so the report DAG that follows starts a new session."
        )
        emulator.stop()
    reports = sorted((HOME / "trafficstars").rglob("*.csv")) if (HOME / "trafficstars").exists() else []
    for csv in reports:
        print(f"- report CSV: {csv.relative_to(REPO)} ({len(csv.read_text().splitlines()) - 1} rows)")
    from airflow.models import Variable

    from airflow_provider_trafficstars.hooks.trafficstars import default_token_variable

    token_var = default_token_variable(CONN_ID)

    print(f"- Variable {token_var}: {'present' if Variable.get(token_var, default_var=None) else 'absent'}")
    print("Demo finished: all DAG runs succeeded.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
