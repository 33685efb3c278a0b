"""Which days a report run covers (coverage.decide) and how the cursor moves (coverage.next_cursor): pure logic.

The property over timetables, zones, missed runs and clears: tests/client/reports/test_coverage_property.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_trafficstars.client.reports._coverage import Coverage, RunTimes, decide, next_cursor, own_days
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError, TrafficStarsCoverageError

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
D = date.fromisoformat
#: A try long after every run below: nothing is clamped by "has not ended yet".
LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def days(*texts: str) -> list[date]:
    return [D(t) for t in texts]


def span(first: str, last: str) -> list[date]:
    return [D(first) + timedelta(days=i) for i in range((D(last) - D(first)).days + 1)]


def times(start: str | None, end: str | None, due: str = "2026-03-10T09:30:00") -> RunTimes:
    return RunTimes(utc(start) if start else None, utc(end) if end else None, utc(due))


def cover(start: str | None, end: str | None, *, due: str = "2026-03-10T09:30:00", **kw: Any) -> Coverage:
    kw.setdefault("tz", UTC)
    kw.setdefault("now", LATER)
    return decide(times=times(start, end, due), **kw)


def covered(start: str | None, end: str | None, **kw: Any) -> list[date]:
    return cover(start, end, **kw).days


# -- a first run (no cursor): the run's own days ------------------------------------------------------------
def test_airflow_3_zero_length_daily_interval_means_yesterday() -> None:
    """A scheduled @daily run on Airflow 3: start = end = today 00:00 UTC; today has just begun."""
    assert covered("2026-03-10T00:00:00", "2026-03-10T00:00:00") == days("2026-03-09")


def test_a_daily_interval_of_one_complete_day() -> None:
    assert covered("2026-03-09T00:00:00", "2026-03-10T00:00:00") == days("2026-03-09")


@pytest.mark.parametrize(("start", "end"), [("05:00", "06:00"), ("00:00", "01:00"), ("23:00", "23:59")])
def test_an_hourly_interval_holds_no_complete_day_so_the_day_before_its_start(start: str, end: str) -> None:
    assert covered(f"2026-03-10T{start}:00", f"2026-03-10T{end}:00") == days("2026-03-09")


def test_an_hourly_interval_ending_at_midnight() -> None:
    assert covered("2026-03-09T23:00:00", "2026-03-10T00:00:00") == days("2026-03-08")
    assert covered("2026-03-09T00:00:00", "2026-03-10T00:00:00") == days("2026-03-09")


def test_a_weekly_interval_and_an_unaligned_one() -> None:
    assert covered("2026-03-02T00:00:00", "2026-03-09T00:00:00") == span("2026-03-02", "2026-03-08")
    assert covered("2026-03-09T12:00:00", "2026-03-12T12:00:00") == days("2026-03-10", "2026-03-11")


def test_a_run_without_a_logical_date_covers_the_day_before_it_was_due() -> None:
    assert covered(None, None, due="2026-03-10T15:00:00") == days("2026-03-09")
    assert covered(None, None, due="2026-03-10T00:00:00") == days("2026-03-09")


def test_dst_days_in_berlin() -> None:
    """2026-03-29 in Berlin runs from 03-28 23:00 UTC to 03-29 22:00 UTC; 10-25 from 10-24 22:00 to 10-25 23:00."""
    assert covered("2026-03-28T23:00:00", "2026-03-29T22:00:00", tz=BERLIN) == days("2026-03-29")
    assert covered("2026-03-29T00:00:00", "2026-03-30T00:00:00", tz=BERLIN) == days("2026-03-28")
    assert covered("2026-10-24T22:00:00", "2026-10-25T23:00:00", tz=BERLIN) == days("2026-10-25")
    assert covered("2026-10-24T22:00:00", "2026-10-25T22:00:00", tz=BERLIN) == days("2026-10-24")


def test_zero_length_interval_in_a_zone_west_of_utc() -> None:
    """00:00 UTC is still the evening before in New York: that day is not over, so the day before it."""
    assert covered("2026-07-10T00:00:00", "2026-07-10T00:00:00", tz=NEW_YORK) == days("2026-07-08")
    assert covered("2026-07-10T04:00:00", "2026-07-10T04:00:00", tz=NEW_YORK) == days("2026-07-09")
    assert covered(None, None, due="2026-07-10T03:59:00", tz=NEW_YORK) == days("2026-07-08")


def test_own_days_have_ended_at_the_end_of_the_interval() -> None:
    base = utc("2026-03-27T00:00:00")
    for tz in (UTC, BERLIN, NEW_YORK, ZoneInfo("Asia/Kolkata"), ZoneInfo("Pacific/Kiritimati")):
        for start_h in range(0, 96, 5):
            for length_h in (0, 1, 24, 49):
                start = base + timedelta(hours=start_h)
                end = start + timedelta(hours=length_h)
                first, last = own_days(RunTimes(start, end, end), tz)
                assert first <= last
                assert datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz) <= end


def test_a_first_run_creates_the_cursor_at_its_last_day() -> None:
    got = cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", lookback_days=2)
    assert got.days == span("2026-03-07", "2026-03-09")
    assert (got.advance_to, got.may_create, got.rule, got.keep) == (D("2026-03-09"), True, "first run", False)
    assert next_cursor(None, got) == D("2026-03-09")


# -- a day that has not ended is never covered ------------------------------------------------------------------
def test_a_run_whose_own_day_has_not_ended_covers_nothing_of_it() -> None:
    """A logical date of tomorrow: its own day is today, which has not ended at the try."""
    now = utc("2026-03-10T09:30:00")
    got = cover("2026-03-11T00:00:00", "2026-03-11T00:00:00", now=now)
    assert got.days == [] and next_cursor(None, got) is None and next_cursor(D("2026-03-09"), got) is None
    # With the cursor behind, the days up to the last complete one are still caught up, and no more.
    got = cover("2026-03-11T00:00:00", "2026-03-11T00:00:00", now=now, cursor=D("2026-03-06"))
    assert got.days == span("2026-03-07", "2026-03-09") and got.keep  # a clear tomorrow must not add today
    # In a zone where 03-10 has not begun at 00:30 UTC, the last complete day is 03-08.
    got = cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", now=utc("2026-03-10T00:30:00"), tz=NEW_YORK)
    assert got.days == days("2026-03-08")


@pytest.mark.parametrize("name", ["date_to", "date_from"])
def test_a_range_naming_a_day_that_has_not_ended_is_refused(name: str) -> None:
    now = utc("2026-03-10T09:30:00")
    kw = {"date_from": "2026-03-01", "date_to": "2026-03-09", name: "2026-03-10"}
    with pytest.raises(TrafficStarsCoverageError) as caught:
        cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", now=now, **kw)
    error = caught.value
    assert isinstance(error, TrafficStarsConfigError)
    assert (error.reason, error.argument, error.day, error.last_complete_day) == (
        "not_ended",
        name,
        D("2026-03-10"),
        D("2026-03-09"),
    )
    assert cover(None, None, now=now, date_from="2026-03-01", date_to="2026-03-09").days == span(
        "2026-03-01", "2026-03-09"
    )


# -- the cursor ---------------------------------------------------------------------------------------------------
def test_a_run_covers_from_the_day_after_the_cursor_to_its_own_last_day() -> None:
    got = cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", cursor=D("2026-03-06"), lookback_days=2)
    assert got.days == span("2026-03-05", "2026-03-09")  # 03-07..03-09 new, 03-05 and 03-06 looked back at
    assert (got.rule, got.keep, got.advance_to) == ("cursor", True, D("2026-03-09"))
    assert next_cursor(D("2026-03-06"), got) == D("2026-03-09")


def test_a_run_at_or_behind_the_cursor_covers_its_own_days() -> None:
    """A rerun, a backfill of an old date, two runs on one day: the run's own days, the cursor stays."""
    got = cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", cursor=D("2026-03-09"))
    assert got.days == days("2026-03-09") and not got.keep
    old = cover("2026-01-10T00:00:00", "2026-01-10T00:00:00", cursor=D("2026-03-09"))
    assert old.days == days("2026-01-09") and next_cursor(D("2026-03-09"), old) is None


