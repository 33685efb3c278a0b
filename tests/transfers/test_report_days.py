"""Which days the report transfer exports, in real DAG runs (issue 15's rows 1-4, 8 and 14).

Each run is ``dag.test()`` of a one-task DAG with the schedule and time zone of the row, at the times its own
timetable (Airflow's, asked as the scheduler asks) makes runs; the connection's ``report_timezone`` is the
row's; the emulator answers; the objects land in a temp folder. A day is "exported" when its object exists.
"""

from __future__ import annotations

import inspect
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_trafficstars.exceptions import TrafficStarsCoverageError
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import AIRFLOW_V_3, clear_and_rerun, dag_test, requires_airflow_3
from tests.helpers import conn_json, install_dag, run_xcoms, task_states
from tests.schedules import Run, timetable_runs

pytestmark = pytest.mark.integration
BY_DAY = "/v1.1/advertiser/custom/report/by-day"

DAG_SOURCE = '''"""Issue 15's day rows: one report export on the schedule {schedule} in {zone} (written by a test)."""

from __future__ import annotations

import datetime

import pendulum
from airflow.providers.common.compat.sdk import DAG

try:
    from airflow.sdk import CronDataIntervalTimetable, DeltaDataIntervalTimetable
except ImportError:  # Airflow 2
    from airflow.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable

from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

with DAG(
    {dag_id!r},
    schedule={schedule},
    start_date=pendulum.datetime({start}, tz={zone!r}),
    catchup=False,
    params={{"base": "file:///tmp/unset", "date_from": "", "date_to": ""}},
    tags=["test"],
):
    TrafficStarsReportToStorageOperator(
        task_id="export",
        report="advertiser/by-day",
        destination="{{{{ params.base }}}}/{{report}}/{{day}}.{{ext}}",
        date_from="{{{{ params.date_from }}}}",
        date_to="{{{{ params.date_to }}}}",
    )
'''


def days(first: date | str, last: date | str) -> list[date]:
    first, last = (d if isinstance(d, date) else date.fromisoformat(d) for d in (first, last))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class Export:
    """A one-task export DAG on a schedule, its objects' folder, and the days it has written."""

    def __init__(self, tmp_path: Path, dag_id: str, schedule: str, zone: str, start: tuple[int, int, int]) -> None:
        source = tmp_path / f"{dag_id}.py"
        source.write_text(
            DAG_SOURCE.format(dag_id=dag_id, schedule=schedule, zone=zone, start=", ".join(map(str, start)))
        )
        self.dag = install_dag(source)
        self.lake = tmp_path / "lake"
        self.zone = zone
        self.start = pendulum.datetime(*start, tz=zone)

    def conf(self, **dates: str) -> dict[str, str]:
        return {"base": f"file://{self.lake}", "date_from": "", "date_to": "", **dates}

    def runs_around(self, day: date, before: int = 1, after: int = 3) -> list[Run]:
        """The runs the DAG's own timetable makes from ``before`` days before ``day`` to ``after`` days after."""
        timetable = self.dag.timetable
        if not hasattr(timetable, "next_dagrun_info"):  # Airflow 3: the DAG holds the Task SDK's definition
            from airflow.serialization.encoders import coerce_to_core_timetable

            timetable = coerce_to_core_timetable(timetable)
        local = pendulum.datetime(day.year, day.month, day.day, tz=self.zone)
        runs = timetable_runs(timetable, self.start, local + timedelta(days=after))
        return [r for r in runs if r.due >= local - timedelta(days=before)]

    def run(self, logical_date: datetime | None, **dates: str) -> Any:
        """One DAG run, as the scheduler makes it for ``logical_date`` (its data interval from the timetable)."""
        # In UTC: dag.test() infers the interval of a timedelta schedule as "logical date - delta", which
        # pendulum computes in wall-clock time in the date's own zone (25 hours across a DST end), while
        # the scheduler's intervals are 24 hours long.
        when = None if logical_date is None else pendulum.instance(logical_date).in_timezone("UTC")
        return dag_test(self.dag, logical_date=when, run_conf=self.conf(**dates))

    def written(self) -> list[date]:
        folder = self.lake / "advertiser/by-day"
        return sorted(date.fromisoformat(p.stem) for p in folder.glob("*.csv")) if folder.exists() else []


