"""The runs Airflow's own timetables make, as its scheduler asks for them (``next_dagrun_info``), for the tests.

No metadata DB: the timetables are plain objects. Import this module after ``tests.helpers`` (it imports
Airflow; ``tests/conftest.py`` imports the helpers first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Run:
    """One DAG run as the scheduler makes it: its data interval (None: none) and when it is due (run_after)."""

    start: datetime | None
    end: datetime | None
    due: datetime


def timetables() -> dict[str, Callable[[str], Any]]:
    """Return ``{name: zone -> timetable}`` of the timetables a DAG's ``schedule`` gives (Airflow's classes)."""
    from airflow.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable
    from airflow.timetables.simple import OnceTimetable
    from airflow.timetables.trigger import CronTriggerTimetable

    return {
        "@daily, Airflow 3 (cron trigger)": lambda z: CronTriggerTimetable("0 0 * * *", timezone=z),
        "@daily, Airflow 2 (cron data interval)": lambda z: CronDataIntervalTimetable("0 0 * * *", timezone=z),
        "timedelta(days=1)": lambda z: DeltaDataIntervalTimetable(timedelta(days=1)),
        "cron trigger, interval of a day": lambda z: CronTriggerTimetable(
            "0 0 * * *", timezone=z, interval=timedelta(days=1)
        ),
        "weekdays at 06:30 (cron trigger)": lambda z: CronTriggerTimetable("30 6 * * 1-5", timezone=z),
        "weekly (cron data interval)": lambda z: CronDataIntervalTimetable("0 0 * * 1", timezone=z),
        "hourly (cron trigger)": lambda z: CronTriggerTimetable("0 * * * *", timezone=z),
        "hourly (cron data interval)": lambda z: CronDataIntervalTimetable("0 * * * *", timezone=z),
        "@once": lambda z: OnceTimetable(),
    }


def timetable_runs(timetable: Any, earliest: datetime, latest: datetime) -> list[Run]:
    """Return every run ``timetable`` makes from ``earliest`` (the DAG's start_date) to ``latest``, catchup=True."""
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(earliest=earliest, latest=latest, catchup=True)
    runs: list[Run] = []
    last = None
    for _ in range(100_000):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None:
            return runs
        last = info.data_interval
        runs.append(Run(last.start, last.end, info.run_after))
    raise AssertionError(f"{timetable!r} made more than 100,000 runs")
