"""The example DAGs: they load without errors, parse fast and run, without a logical date, against the emulator."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_trafficstars.client.reports import _files as report_files
from airflow_provider_trafficstars.client.reports._catalogue import CAMPAIGNS_SPEC, REPORTS
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import (
    EXAMPLE_DAGS,
    TOKEN_VAR,
    assert_no_secret,
    install_dag,
    run_traces,
    run_xcoms,
    task_states,
    variable,
)

pytestmark = pytest.mark.integration
CAMPAIGNS = 24
COUNTRIES = 5  # the emulator's
ETL, LOAD = "example_trafficstars_report_etl", "example_trafficstars_report_load"
#: report -> (task of the ETL, Asset, table of the load DAG)
REPORT_NAMES = {
    "advertiser/by-day": ("advertiser_by_day", "trafficstars_advertiser_by_day", "trafficstars_advertiser_by_day"),
    "advertiser/by-campaign": (
        "advertiser_by_campaign",
        "trafficstars_advertiser_by_campaign",
        "trafficstars_advertiser_by_campaign",
    ),
    "advertiser/by-country": (
        "advertiser_by_country",
        "trafficstars_advertiser_by_country",
        "trafficstars_advertiser_by_country",
    ),
    "campaigns": ("campaigns", "trafficstars_campaigns", "trafficstars_campaigns"),
}
#: table -> the columns that identify a row (a second row with the same values is a duplicate)
TABLE_KEYS = {
    "trafficstars_advertiser_by_day": "day",
    "trafficstars_advertiser_by_campaign": "day, campaign_id",
    "trafficstars_advertiser_by_country": "day, country",
    "trafficstars_campaigns": "day, id",
}


def _names(assets: Any) -> set[str]:
    return {getattr(a, "name", None) or a.uri for a in assets}


def test_example_dags_load_fast_without_errors(airflow_db: Path) -> None:
    from tests.airflow_compat import dagbag_class

    started = time.monotonic()
    bag = dagbag_class()(str(EXAMPLE_DAGS))
    elapsed = time.monotonic() - started
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "example_trafficstars_session",
        "example_trafficstars_campaign_guard",
        "example_trafficstars_bids",
        "example_trafficstars_accounts",
        ETL,
        LOAD,
    }
    assert elapsed < 5, f"parsing the example DAGs took {elapsed:.1f} s"
    for dag in bag.dags.values():
        assert dag.doc_md and dag.catchup is False
    # The load DAG is scheduled on exactly the Assets the ETL updates, one per report.
    etl, load = bag.dags[ETL], bag.dags[LOAD]
    outlets = {name for task in etl.tasks for name in _names(task.outlets)}
    assert outlets == {asset for _, asset, _ in REPORT_NAMES.values()}
    assert _names(load.get_task("load").inlets) == outlets
    timetable = load.timetable  # asset_condition on Airflow 3, dataset_condition on 2
    scheduled_on = getattr(timetable, "asset_condition", None) or timetable.dataset_condition
    assert {a for a in outlets if a in repr(scheduled_on)} == outlets


def test_examples_take_their_pool_and_storage_connection_without_edits(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool comes from $TRAFFICSTARS_POOL (read when the file is parsed), the store's connection from a
    DAG param (rendered per run); the defaults need nothing."""
    from tests.airflow_compat import dagbag_class

    api_dags = (
        "example_trafficstars_session",
        "example_trafficstars_campaign_guard",
        ETL,
        "example_trafficstars_accounts",
    )
    bag = dagbag_class()(str(EXAMPLE_DAGS))
    assert {t.pool for d in api_dags for t in bag.dags[d].tasks} == {"default_pool"}
    monkeypatch.setenv("TRAFFICSTARS_POOL", "trafficstars_api")
    bag = dagbag_class()(str(EXAMPLE_DAGS))
    assert {t.pool for d in api_dags for t in bag.dags[d].tasks} == {"trafficstars_api"}

    etl = bag.dags[ETL]
    assert (
        etl.params["storage_conn_id"] is None
        and bag.dags["example_trafficstars_accounts"].params["storage_conn_id"] is None
    )
    task = etl.get_task("advertiser_by_day")
    params = {**{k: etl.params[k] for k in etl.params}, "storage_conn_id": "aws_reports"}
    task.render_template_fields({"params": params, "dag": etl, "task": task})
    assert task.storage_conn_id == "aws_reports"


