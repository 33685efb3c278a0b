"""TrafficStars reports: the catalogue, argument checks, the report time zone, and the stable schema.

No Airflow imports: the hook, the transfer operator and the tests share these decisions, each made once.

- :data:`REPORTS` maps each report name (``"advertiser/by-campaign"``, ...) to its endpoint, filter and fields.
- :func:`report_query` checks a report call's arguments before anything is sent.
- :func:`report_timezone` reads the zone in which report days start (which days a run covers is
  :mod:`~airflow_provider_trafficstars.client.reports._coverage`'s decision).
- :func:`table` turns an answer into rows of a fixed column order, typed, in a fixed row order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_trafficstars.client.errors import TrafficStarsConfigError

#: Metrics of every report, in their fixed column order, with their types.
METRICS: dict[str, type] = {
    "impressions": int,
    "clicks": int,
    "leads": int,
    "amount": float,
    "ctr": float,
    "ecpm": float,
    "ecpc": float,
    "ecpa": float,
}
#: Types of the known non-metric fields; any other field is "unknown" (kept as it comes, appended sorted).
DIMENSIONS: dict[str, type] = {
    "day": str,
    "id": int,
    "campaign_id": int,
    "name": str,
    "status": str,
    "country": str,
    "banner_id": int,
    "spot_id": int,
}
FIELD_TYPES: dict[str, type] = {**DIMENSIONS, **METRICS}
#: The name of the campaign-list snapshot, which the transfer treats like a report.
CAMPAIGNS = "campaigns"
CAMPAIGNS_PATH = "/v1.1/campaigns"
#: Most days one by-day call asks for (a longer range is split; memory stays bounded by one answer).
MAX_DAYS_PER_CALL = 366

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_FILTER_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ReportSpec:
    """One report (or the campaign list): where it lives, how it is filtered, and its known fields in order.

    :param name: the name users give, e.g. ``"advertiser/by-campaign"``.
    :param path: the endpoint.
    :param filter_param: the one array filter it takes (sent as ``<name>[]``).
    :param fields: its own known fields in their fixed column order; ``day`` first.
    :param per_day: True when one call over a range answers one row per day (by-day); every other
        report aggregates over the range, so it is fetched one day per call.
    """

    name: str
    path: str
    filter_param: str
    fields: tuple[str, ...]
    per_day: bool = False

    @property
    def is_campaigns(self) -> bool:
        return self.name == CAMPAIGNS


def _report(side: str, breakdown: str, *dimensions: str) -> ReportSpec:
    return ReportSpec(
        name=f"{side}/by-{breakdown}",
        path=f"/v1.1/{side}/custom/report/by-{breakdown}",
        filter_param="campaign_id" if side == "advertiser" else "spot_id",
        fields=("day", *dimensions, *METRICS),
        per_day=breakdown == "day",
    )


REPORTS: dict[str, ReportSpec] = {
    spec.name: spec
    for spec in (
        _report("advertiser", "day"),
        _report("advertiser", "campaign", "campaign_id", "name"),
        _report("advertiser", "country", "country"),
        _report("advertiser", "creative", "banner_id"),
        _report("advertiser", "spot", "spot_id"),
        _report("publisher", "day"),
        _report("publisher", "spot", "spot_id"),
        _report("publisher", "country", "country"),
    )
}
CAMPAIGNS_SPEC = ReportSpec(CAMPAIGNS, CAMPAIGNS_PATH, "status", ("day", "id", "name", "status"))


def report_spec(name: Any, *, allow_campaigns: bool = False) -> ReportSpec:
    """Return the spec of a report name.

    :param allow_campaigns: also accept ``"campaigns"`` (the transfer's campaign-list snapshot).
    :raises TrafficStarsConfigError: for an unknown name, listing the known ones.
    """
    if isinstance(name, str) and name.strip() in REPORTS:
        return REPORTS[name.strip()]
    if allow_campaigns and name == CAMPAIGNS:
        return CAMPAIGNS_SPEC
    known = [*REPORTS, *([CAMPAIGNS] if allow_campaigns else [])]
    raise TrafficStarsConfigError(f"Unknown TrafficStars report {name!r}; use one of: {', '.join(known)}.")


# -- arguments ------------------------------------------------------------------------------------------
def parse_day(value: Any, what: str = "date") -> date:
    """Return a calendar day from a ``date`` or a ``YYYY-MM-DD`` string.

    A ``datetime`` is refused: which day it means depends on a time zone the caller has not named.

    :raises TrafficStarsConfigError: naming ``what`` and the expected form.
    """
    if isinstance(value, datetime):
        raise TrafficStarsConfigError(
            f"{what} must be a day (YYYY-MM-DD or a date), not a datetime: pass .date() of it in the time "
            "zone you mean, or a string."
        )
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DAY.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    shown = repr(value) if isinstance(value, (str, int, float)) or value is None else type(value).__name__
    raise TrafficStarsConfigError(f"{what} must be a day written YYYY-MM-DD (e.g. 2026-01-31), got {shown}.")


def day_range(date_from: Any, date_to: Any) -> tuple[date, date]:
    """Return ``(first, last)`` of an inclusive range of days.

    :raises TrafficStarsConfigError: for a malformed day or a reversed range.
    """
    first, last = parse_day(date_from, "date_from"), parse_day(date_to, "date_to")
    if first > last:
        raise TrafficStarsConfigError(
            f"date_from ({first.isoformat()}) is after date_to ({last.isoformat()}): swap them."
        )
    return first, last


def filter_values(spec: ReportSpec, filters: Mapping[str, Any] | None) -> dict[str, list[str | int]]:
    """Return the checked filters of a call, each a list (the API takes them as arrays, ``name[]=``).

    ``{"campaign_id": 7}`` and ``{"campaign_id[]": [7]}`` both mean ``campaign_id[]=7``.

    :raises TrafficStarsConfigError: for a filter the report does not take, or a value that is not an id.
    """
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise TrafficStarsConfigError(
            f"filters must be a mapping such as {{{spec.filter_param!r}: [1, 2]}}, got {type(filters).__name__}."
        )
    out: dict[str, list[str | int]] = {}
    for raw_name, raw in filters.items():
        name = str(raw_name).removesuffix("[]")
        if name != spec.filter_param:
            raise TrafficStarsConfigError(
                f"Report {spec.name!r} takes the filter {spec.filter_param!r} only, not {raw_name!r}."
            )
        values = list(raw) if isinstance(raw, (list, tuple, set, frozenset)) else [raw]
        if not values:  # an empty list would silently mean "no filter": everything
            raise TrafficStarsConfigError(
                f"Filter {name!r} of report {spec.name!r} is empty; leave it out to get every one."
            )
        bad = [v for v in values if not _filter_value_ok(spec, v)]
        if bad:
            raise TrafficStarsConfigError(
                f"Filter {name!r} of report {spec.name!r} must hold "
                f"{'status names' if spec.is_campaigns else 'whole-number ids'}, got {bad[0]!r}."
            )
        # Sorted and de-duplicated: the same filters always make the same query.
        out[name] = sorted({str(v) for v in values}) if spec.is_campaigns else sorted({int(v) for v in values})
    return out


def _filter_value_ok(spec: ReportSpec, value: Any) -> bool:
    if spec.is_campaigns:
        return isinstance(value, str) and _FILTER_NAME.fullmatch(value) is not None
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit())


def report_query(
    spec: ReportSpec, date_from: Any, date_to: Any, filters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the query of a report call (list values are sent as ``name[]=``), checked before any call.

    :raises TrafficStarsConfigError: for a malformed or reversed range, or a bad filter.
    """
    first, last = day_range(date_from, date_to)
    return {"date_from": first.isoformat(), "date_to": last.isoformat(), **filter_values(spec, filters)}


# -- the report time zone -----------------------------------------------------------------------------------
def report_timezone(name: Any, conn_id: str = "?") -> tzinfo:
    """Return the zone of a connection's ``report_timezone`` extra (empty: UTC).

    :raises TrafficStarsConfigError: for a name that is not an IANA time zone such as ``Europe/Berlin``.
    """
    if name is None or (isinstance(name, str) and not name.strip()):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(str(name).strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise TrafficStarsConfigError(
            f"Connection {conn_id!r}: extra 'report_timezone' {name!r} is not a time zone; use an IANA name "
            "such as UTC or Europe/Berlin (the zone in which the account's report days start)."
        ) from None


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def chunks(days: Sequence[date], size: int = MAX_DAYS_PER_CALL) -> list[tuple[date, date]]:
    """Return ``(first, last)`` ranges of at most ``size`` consecutive days covering ``days`` (ascending)."""
    out: list[tuple[date, date]] = []
    for day in days:
        if out and (day - out[-1][0]).days < size and day == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def snapshot_day(taken_at: datetime, tz: tzinfo) -> date:
    """Return the day a snapshot (the campaign list) is filed under: the day it was taken, in ``tz``.

    Never a day of the run's range: a re-export of a past range must not replace that day's snapshot
    with today's list.
    """
    return taken_at.astimezone(tz).date()
