"""Which days a report run covers: THE rule, decided in :func:`decide` and nowhere else. No Airflow imports.

A report *export* (one account's report, written to one destination) keeps a cursor: the last day it
wrote, with every day before it written too since its first run (:mod:`~.client.cache._cursor`).
A run covers, in the connection's ``report_timezone``:

1. with ``date_from``/``date_to``: exactly that range (a re-export; it never moves the cursor back);
2. a retry or a clear of a run: what its first try covered (remembered beside the cursor);
3. otherwise from the day after the cursor (no cursor yet: the run's own first day) to the run's own last
   day (:func:`own_days`), so that a missed, skipped or paused run, or a DST change the timetable steps
   over, never leaves a day out; at most ``max_catchup_days`` days before its own, else it fails;

plus ``lookback_days`` days before the first one (late conversions). No day is covered that had not
ended when the try started: such a day is left to a later run (a ``date_to`` naming one is an error).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from airflow_provider_trafficstars.client.errors import TrafficStarsConfigError, TrafficStarsCoverageError
from airflow_provider_trafficstars.client.reports._catalogue import day_range, parse_day

DEFAULT_MAX_CATCHUP_DAYS = 31


@dataclass(frozen=True)
class RunTimes:
    """What a run is about, as its timetable made it; nothing a clear or a retry changes.

    :param interval_start: the start of its data interval (None: a run without one, e.g. no logical date).
    :param interval_end: the end of its data interval.
    :param due: when the run was due: ``run_after`` on Airflow 3, else its logical date; never its
        ``start_date`` (a clear resets that).
    """

    interval_start: datetime | None
    interval_end: datetime | None
    due: datetime


@dataclass(frozen=True)
class Coverage:
    """The days one run covers (``first``..``last``; both None: none) and what it may do to the cursor.

    :param advance_to: once every day is written, the cursor may move up to this day (None: never).
    :param may_create: the cursor may be created where there is none (a run of the export's own
        schedule may; a re-export of a past range may not).
    :param rule: which rule decided, for the log: ``first run``, ``cursor``, ``remembered``, ``re-export``.
    :param keep: a retry or a clear of the run would decide other days (they came from the cursor, or
        from the time of the try): the caller remembers this coverage for them.
    """

    first: date | None
    last: date | None
    advance_to: date | None = None
    may_create: bool = False
    rule: str = ""
    keep: bool = False

    @property
    def days(self) -> list[date]:
        """Return the days, ascending."""
        return _days(self.first, self.last) if self.first and self.last else []

    def to_json(self) -> dict[str, Any]:
        iso = _iso
        return {"first": iso(self.first), "last": iso(self.last), "to": iso(self.advance_to), "new": self.may_create}

    @classmethod
    def from_json(cls, data: Any) -> Coverage | None:
        """Return a remembered coverage, or None for anything malformed (then decided afresh)."""
        try:
            first, last = date.fromisoformat(data["first"]), date.fromisoformat(data["last"])
            to = None if data.get("to") is None else date.fromisoformat(data["to"])
            new = data.get("new", False)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if first > last or not isinstance(new, bool):
            return None
        return cls(first, last, to, new, "remembered")


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def own_days(times: RunTimes, tz: tzinfo) -> tuple[date, date]:
    """Return ``(first, last)`` of a run's own days: what a run covers without a cursor.

    1. The complete calendar days (in ``tz``) inside the data interval ``[start, end)``.
    2. None complete (Airflow 3's zero-length ``@daily`` interval, an hourly one): the day before the
       interval's start.
    3. No interval (a run without a logical date): the day before the one on which the run was due.
    """
    if times.interval_start is None or times.interval_end is None:
        day = times.due.astimezone(tz).date() - timedelta(days=1)
        return day, day
    start, end = times.interval_start.astimezone(tz), times.interval_end.astimezone(tz)
    first = start.date() if _midnight(start.date(), tz) == start else start.date() + timedelta(days=1)
    last = end.date() - timedelta(days=1)  # the day that ends at end's local midnight, at or before end
    if first <= last:
        return first, last
    day = start.date() - timedelta(days=1)
    return day, day


def last_complete_day(now: datetime, tz: tzinfo) -> date:
    """Return the last day (in ``tz``) that had ended at ``now``."""
    return now.astimezone(tz).date() - timedelta(days=1)


def check_count(value: Any, name: str) -> int:
    """Return ``value`` if it is a whole number >= 0 (``lookback_days``, ``max_catchup_days``).

    :raises TrafficStarsConfigError: otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TrafficStarsConfigError(f"{name} must be a whole number >= 0, got {value!r}.")
    return value


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def decide(
    *,
    times: RunTimes,
    now: datetime,
    tz: tzinfo,
    cursor: date | None = None,
    remembered: Coverage | None = None,
    date_from: Any = None,
    date_to: Any = None,
    lookback_days: int = 0,
    max_catchup_days: int = DEFAULT_MAX_CATCHUP_DAYS,
) -> Coverage:
    """Return the days a run covers (see the module docstring: the rule the README describes).

    :param times: the run's data interval and when it was due.
    :param now: when this try started (a day that had not ended then is never covered).
    :param tz: the report time zone.
    :param cursor: the export's cursor (None: this is its first run, or it keeps none).
    :param remembered: what the first try of this run covered, if it was a try of this run before.
    :param date_from: first day of a re-export (``YYYY-MM-DD`` or a date); empty: not given.
    :param date_to: last day of a re-export; empty: the run's own last day.
    :param lookback_days: that many days before the first one are covered again (late conversions).
    :param max_catchup_days: most days before its own that a run covers because of the cursor.
    :raises TrafficStarsCoverageError: for a ``date_from``/``date_to`` that had not ended, or a catch-up
        longer than ``max_catchup_days`` (naming the ``date_from`` to run with).
    :raises TrafficStarsConfigError: for a malformed day, a reversed range or a bad count.
    """
    check_count(lookback_days, "lookback_days")
    check_count(max_catchup_days, "max_catchup_days")
    complete = last_complete_day(now, tz)
    if _given(date_from) or _given(date_to):
        return _re_export(times, tz, complete, date_from, date_to, lookback_days, cursor)
    if remembered is not None:
        return remembered
    own_first, own_last = own_days(times, tz)
    first = own_first if cursor is None else min(cursor + timedelta(days=1), own_first)
    gap = (own_first - first).days
    if gap > max_catchup_days:
        raise TrafficStarsCoverageError(
            f"This export's cursor is at {cursor}: the run would also have to export the {gap} day(s) "
            f"{first}..{own_first - timedelta(days=1)} before its own, more than max_catchup_days="
            f"{max_catchup_days}. Export them with one run triggered with date_from={first} (date_to empty: "
            "the cursor then moves on), or raise max_catchup_days.",
            reason="catchup",
            argument="date_from",
            day=first,
            last_complete_day=complete,
            cursor=cursor,
            days=gap,
        )
    last = min(own_last, complete)
    rule = "first run" if cursor is None else "cursor"
    if first > last:
        return Coverage(None, None, rule=rule)
    keep = first < own_first or last < own_last
    return Coverage(first - timedelta(days=lookback_days), last, last, True, rule, keep)


def _re_export(
    times: RunTimes,
    tz: tzinfo,
    complete: date,
    date_from: Any,
    date_to: Any,
    lookback_days: int,
    cursor: date | None,
) -> Coverage:
    """Return the coverage of an explicit range (one end may come from the run's own days)."""
    for name, value in (("date_to", date_to), ("date_from", date_from)):
        if _given(value) and parse_day(value, name) > complete:
            raise TrafficStarsCoverageError(
                f"{name}={parse_day(value, name)} has not ended in the report time zone yet (the last complete "
                f"day is {complete}): set {name} to {complete} or earlier.",
                reason="not_ended",
                argument=name,
                day=parse_day(value, name),
                last_complete_day=complete,
                cursor=cursor,
            )
    if _given(date_from) and _given(date_to):
        first, last = day_range(date_from, date_to)
    else:
        own_first, own_last = own_days(times, tz)
        first, last = day_range(
            date_from if _given(date_from) else own_first, date_to if _given(date_to) else min(own_last, complete)
        )
    first -= timedelta(days=lookback_days)
    # A range that starts at or before the day after the cursor and ends beyond it closes a gap: the cursor
    # may then move on (never back); without a cursor a re-export creates none.
    return Coverage(first, last, last, False, "re-export")


def next_cursor(stored: date | None, coverage: Coverage) -> date | None:
    """Return the cursor after ``coverage``'s days were all written, or None to leave ``stored`` as it is.

    The cursor only ever moves up, and only over days written: from ``stored`` to ``advance_to`` when the
    covered days join what ``stored`` already vouches for.
    """
    to, first = coverage.advance_to, coverage.first
    if to is None or first is None:
        return None
    if stored is None:
        return to if coverage.may_create else None
    if stored >= first - timedelta(days=1) and to > stored:
        return to
    return None


def describe(coverage: Coverage) -> str:
    """Return one line for the log: the range and the rule that chose it."""
    if coverage.first is None:
        return f"nothing ({coverage.rule}: the run's days have not ended yet)"
    return f"{coverage.first}..{coverage.last} ({len(coverage.days)} day(s), {coverage.rule})"
