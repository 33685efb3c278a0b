"""Report objects: where each goes, and its bytes in CSV, JSON Lines or Parquet, written and read back.

No Airflow imports. The same rows always give the same bytes, so a rerun over unchanged data writes
byte-identical objects. :func:`encode` writes them and :func:`decode` is THE reader of them (the load
example's too), splitting lines exactly where the writer ends them: JSON Lines ends each row with ``\n``
and escapes every other character a reader may take for a line break; CSV quotes every field holding one.
How an object reaches its store complete or not at all is ``report_storage``'s.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from airflow_provider_trafficstars.client.errors import TrafficStarsConfigError, TrafficStarsDataError
from airflow_provider_trafficstars.client.reports._catalogue import FIELD_TYPES, ReportSpec

FORMATS = ("csv", "jsonl", "parquet")
PLACEHOLDERS = ("report", "day", "ext")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: Every character that ``str.splitlines()`` (and so many a line-based reader) ends a line at.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
#: What JSON leaves raw but a line splitter breaks at; JSON escapes the rest of LINE_BREAKS itself.
_JSON_ESCAPES = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}
#: A CSV field holding one of these is quoted (RFC 4180's rule, widened to every line break).
_CSV_QUOTE = re.compile(f'[,"{LINE_BREAKS}]')


def check_format(fmt: Any) -> str:
    """Return the format, or raise when it is unknown or (Parquet) its library is not installed.

    :raises TrafficStarsConfigError: naming the formats, or the extra that installs pyarrow.
    """
    if fmt not in FORMATS:
        raise TrafficStarsConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise TrafficStarsConfigError(
                "format='parquet' needs pyarrow, which is not installed: "
                "pip install 'airflow-provider-trafficstars[parquet]' (or choose csv or jsonl)."
            ) from None
    return str(fmt)


def check_destination(template: Any) -> str:
    """Return a destination template after checking its placeholders.

    It must hold ``{day}`` (one object per day; without it every day would overwrite the last) and no
    placeholder other than ``{report}``, ``{day}`` and ``{ext}``.

    :raises TrafficStarsConfigError: naming what is wrong.
    """
    if not isinstance(template, str) or not template.strip():
        raise TrafficStarsConfigError(
            "destination must be an object-storage URL such as s3://bucket/{report}/{day}.{ext}"
        )
    names = _PLACEHOLDER.findall(template)
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise TrafficStarsConfigError(
            f"destination has unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
            "use {report}, {day}, {ext} and, in the transfer, {account} (the connection id)."
        )
    if "day" not in names:
        raise TrafficStarsConfigError(
            "destination must contain {day}: the transfer writes one object per day, e.g. "
            "s3://bucket/trafficstars/{report}/day={day}/part.{ext}."
        )
    return template.strip()


def object_url(template: str, report: str, day: date, fmt: str) -> str:
    """Return the URL of one object: the template with its placeholders filled in."""
    values = {"report": report, "day": day.isoformat(), "ext": fmt}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


# -- encoding -----------------------------------------------------------------------------------------------
def _canonical(value: Any) -> Any:
    """Nested objects with sorted keys: the server's key order must not change the bytes."""
    if isinstance(value, dict):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _json(value: Any) -> str:
    """One JSON text on one line: nested keys sorted, no NaN/Infinity (not JSON), no raw line separator.

    :raises ValueError: for a non-finite number (``reports.table`` refuses those first, naming the field).
    """
    return _dumps(_canonical(value))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).translate(_JSON_ESCAPES)


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return repr(value)
    if isinstance(value, (dict, list)):
        return _json(value)
    return str(value)


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if _CSV_QUOTE.search(text) else text


def _csv_line(values: Sequence[str]) -> str:
    return ",".join(_csv_field(v) for v in values) + "\n"


def encode(fmt: str, spec: ReportSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """Return the bytes of one object: a header-only CSV, an empty JSON Lines file or a Parquet file with
    its schema when there are no rows.

    :raises TrafficStarsDataError: for a value JSON cannot hold (a non-finite number).
    """
    try:
        if fmt == "csv":
            lines = [_csv_line(columns), *(_csv_line([_csv_text(v) for v in row]) for row in rows)]
            return "".join(lines).encode("utf-8")
        if fmt == "jsonl":
            # Keys in column order; only nested values get sorted keys.
            lines = [_dumps({c: _canonical(v) for c, v in zip(columns, row, strict=True)}) + "\n" for row in rows]
            return "".join(lines).encode("utf-8")
    except ValueError as error:
        raise TrafficStarsDataError(f"Report {spec.name!r}: {error}", report=spec.name) from None
    if fmt == "parquet":
        return _parquet(spec, columns, rows)
    raise TrafficStarsConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}.")


def format_of(url: str) -> str:
    """Return the format of an object from its name's extension (``.csv``, ``.jsonl``, ``.parquet``).

    :raises TrafficStarsConfigError: for any other name.
    """
    name = url.rsplit("/", 1)[-1]
    ext = name.rpartition(".")[2] if "." in name else ""
    if ext not in FORMATS:
        raise TrafficStarsConfigError(f"{url!r} is not named .csv, .jsonl or .parquet: which format is it?")
    return ext


def decode(fmt: str, data: bytes, *, report: str = "?") -> list[dict[str, Any]]:
    """Return the rows of an object written by :func:`encode`: THE reader of our objects.

    CSV values come back as text (``""`` for a missing value), JSON Lines and Parquet values typed.
    Lines are split exactly where :func:`encode` ends them, never at U+2028 or a lone CR inside a value.

    :raises TrafficStarsDataError: for an object cut short (JSON Lines without its final line end, an
        unterminated CSV quote) or one that is not of that format.
    """
    if fmt == "parquet":
        import pyarrow.parquet as pq  # the `parquet` extra

        return list(pq.read_table(io.BytesIO(data)).to_pylist())
    if fmt not in ("csv", "jsonl"):
        raise TrafficStarsConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    text = data.decode("utf-8")
    if text and not text.endswith("\n"):
        raise TrafficStarsDataError(f"A {report!r} {fmt} object ends inside a row: cut short?", report=report)
    try:
        if fmt == "jsonl":
            return [json.loads(line, parse_constant=_not_json) for line in text.split("\n")[:-1]]
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, [])
        return [dict(zip(header, row, strict=True)) for row in reader]
    except (csv.Error, ValueError) as error:  # JSONDecodeError is a ValueError
        raise TrafficStarsDataError(f"A {report!r} {fmt} object is malformed: {error}", report=report) from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parquet(spec: ReportSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_type = {int: pa.int64(), float: pa.float64(), str: pa.string()}
    known = set(spec.fields)
    arrays, fields = [], []
    for index, name in enumerate(columns):
        values = [row[index] for row in rows]
        if name in known:
            kind = arrow_type[FIELD_TYPES[name]]
        else:  # unknown fields: text (JSON for anything but text), so that mixed values never break the schema
            kind = pa.string()
            values = [v if v is None or isinstance(v, str) else _json(v) for v in values]
        fields.append(pa.field(name, kind))
        arrays.append(pa.array(values, type=kind))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
