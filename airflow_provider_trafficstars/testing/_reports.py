"""The report endpoints of the TrafficStars emulator: strict arguments, deterministic rows, and switches.

Stdlib only, no Airflow. ``emulator_http.py`` routes ``GET /v1.1/{advertiser,publisher}/custom/report/by-*`` here,
``emulator_control.py`` the control endpoints named in :data:`CONTROLS`; the switches are :class:`ReportState`'s
methods.

What the documented API does, and so what this does:

- ``date_from`` and ``date_to`` are both required, exactly once, ``YYYY-MM-DD``; a reversed range is a 400.
- A range aggregates over its days, except by-day: one row per day.
- Filters are arrays, ``campaign_id[]=1&campaign_id[]=2`` (advertiser) and ``spot_id[]=`` (publisher). A bare
  ``campaign_id=1`` is a 400 here: the docs only know the array form, and a server that ignored it would
  silently answer every campaign.
- The answer is a bare JSON array. A non-finite number a switch puts in a row is sent as ``1e400`` /
  ``-1e400`` (valid JSON, beyond a double) or ``NaN`` (not JSON, but what some servers send).

Every number is a pure function of (what, day, revision), so two runs over the same data see the same rows.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from airflow_provider_trafficstars.testing._state import ApiError

ADVERTISER = ("day", "campaign", "country", "creative", "spot")
PUBLISHER = ("day", "spot", "country")
#: path -> (side, breakdown)
REPORT_PATHS: dict[str, tuple[str, str]] = {
    **{f"/v1.1/advertiser/custom/report/by-{b}": ("advertiser", b) for b in ADVERTISER},
    **{f"/v1.1/publisher/custom/report/by-{b}": ("publisher", b) for b in PUBLISHER},
}
COUNTRIES = ("DE", "FR", "GB", "NL", "US")
#: Spots an advertiser's ads ran on, and the spots of the publisher account.
ADVERTISER_SPOTS = tuple(range(9001, 9006))
PUBLISHER_SPOTS = tuple(range(5001, 5007))
BANNERS_PER_CAMPAIGN = 2
MAX_DAYS = 3660
#: Control endpoints (``POST /_emulator/<name>``) of the switches, with their JSON arguments.
CONTROLS = ("revise_day", "fail_day", "large_day", "quiet_day", "report_fields", "blank_day")
#: What ``set_blank_day`` makes a report call answer: a 200 with no body, a 200 with ``null``, a 204.
BLANK_ANSWERS = ("empty", "null", "204")


def _bad(description: str) -> ApiError:
    return ApiError(400, "invalid_request", description)


@dataclass
class ReportState:
    """The report switches, behind one lock (handler threads and the test thread share them)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    revisions: dict[date, int] = field(default_factory=dict)
    failing: dict[date, list[Any]] = field(default_factory=dict)  # day -> [status, times left or None]
    large: dict[date, int] = field(default_factory=dict)
    quiet: set[date] = field(default_factory=set)
    extra_fields: dict[str, Any] = field(default_factory=dict)
    blank: dict[date, str] = field(default_factory=dict)

    def revise_day(self, day: date | str, times: int = 1) -> None:
        """Revise a past day's numbers, as late conversions do: its leads grow in every report."""
        if times < 1:
            raise ValueError("times must be >= 1")
        with self.lock:
            key = _day(day)
            self.revisions[key] = self.revisions.get(key, 0) + times

    def fail_day(self, day: date | str, status: int | None = 500, *, times: int | None = None) -> None:
        """Answer ``status`` to every report call whose range holds ``day`` (``times`` calls; None: until
        cleared). ``status=None`` clears it."""
        if status is not None and not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self.lock:
            if status is None:
                self.failing.pop(_day(day), None)
            else:
                self.failing[_day(day)] = [status, times]

    def set_large_day(self, day: date | str, rows: int | None = 10_000) -> None:
        """Make the by-spot reports answer ``rows`` rows for ``day`` (memory benchmarks); None: back to normal."""
        if rows is not None and not 1 <= rows <= 1_000_000:
            raise ValueError("rows must be 1..1000000 or None")
        with self.lock:
            if rows is None:
                self.large.pop(_day(day), None)
            else:
                self.large[_day(day)] = rows

    def set_quiet_day(self, day: date | str, quiet: bool = True) -> None:
        """Make ``day`` one on which nothing happened: no rows in any report."""
        with self.lock:
            (self.quiet.add if quiet else self.quiet.discard)(_day(day))

    def set_report_fields(self, fields: dict[str, Any] | None) -> None:
        """Add these fields (names unknown to the client, say) to every report row; None or {}: none."""
        if fields is not None and not all(isinstance(k, str) and k for k in fields):
            raise ValueError("field names must be non-empty strings")
        with self.lock:
            self.extra_fields = dict(fields or {})

    def set_blank_day(self, day: date | str, answer: str | None = "empty") -> None:
        """Answer every report call whose range holds ``day`` with nothing: ``"empty"`` (a 200 without a
        body), ``"null"`` (a 200 with JSON ``null``) or ``"204"`` (No Content); None: back to normal."""
        if answer is not None and answer not in BLANK_ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(BLANK_ANSWERS)} or None")
        with self.lock:
            if answer is None:
                self.blank.pop(_day(day), None)
            else:
                self.blank[_day(day)] = answer

    def reset(self) -> None:
        with self.lock:
            self.revisions.clear()
            self.failing.clear()
            self.large.clear()
            self.quiet.clear()
            self.extra_fields = {}
            self.blank.clear()

    def _blank_for(self, first: date, last: date) -> str | None:
        with self.lock:
            return next((kind for day, kind in sorted(self.blank.items()) if first <= day <= last), None)

    def _take_failure(self, first: date, last: date) -> int | None:
        with self.lock:
            for day in sorted(self.failing):
                if first <= day <= last:
                    status, left = self.failing[day]
                    if left is not None:
                        if left <= 1:
                            del self.failing[day]
                        else:
                            self.failing[day][1] = left - 1
                    return int(status)
            return None

    def _snapshot(self) -> tuple[dict[date, int], dict[date, int], set[date], dict[str, Any]]:
        with self.lock:
            return dict(self.revisions), dict(self.large), set(self.quiet), dict(self.extra_fields)


