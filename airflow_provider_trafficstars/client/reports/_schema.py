"""The stable schema of a report object: an answer's rows, typed, in a fixed column and row order.

No Airflow imports. :func:`table` turns an answer into rows of a fixed column order, typed, in a fixed row
order; :func:`answer_rows` refuses an answer that is not a list of rows (it would replace a good object).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from airflow_provider_trafficstars.client._values import DECIMAL, whole_number
from airflow_provider_trafficstars.client.errors import TrafficStarsDataError
from airflow_provider_trafficstars.client.reports._catalogue import FIELD_TYPES, ReportSpec, _days


# -- the stable schema --------------------------------------------------------------------------------------
def answer_rows(spec: ReportSpec, payload: Any, *, date_from: Any = None, date_to: Any = None) -> list[dict[str, Any]]:
    """Return the rows of an (unwrapped) answer, checking it is a list of objects.

    Nothing at all (an empty body, a 204, JSON ``null``: the hook reads each as None) is refused like any
    other answer that is not a list: it says nothing about the day, and writing it would replace a good
    object with an empty one. The API answers a day without rows with ``[]``.

    :param date_from: first day of the call (``YYYY-MM-DD`` or a date), named in the error.
    :param date_to: last day of the call.
    :raises TrafficStarsDataError: with ``report`` and ``day`` (``first..last`` for a range), when it is not.
    """
    if isinstance(payload, list) and all(isinstance(row, dict) for row in payload):
        return payload
    first, last = (str(d) if d is not None else None for d in (date_from, date_to))
    day = first if first == last or last is None else f"{first}..{last}"
    what = "nothing (an empty body, a 204 or JSON null)" if payload is None else type(payload).__name__
    raise TrafficStarsDataError(
        f"TrafficStars answered {spec.name!r}{f' for {day}' if day else ''} with {what}, not a list of row "
        "objects (a day without rows is answered []). Retry later; if it persists, the API has changed.",
        report=spec.name,
        day=day,
    )


def columns(spec: ReportSpec, rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the columns of one object: the report's known fields, then unknown fields sorted."""
    known = set(spec.fields)
    unknown = {str(key) for row in rows for key in row if key not in known}
    return [*spec.fields, *sorted(unknown)]


def _finite(value: Any, path: str) -> str | None:
    """Return the path of the first non-finite number in ``value`` (nested too), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _finite(v, f"{path}.{k}"))), None)
    if isinstance(value, list):
        return next((p for i, v in enumerate(value) if (p := _finite(v, f"{path}[{i}]"))), None)
    return None


def _typed(spec: ReportSpec, name: str, value: Any, day: date) -> Any:
    kind = FIELD_TYPES.get(name) if name in spec.fields else None
    if kind is None:  # an unknown field is kept as it comes, but only what every format can hold exactly
        bad = _finite(value, name)
        if bad is not None:
            raise TrafficStarsDataError(
                f"Report {spec.name!r}, day {day.isoformat()}: field {bad!r} holds a non-finite number (NaN, or "
                "beyond a double such as 1e400), which JSON cannot hold and no format holds faithfully.",
                report=spec.name,
                field=bad,
                day=day.isoformat(),
            )
        return value
    if value is None:
        return value
    try:
        if isinstance(value, bool):
            raise ValueError
        if kind is int:
            return whole_number(value)
        if kind is float:
            if isinstance(value, str) and DECIMAL.fullmatch(value.strip()):
                value = float(value)
            if not isinstance(value, (int, float)):
                raise ValueError
            result = float(value)
            if not math.isfinite(result):
                raise ValueError
            return result
        if isinstance(value, (dict, list)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError, OverflowError):
        raise TrafficStarsDataError(
            f"Report {spec.name!r}, day {day.isoformat()}: field {name!r} should be "
            f"{'a 64-bit whole number' if kind is int else 'a finite number' if kind is float else 'text'}, "
            f"got {type(value).__name__}.",
            report=spec.name,
            field=name,
            day=day.isoformat(),
        ) from None


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, json.dumps(value, sort_keys=True, default=str))


def table(spec: ReportSpec, day: date, rows: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Return ``(columns, rows)`` of the object of one day: fixed column order, typed values, sorted rows.

    Every row gets ``day`` (a row that carries another day is an error: it belongs to another object).
    Rows are sorted by all their values in column order, so the same data always gives the same bytes.

    :raises TrafficStarsDataError: for a value of the wrong type or a row of another day.
    """
    rows = list(rows)
    cols = columns(spec, rows)
    out: list[list[Any]] = []
    text = day.isoformat()
    for row in rows:
        own = row.get("day")
        if own is not None and str(own)[:10] != text:
            raise TrafficStarsDataError(
                f"Report {spec.name!r}: a row of day {str(own)[:10]!r} was filed under {text}.",
                report=spec.name,
                field="day",
                day=text,
            )
        out.append([text if name == "day" else _typed(spec, name, row.get(name), day) for name in cols])
    out.sort(key=lambda values: [_sort_key(v) for v in values])
    return cols, out


def split_by_day(
    spec: ReportSpec, rows: Iterable[Mapping[str, Any]], first: date, last: date
) -> dict[date, list[Mapping[str, Any]]]:
    """Return the rows of a per-day answer grouped by their ``day`` (every day of the range, maybe empty).

    :raises TrafficStarsDataError: for a row without a day, or a day outside ``first..last``.
    """
    grouped: dict[date, list[Mapping[str, Any]]] = {day: [] for day in _days(first, last)}
    for row in rows:
        raw = row.get("day")
        try:
            day = date.fromisoformat(str(raw)[:10])
        except ValueError:
            day = None
        if day is None or day not in grouped:
            raise TrafficStarsDataError(
                f"Report {spec.name!r} for {first.isoformat()}..{last.isoformat()} answered a row whose day is "
                f"{'missing' if raw is None else 'outside the range'}.",
                report=spec.name,
                field="day",
                day=f"{first.isoformat()}..{last.isoformat()}",
            )
        grouped[day].append(row)
    return grouped
