"""Report objects: where each goes, its bytes in CSV, JSON Lines or Parquet, and writing it complete or not at all.

No Airflow imports: the transfer operator hands in an ``ObjectStoragePath`` (anything with ``protocol``,
``path`` and an fsspec ``fs``). The same rows always give the same bytes, so a rerun over unchanged data
writes byte-identical objects.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError
from airflow_provider_trafficstars.reports import FIELD_TYPES, ReportSpec

FORMATS = ("csv", "jsonl", "parquet")
PLACEHOLDERS = ("report", "day", "ext")
LOCAL_PROTOCOLS = ("file", "local")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class StoragePath(Protocol):
    """What is used of an ``ObjectStoragePath``."""

    @property
    def protocol(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def fs(self) -> Any: ...


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
            "use {report}, {day} and {ext}."
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
    return json.dumps(_canonical(value), ensure_ascii=False, separators=(",", ":"))


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        return _json(value)
    return str(value)


def encode(fmt: str, spec: ReportSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """Return the bytes of one object: a header-only CSV, an empty JSON Lines file or a Parquet file with
    its schema when there are no rows."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_text(v) for v in row] for row in rows)
        return buffer.getvalue().encode("utf-8")
    if fmt == "jsonl":
        # Keys in column order; only nested values get sorted keys.
        lines = (
            json.dumps(
                {c: _canonical(v) for c, v in zip(columns, row, strict=True)}, ensure_ascii=False, separators=(",", ":")
            )
            + "\n"
            for row in rows
        )
        return "".join(lines).encode("utf-8")
    if fmt == "parquet":
        return _parquet(spec, columns, rows)
    raise TrafficStarsConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}.")


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


# -- writing ---------------------------------------------------------------------------------------------------
def write_object(target: StoragePath, data: bytes) -> None:
    """Write ``data`` so that the object appears at its final path only when complete.

    On a local or mounted file system: a temporary file beside the target (a hidden name, removed on
    failure), flushed to disk, then renamed into place. Anywhere else (an object store): one single put
    (``pipe_file``), which the store makes visible only once it is whole.
    """
    if target.protocol in LOCAL_PROTOCOLS:
        _write_local(target.path, data)
    else:
        target.fs.pipe_file(target.path, data)


def _write_local(final: str, data: bytes) -> None:
    directory, name = os.path.split(final)
    os.makedirs(directory or ".", exist_ok=True)
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as handle:  # "x": never reuse a file, created with the umask's mode
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