def _day(value: date | str) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("day must be a date or YYYY-MM-DD")
    return date.fromisoformat(value)


# -- requests ---------------------------------------------------------------------------------------------
def _one_day(params: Sequence[tuple[str, str]], name: str) -> date:
    values = [v for k, v in params if k == name]
    if len(values) != 1:
        raise _bad(f"exactly one {name}=YYYY-MM-DD is required")
    text = values[0]
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise _bad(f"{name} must be YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(f"{name} is not a valid date") from None


def _ids(params: Sequence[tuple[str, str]], name: str, known: Iterable[int]) -> list[int] | None:
    """The ids of the array filter ``name[]`` (None: not given); 404 for an id the account does not have."""
    if any(k == name for k, _ in params):
        raise _bad(f"{name} is an array: send it as {name}[]=1&{name}[]=2")
    raw = [v for k, v in params if k == f"{name}[]"]
    if not raw:
        return None
    if not all(v.isascii() and v.isdigit() for v in raw):
        raise _bad(f"{name}[] must hold integers")
    ids = sorted({int(v) for v in raw})
    allowed = set(known)
    for value in ids:
        if value not in allowed:
            raise ApiError(404, "not_found", f"{name.removesuffix('_id')} {value} not found")
    return ids


def answer(state: ReportState, path: str, params: Sequence[tuple[str, str]], campaigns: Sequence[int]) -> list[Any]:
    """Return the rows of one report request (a bare JSON array), or raise :class:`~.emulator_state.ApiError`."""
    side, breakdown = REPORT_PATHS[path]
    first, last = _one_day(params, "date_from"), _one_day(params, "date_to")
    if first > last:
        raise _bad("date_from must not be after date_to")
    if (last - first).days >= MAX_DAYS:
        raise _bad(f"at most {MAX_DAYS} days per request")
    own, other = ("campaign_id", "spot_id") if side == "advertiser" else ("spot_id", "campaign_id")
    if any(k in (other, f"{other}[]") for k, _ in params):
        raise _bad(f"{side} reports are filtered by {own}[], not {other}")
    entities = list(campaigns) if side == "advertiser" else list(PUBLISHER_SPOTS)
    chosen = _ids(params, own, entities)
    failure = state._take_failure(first, last)
    if failure is not None:
        raise ApiError(failure, "server_error" if failure >= 500 else "invalid_request", "emulated failing day")
    revisions, large, quiet, extra = state._snapshot()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days = [d for d in days if d not in quiet]
    if not days:  # nothing happened: no row at all, not rows of zeros
        return []
    return [
        {**row, **extra}
        for row in _rows(side, breakdown, entities if chosen is None else chosen, days, revisions, large)
    ]


def respond(
    state: ReportState, path: str, params: Sequence[tuple[str, str]], campaigns: Sequence[int]
) -> tuple[int, bytes | None]:
    """Return ``(status, body)`` of one report request (None: no body at all), or raise an ApiError."""
    rows = answer(state, path, params, campaigns)
    blank = state._blank_for(_one_day(params, "date_from"), _one_day(params, "date_to"))
    if blank is not None:
        return (204, None) if blank == "204" else (200, b"null" if blank == "null" else None)
    return 200, encode(rows)


_STRING_OR_INFINITY = re.compile(r'"(?:[^"\\]|\\.)*"|Infinity')


def encode(payload: Any) -> bytes:
    """Return ``payload`` as JSON, with an infinity written ``1e400`` (valid JSON that no double holds)."""
    text = json.dumps(payload)
    return _STRING_OR_INFINITY.sub(lambda m: "1e400" if m.group(0) == "Infinity" else m.group(0), text).encode()


# -- deterministic numbers --------------------------------------------------------------------------------
def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def _cell(kind: str, key: object, day: date, revision: int) -> list[float]:
    """impressions, clicks, leads, amount of one thing on one day; a revision adds late leads."""
    h = _digest(kind, key, day.isoformat())
    impressions = 1_000 + h % 99_000
    clicks = impressions * (10 + (h >> 20) % 290) // 10_000
    leads = clicks * ((h >> 32) % 8) // 100 + revision * (1 + h % 3)
    amount = impressions * (0.5 + ((h >> 40) % 451) / 100) / 1000
    return [impressions, clicks, leads, amount]


def _metrics(total: list[float]) -> dict[str, Any]:
    impressions, clicks, leads, amount = int(total[0]), int(total[1]), int(total[2]), total[3]

    def ratio(numerator: float, denominator: float, scale: float = 1.0) -> float:
        return round(numerator * scale / denominator, 4) if denominator else 0.0

    return {
        "impressions": impressions,
        "clicks": clicks,
        "leads": leads,
        "amount": round(amount, 2),
        "ctr": ratio(clicks, impressions, 100),
        "ecpm": ratio(amount, impressions, 1000),
        "ecpc": ratio(amount, clicks),
        "ecpa": ratio(amount, leads),
    }


def _sum(cells: Iterable[list[float]]) -> list[float]:
    total = [0.0, 0.0, 0.0, 0.0]
    for cell in cells:
        total = [a + b for a, b in zip(total, cell, strict=True)]
    return total


def _rows(
    side: str, breakdown: str, entities: list[int], days: list[date], revisions: dict[date, int], large: dict[date, int]
) -> list[dict[str, Any]]:
    kind = "campaign" if side == "advertiser" else "spot"

    def cells(suffix: object, day: date) -> list[list[float]]:
        return [_cell(f"{kind}{suffix}", e, day, revisions.get(day, 0)) for e in entities]

    if breakdown == "day":
        return [{"day": d.isoformat(), **_metrics(_sum(cells("", d)))} for d in days]
    if breakdown == "campaign":
        names = {c: f"Emulated campaign #{c}" for c in entities}
        return [
            {"campaign_id": c, "name": names[c], **_metrics(_sum(_cell(kind, c, d, revisions.get(d, 0)) for d in days))}
            for c in entities
        ]
    if breakdown == "country":
        return [
            {"country": country, **_metrics(_sum(cell for d in days for cell in cells(country, d)))}
            for country in COUNTRIES
        ]
    if breakdown == "creative":
        banners = [c * 100 + k for c in entities for k in range(1, BANNERS_PER_CAMPAIGN + 1)]
        return [
            {"banner_id": b, **_metrics(_sum(_cell("banner", b, d, revisions.get(d, 0)) for d in days))}
            for b in banners
        ]
    # by-spot: an advertiser's ads ran on a few spots; a publisher's spots are its own (the chosen ones).
    spots = list(ADVERTISER_SPOTS) if side == "advertiser" else entities
    big = max((large[d] for d in days if d in large), default=0)
    if big:
        spots = list(range(1, big + 1))
    if side == "publisher":  # the same cells as the publisher's by-day: the two reports agree
        return [{"spot_id": s, **_metrics(_sum(_cell(kind, s, d, revisions.get(d, 0)) for d in days))} for s in spots]
    return [{"spot_id": s, **_metrics(_sum(cell for d in days for cell in cells(f"@{s}", d)))} for s in spots]


# -- control endpoints ----------------------------------------------------------------------------------------
def run_control(state: ReportState, name: str, args: dict[str, Any]) -> None:
    """Apply ``POST /_emulator/<name>`` with JSON ``args``; ValueError/TypeError become a 400."""
    if name == "report_fields":
        fields = args.get("fields")
        if fields is not None and not isinstance(fields, dict):
            raise ValueError("fields must be a JSON object or null")
        state.set_report_fields(fields)
        return
    day = args.get("day")
    if not isinstance(day, str):
        raise ValueError("day must be YYYY-MM-DD")
    if name == "revise_day":
        state.revise_day(day, _opt_int(args, "times", 1) or 1)
    elif name == "fail_day":
        state.fail_day(day, _opt_int(args, "status", 500), times=_opt_int(args, "times", None))
    elif name == "large_day":
        state.set_large_day(day, _opt_int(args, "rows", 10_000))
    elif name == "quiet_day":
        state.set_quiet_day(day, bool(args.get("on", True)))
    elif name == "blank_day":
        kind = args.get("answer", "empty")
        if kind is not None and not isinstance(kind, str):
            raise ValueError("answer must be a string or null")
        state.set_blank_day(day, kind)
    else:  # pragma: no cover - emulator_control.py routes only CONTROLS here
        raise ValueError(f"no such report control: {name}")


def _opt_int(args: dict[str, Any], name: str, default: int | None) -> int | None:
    value = args.get(name, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{name} must be an integer or null")
    return value