def test_a_catch_up_longer_than_max_catchup_days_names_the_date_from_to_use() -> None:
    kw: dict[str, Any] = {"cursor": D("2026-01-31"), "max_catchup_days": 31}
    assert cover("2026-03-05T00:00:00", "2026-03-05T00:00:00", **kw).days == span("2026-02-01", "2026-03-04")
    with pytest.raises(TrafficStarsCoverageError) as caught:
        cover("2026-03-06T00:00:00", "2026-03-06T00:00:00", **kw)
    error = caught.value
    assert (error.reason, error.argument, error.day, error.cursor, error.days) == (
        "catchup",
        "date_from",
        D("2026-02-01"),
        D("2026-01-31"),
        32,
    )
    # What the error says to do: a run with that date_from (date_to empty) exports them all and moves the
    # cursor on, so that the next scheduled run goes on as usual.
    fix = cover("2026-03-06T00:00:00", "2026-03-06T00:00:00", date_from=error.day, **kw)
    assert fix.days == span("2026-02-01", "2026-03-05") and fix.rule == "re-export"
    assert next_cursor(D("2026-01-31"), fix) == D("2026-03-05")
    assert cover("2026-03-07T00:00:00", "2026-03-07T00:00:00", **{**kw, "cursor": D("2026-03-05")}).days == days(
        "2026-03-06"
    )
    with pytest.raises(TrafficStarsCoverageError):
        cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", cursor=D("2026-03-07"), max_catchup_days=0)