@pytest.fixture
def export(
    airflow_db: Path, clean_variables: None, tmp_path: Path, emulator: TrafficStarsEmulator, api_key: str, request: Any
) -> Any:
    """``make(dag_id, schedule, zone, start, report_timezone)``: an Export on a connection in that report zone."""
    monkeypatch = request.getfixturevalue("monkeypatch")

    def make(dag_id: str, schedule: str, zone: str, start: tuple[int, int, int], report_timezone: str) -> Export:
        conn = conn_json(emulator.url, api_key, report_timezone=report_timezone)
        monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn)
        return Export(tmp_path, dag_id, schedule, zone, start)

    return make


def run_days(run: Any) -> list[str]:
    assert task_states(run) == {"export": "success"}, task_states(run)
    return [w["day"] for w in run_xcoms(run)[("export", -1)]]


def week_before(day: date) -> tuple[int, int, int]:
    start = day - timedelta(days=6)
    return start.year, start.month, start.day


# -- rows 1-3: DST changes -------------------------------------------------------------------------------------
#: Airflow 2's @daily, and Airflow 3's with create_cron_data_intervals=True.
DATA_INTERVAL_DAILY = "CronDataIntervalTimetable('0 0 * * *', timezone={zone!r})"
DST_ROWS = [
    # (row, DAG id, schedule, DAG zone, report zone, the DAG's start, the days that used to be lost)
    ("1", "ts_days_london", '"@daily"', "Europe/London", "UTC", (2026, 10, 18), [date(2026, 10, 24)]),
    (
        "1",
        "ts_days_london_intervals",
        DATA_INTERVAL_DAILY,
        "Europe/London",
        "UTC",
        (2026, 10, 18),
        [date(2026, 10, 23), date(2026, 10, 24)],
    ),
    # From midnight in winter: 24-hour intervals start at 01:00 all summer, at 00:00 again after 10-25.
    # (Airflow 2's timedelta schedule; Airflow 3's with create_delta_data_intervals=True.)
    (
        "2",
        "ts_days_berlin_delta",
        "DeltaDataIntervalTimetable(datetime.timedelta(days=1))",
        "Europe/Berlin",
        "Europe/Berlin",
        (2026, 1, 1),
        [date(2026, 10, 25)],
    ),
    *[
        (
            "3",
            f"ts_days_{zone.split('/')[1].lower()}",
            DATA_INTERVAL_DAILY,
            zone,
            zone,
            week_before(day),
            [day],
        )
        for zone, day in (
            ("America/Havana", date(2026, 3, 8)),
            ("America/Santiago", date(2026, 9, 6)),
            ("Africa/Cairo", date(2026, 4, 24)),
            ("Asia/Beirut", date(2026, 3, 29)),
        )
    ],
]


@pytest.mark.parametrize(("row", "dag_id", "schedule", "zone", "report_zone", "start", "lost"), DST_ROWS)
def test_the_runs_around_a_dst_change_leave_no_day_out(
    export: Any,
    row: str,
    dag_id: str,
    schedule: str,
    zone: str,
    report_zone: str,
    start: tuple[int, int, int],
    lost: list[date],
) -> None:
    job = export(dag_id, schedule.format(zone=zone), zone, start, report_zone)
    runs = job.runs_around(lost[0])
    assert len(runs) >= 4
    for run in runs:
        # dag.test() infers the data interval from the logical date as the timetable does for a manual run:
        # the scheduled run's own interval when given the time the scheduler would have run it.
        job.run(run.due)
    written = job.written()
    assert set(lost) <= set(written), f"row {row}: {lost} never exported ({written})"
    assert written == days(written[0], written[-1]), f"row {row}: a gap in {written}"


# -- row 4: missed runs -------------------------------------------------------------------------------------------
def test_the_days_of_runs_the_scheduler_missed_are_exported_by_the_next_run(export: Any) -> None:
    """The scheduler was down two days (catchup=False): the next run exports them as well."""
    job = export("ts_days_missed", '"@daily"', "UTC", (2026, 10, 25), "UTC")
    assert run_days(job.run(pendulum.datetime(2026, 11, 1, tz="UTC"))) == ["2026-10-31"]
    # The runs of 11-02 and 11-03 never happened.
    assert run_days(job.run(pendulum.datetime(2026, 11, 4, tz="UTC"))) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert job.written() == days("2026-10-31", "2026-11-03")
    # A re-export of a past range covers it and never moves the cursor back: the next run goes on from 11-03.
    assert run_days(job.run(pendulum.datetime(2026, 11, 4, 1, tz="UTC"), date_from="2026-10-01", date_to="2026-10-02"))
    assert run_days(job.run(pendulum.datetime(2026, 11, 5, tz="UTC"))) == ["2026-11-04"]