def test_session_example_runs_without_a_logical_date(
    airflow_db: Path,
    clean_variables: None,
    ts_conn: str,
    emulator: TrafficStarsEmulator,
    api_key: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.airflow_compat import AIRFLOW_V_3, dag_test_without_date

    dag = install_dag(EXAMPLE_DAGS / "example_trafficstars_session.py")
    run = dag_test_without_date(dag)
    tasks = ["refresh_token", "wait_for_session", "session_info", "count_campaigns", "logout"]
    assert task_states(run) == dict.fromkeys(tasks, "success")
    # The sensor waited in the trigger (dag.test() runs triggers in-process), as in production.
    assert dag.get_task("wait_for_session").deferrable is True
    if AIRFLOW_V_3:
        assert run.get_task_instance("wait_for_session").trigger_id is not None
    xcoms = run_xcoms(run)
    assert xcoms[("count_campaigns", -1)] == 3
    assert set(xcoms[("session_info", -1)]) == {"expires_in", "expires_at", "token_type"}
    assert xcoms[("wait_for_session", -1)]["token_type"] == "Bearer"
    assert emulator.token_requests == 1
    assert emulator.count("GET", "/v1/auth/logout") == 1
    assert variable(TOKEN_VAR) is None
    assert_no_secret(run_traces(capfd, run), api_key, *emulator.issued_tokens)


# -- the report ETL and the load DAG ------------------------------------------------------------------------
@pytest.fixture
def report_emulator(start_emulator: Callable[..., TrafficStarsEmulator]) -> TrafficStarsEmulator:
    """24 campaigns and the API's rate limit (429 beyond 100 calls in 60 s), as ``trafficstars_default``."""
    return start_emulator(campaigns=CAMPAIGNS, rate_limit=(100, 60.0))


def _local(url: str) -> Path:
    assert url.startswith("file://"), url
    return Path(url[len("file://") :])


def _read_csv(url: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = report_files.decode("csv", _local(url).read_bytes())  # the one reader of our objects
    assert rows, url  # (every object of these runs has rows: the header is their keys)
    return list(rows[0]), rows


def _tables(path: Path) -> dict[str, dict[str, int]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table, key in TABLE_KEYS.items():
            rows, days = conn.execute(f"SELECT COUNT(*), COUNT(DISTINCT day) FROM {table}").fetchone()
            keys = conn.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT {key} FROM {table})").fetchone()[0]
            out[table] = {"rows": rows, "keys": keys, "days": days}
        return out
    finally:
        conn.close()


def _leads(path: Path, day: str) -> int:
    conn = sqlite3.connect(path)
    try:
        query = "SELECT SUM(leads) FROM trafficstars_advertiser_by_campaign WHERE day = ?"
        return int(conn.execute(query, (day,)).fetchone()[0])
    finally:
        conn.close()


def _check_etl_run(run: Any, base: Path) -> list[str]:
    """Assert what one dateless ETL run wrote; return its days."""
    states = task_states(run)
    assert set(states.values()) == {"success"}, states
    xcoms = run_xcoms(run)
    # A run without a logical date covers the day before it started, plus lookback_days=2 before that.
    by_day = xcoms[("advertiser_by_day", -1)]
    days = [item["day"] for item in by_day]
    last = date.fromisoformat(days[-1])
    started = [run.start_date, getattr(run, "run_after", None) or run.start_date]  # no run_after on Airflow 2
    assert last in {(t - timedelta(days=1)).date() for t in started}
    assert days == [(last - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    expected_rows = {"advertiser/by-day": 1, "advertiser/by-campaign": CAMPAIGNS, "advertiser/by-country": COUNTRIES}
    # The campaign list is filed under the day it was taken (UTC here), between the run's start and now.
    snapshot = date.fromisoformat(xcoms[("campaigns", -1)][0]["day"])
    assert run.start_date.astimezone(timezone.utc).date() <= snapshot <= datetime.now(timezone.utc).date()
    for report, (task_id, _, _) in REPORT_NAMES.items():
        items = xcoms[(task_id, -1)]
        spec = CAMPAIGNS_SPEC if report == "campaigns" else REPORTS[report]
        assert [i["day"] for i in items] == ([snapshot.isoformat()] if report == "campaigns" else days), (report, items)
        for item in items:
            assert item["url"] == f"file://{base}/{report}/day={item['day']}/part.csv"
            header, rows = _read_csv(item["url"])
            assert header[: len(spec.fields)] == list(spec.fields)
            assert len(rows) == item["rows"] == expected_rows.get(report, CAMPAIGNS)
            assert {row["day"] for row in rows} == {item["day"]}
    # Complete or absent: only the final objects under the destination, no temporary ones beside them.
    written = sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
    expected = [
        f"{r}/day={d}/part.csv" for r in REPORT_NAMES for d in ([snapshot.isoformat()] if r == "campaigns" else days)
    ]
    assert written == sorted(expected)
    return days


def test_report_etl_and_load_without_a_logical_date_twice(
    airflow_db: Path,
    clean_variables: None,
    report_emulator: TrafficStarsEmulator,
    warehouse: Path,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.airflow_compat import asset_event_extras, dag_test_without_date

    # The first run writes where the environment says (read when the DAG file is parsed) ...
    monkeypatch.setenv("TRAFFICSTARS_REPORT_BASE_URL", f"file://{tmp_path}/from-env")
    etl = install_dag(EXAMPLE_DAGS / f"{ETL}.py")
    load = install_dag(EXAMPLE_DAGS / f"{LOAD}.py")
    run = dag_test_without_date(etl)
    days = _check_etl_run(run, tmp_path / "from-env")
    for report, (task_id, asset, _) in REPORT_NAMES.items():
        items = run_xcoms(run)[(task_id, -1)]
        assert asset_event_extras(asset) == [
            {
                "report": report,
                "account": "trafficstars_default",
                "days": [i["day"] for i in items],
                "rows": sum(i["rows"] for i in items),
                "urls": [i["url"] for i in items],
            }
        ]
    # ... and the load DAG (a manual run: each Asset's latest event) loads those days.
    loaded = dag_test_without_date(load)
    assert task_states(loaded) == {"load": "success"}
    first = _tables(warehouse)
    assert first == {
        "trafficstars_advertiser_by_day": {"rows": 3, "keys": 3, "days": 3},
        "trafficstars_advertiser_by_campaign": {"rows": 3 * CAMPAIGNS, "keys": 3 * CAMPAIGNS, "days": 3},
        "trafficstars_advertiser_by_country": {"rows": 3 * COUNTRIES, "keys": 3 * COUNTRIES, "days": 3},
        "trafficstars_campaigns": {"rows": CAMPAIGNS, "keys": CAMPAIGNS, "days": 1},
    }
    leads_before = _leads(warehouse, days[0])

    # Late conversions on the oldest day; the second run (to the DAG param's location) re-pulls it
    # (lookback), and the second load replaces the days it loads instead of adding them again.
    report_emulator.reports.revise_day(days[0])
    run2 = dag_test_without_date(etl, run_conf={"base_url": f"file://{tmp_path}/from-param/"})
    assert _check_etl_run(run2, tmp_path / "from-param") == days
    dag_test_without_date(load, run_conf={"base_url": f"file://{tmp_path}/from-param/"})  # the load trusts only it
    assert _tables(warehouse) == first
    _, revised = _read_csv(run_xcoms(run2)[("advertiser_by_campaign", -1)][0]["url"])
    assert _leads(warehouse, days[0]) == sum(int(r["leads"]) for r in revised) > leads_before

    # Both ETL runs shared one token; the rate limit was never hit; nothing secret was written anywhere.
    assert report_emulator.token_requests == 1
    assert not [r for r in report_emulator.request_log() if r.status == 429]
    objects = "".join(p.read_text() for p in tmp_path.rglob("*.csv"))
    assert_no_secret(run_traces(capfd, run, run2, loaded) + objects, api_key, *report_emulator.issued_tokens)


def test_the_load_never_doubles_a_row_when_the_etl_catches_up_several_days(
    airflow_db: Path,
    clean_variables: None,
    report_emulator: TrafficStarsEmulator,
    warehouse: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two daily runs missed: the next ETL run exports their days too (and its lookback days again); the
    load replaces every day its event names, and no row is there twice."""
    import pendulum

    from tests.airflow_compat import asset_event_extras, dag_test, dag_test_without_date

    monkeypatch.setenv("TRAFFICSTARS_REPORT_BASE_URL", f"file://{tmp_path}/lake")
    etl = install_dag(EXAMPLE_DAGS / f"{ETL}.py")
    load = install_dag(EXAMPLE_DAGS / f"{LOAD}.py")
    started = pendulum.now("UTC").date()
    first = dag_test(etl, logical_date=pendulum.datetime(2026, 11, 10, tz="UTC"))
    assert [i["day"] for i in run_xcoms(first)[("advertiser_by_day", -1)]] == ["2026-11-07", "2026-11-08", "2026-11-09"]
    dag_test_without_date(load)
    # The runs of 11-11, 11-12 and 11-13 never happened.
    caught_up = dag_test(etl, logical_date=pendulum.datetime(2026, 11, 14, tz="UTC"))
    assert set(task_states(caught_up).values()) == {"success"}
    new_days = [f"2026-11-{d:02}" for d in range(8, 14)]  # 11-10..11-13 new, 11-08 and 11-09 looked back at
    # Snapshots are filed under the (UTC) day they were taken: today, or tomorrow if midnight passed.
    taken = {(started + timedelta(days=n)).isoformat() for n in range((pendulum.now("UTC").date() - started).days + 1)}
    for report, (task_id, asset, _) in REPORT_NAMES.items():
        days = [i["day"] for i in run_xcoms(caught_up)[(task_id, -1)]]
        if report == "campaigns":
            assert len(days) == 1 and days[0] in taken, days
        else:
            assert days == new_days, report
        assert asset_event_extras(asset)[-1]["days"] == days
    snapshots = {i["day"] for run in (first, caught_up) for i in run_xcoms(run)[(REPORT_NAMES["campaigns"][0], -1)]}
    loaded = dag_test_without_date(load)
    assert task_states(loaded) == {"load": "success"}
    assert _tables(warehouse) == {
        "trafficstars_advertiser_by_day": {"rows": 7, "keys": 7, "days": 7},
        "trafficstars_advertiser_by_campaign": {"rows": 7 * CAMPAIGNS, "keys": 7 * CAMPAIGNS, "days": 7},
        "trafficstars_advertiser_by_country": {"rows": 7 * COUNTRIES, "keys": 7 * COUNTRIES, "days": 7},
        # A snapshot replaces the one taken the same day (both runs' were today, unless midnight passed).
        "trafficstars_campaigns": {
            "rows": len(snapshots) * CAMPAIGNS,
            "keys": len(snapshots) * CAMPAIGNS,
            "days": len(snapshots),
        },
    }