# -- re-exports ------------------------------------------------------------------------------------------------
def test_a_re_export_covers_its_range_and_never_moves_the_cursor_back() -> None:
    kw = {"date_from": "2026-01-01", "date_to": D("2026-01-03"), "cursor": D("2026-03-09")}
    got = cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", **kw)
    assert got.days == span("2026-01-01", "2026-01-03") and got.rule == "re-export"
    assert next_cursor(D("2026-03-09"), got) is None
    assert next_cursor(None, got) is None  # a re-export creates no cursor
    # One that starts at or before the day after the cursor and ends beyond it moves it on.
    assert next_cursor(D("2026-01-02"), got) == D("2026-01-03")
    assert next_cursor(D("2025-12-31"), got) == D("2026-01-03")
    assert next_cursor(D("2025-12-30"), got) is None  # 12-31 was never written


def test_one_bound_given_the_other_from_the_own_days() -> None:
    assert covered("2026-03-10T00:00:00", "2026-03-10T00:00:00", date_from="2026-03-07") == span(
        "2026-03-07", "2026-03-09"
    )
    assert covered("2026-03-02T00:00:00", "2026-03-09T00:00:00", date_to="2026-03-03") == days(
        "2026-03-02", "2026-03-03"
    )
    # Empty strings (an unset templated param) count as not given.
    assert covered("2026-03-10T00:00:00", "2026-03-10T00:00:00", date_from="", date_to=" ") == days("2026-03-09")


def test_lookback_days_extend_a_re_export_too() -> None:
    got = covered(None, None, date_from="2026-03-01", date_to="2026-03-01", lookback_days=1)
    assert got == days("2026-02-28", "2026-03-01")


# -- retries and clears ------------------------------------------------------------------------------------------
def test_a_remembered_coverage_wins_over_the_cursor_and_the_clock() -> None:
    first = cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", cursor=D("2026-03-05"))
    remembered = Coverage.from_json(first.to_json())
    assert remembered == Coverage(first.first, first.last, first.advance_to, first.may_create, "remembered")
    again = cover(
        "2026-03-10T00:00:00", "2026-03-10T00:00:00", cursor=D("2026-03-20"), remembered=remembered, now=LATER
    )
    assert again.days == first.days == span("2026-03-06", "2026-03-09")
    assert next_cursor(D("2026-03-20"), again) is None


@pytest.mark.parametrize(
    "data",
    [None, [], {}, {"first": "2026-03-09"}, {"first": "2026-03-09", "last": "2026-03-01"}, {"first": 1, "last": 2}],
)
def test_a_malformed_remembered_coverage_is_none(data: Any) -> None:
    assert Coverage.from_json(data) is None


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"date_from": "2026-03-11"}, "after date_to"),
        ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "after date_to"),
        ({"date_to": "03/01/2026"}, "YYYY-MM-DD"),
        ({"lookback_days": -1}, "lookback_days"),
        ({"lookback_days": True}, "lookback_days"),
        ({"lookback_days": "2"}, "lookback_days"),
        ({"max_catchup_days": -1}, "max_catchup_days"),
        ({"max_catchup_days": 1.5}, "max_catchup_days"),
    ],
)
def test_bad_run_arguments_are_config_errors(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(TrafficStarsConfigError, match=match):
        cover("2026-03-10T00:00:00", "2026-03-10T00:00:00", **kw)