def test_a_catch_up_longer_than_max_catchup_days_fails_naming_the_date_from_to_use(
    export: Any, emulator: TrafficStarsEmulator
) -> None:
    job = export("ts_days_paused", '"@daily"', "UTC", (2026, 8, 1), "UTC")
    assert run_days(job.run(pendulum.datetime(2026, 8, 2, tz="UTC"))) == ["2026-08-01"]
    calls = emulator.count("GET", BY_DAY)
    failed = job.run(pendulum.datetime(2026, 10, 1, tz="UTC"))  # paused for two months
    assert task_states(failed) == {"export": "failed"} and emulator.count("GET", BY_DAY) == calls
    # What the error says: one run from the day after the cursor; then the schedule goes on.
    assert run_days(job.run(pendulum.datetime(2026, 10, 1, 1, tz="UTC"), date_from="2026-08-02")) == [
        d.isoformat() for d in days("2026-08-02", "2026-09-30")
    ]
    assert run_days(job.run(pendulum.datetime(2026, 10, 2, tz="UTC"))) == ["2026-10-01"]
    assert job.written() == days("2026-08-01", "2026-10-01")


# -- row 14: a day that has not ended -------------------------------------------------------------------------
def test_a_run_never_exports_a_day_that_has_not_ended(export: Any, emulator: TrafficStarsEmulator) -> None:
    job = export("ts_days_future", "None", "UTC", (2026, 1, 1), "UTC")
    tomorrow = pendulum.now("UTC").start_of("day") + timedelta(days=1)
    run = job.run(tomorrow)  # its own day is today
    ti = run.get_task_instance("export")
    if AIRFLOW_V_3:
        today_at_start = ti.start_date.astimezone(timezone.utc).date()
        assert all(date.fromisoformat(day) < today_at_start for day in run_days(run))
        assert all(day < today_at_start for day in job.written())
    else:  # pragma: no cover - Airflow 2 never starts a task whose logical date is in the future
        assert ti.start_date is None and job.written() == []
    # Naming that day is refused before any call, as a typed error.
    calls = emulator.count("GET", BY_DAY)
    failed = job.run(pendulum.now("UTC").subtract(hours=1), date_from="2026-11-01", date_to=tomorrow.date().isoformat())
    assert task_states(failed) == {"export": "failed"} and emulator.count("GET", BY_DAY) == calls
    from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

    operator = TrafficStarsReportToStorageOperator(
        task_id="t",
        report="advertiser/by-day",
        destination=f"file://{job.lake}/{{day}}.{{ext}}",
        date_from="2026-11-01",
        date_to=tomorrow.date().isoformat(),
    )
    with pytest.raises(TrafficStarsCoverageError) as caught:
        operator.execute({"data_interval_start": None, "data_interval_end": None, "dag_run": None})
    assert (caught.value.reason, caught.value.argument, caught.value.day) == ("not_ended", "date_to", tomorrow.date())


# -- row 8: a run without a logical date, cleared later -------------------------------------------------------------
@requires_airflow_3
def test_a_cleared_run_without_a_logical_date_exports_the_days_of_its_first_try(export: Any) -> None:
    """Triggered with no date two days ago, cleared now: the days its first try exported, not today's."""
    job = export("ts_days_cleared", "None", "UTC", (2026, 1, 1), "UTC")
    if "run_after" not in inspect.signature(job.dag.test).parameters:  # pragma: no cover - Airflow 3.0
        pytest.skip("dag.test() takes no run_after on this Airflow version")
    due = pendulum.now("UTC").subtract(days=2)
    own = (due - timedelta(days=1)).date()
    # The cursor is three days behind that run's own day (an earlier dated run) ...
    assert run_days(job.run(pendulum.datetime(own.year, own.month, own.day, tz="UTC") - timedelta(days=2)))
    # ... so the dateless run catches up: three days.
    first = job.dag.test(logical_date=None, run_after=due, run_conf=job.conf())
    assert first.logical_date is None and first.run_after == due
    first_days = run_days(first)
    assert first_days == [d.isoformat() for d in days(own - timedelta(days=2), own)]
    # A later run moves the cursor on.
    assert run_days(job.run(pendulum.now("UTC").start_of("day")))
    # Cleared and run again: its start_date is now; its days are those of its first try.
    again = clear_and_rerun(job.dag, first.run_id)
    assert again.run_id == first.run_id and again.start_date > due + timedelta(days=1)
    assert run_days(again) == first_days
