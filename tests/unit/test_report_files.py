"""Report objects: destinations, the bytes of each format, and writing complete-or-absent (pure logic)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_trafficstars import report_files, reports
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError

SPEC = reports.report_spec("advertiser/by-campaign")
DAY = date(2026, 3, 9)
ROWS = [
    {
        "campaign_id": 2,
        "name": 'Shoes, "red"',
        "clicks": 5,
        "amount": 1.25,
        "extra": {"b": 1, "a": [2, {"d": 0, "c": 1}]},
    },
    {"campaign_id": 1, "name": "Émile", "clicks": None, "amount": 3, "flag": True},
]


def table(rows: list[dict[str, Any]] = ROWS) -> tuple[list[str], list[list[Any]]]:
    return reports.table(SPEC, DAY, rows)


# -- arguments --------------------------------------------------------------------------------------------
def test_formats() -> None:
    assert [report_files.check_format(f) for f in ("csv", "jsonl")] == ["csv", "jsonl"]
    with pytest.raises(TrafficStarsConfigError, match="csv, jsonl, parquet"):
        report_files.check_format("xlsx")


def test_parquet_without_pyarrow_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what `import pyarrow` sees when it is not installed
    with pytest.raises(TrafficStarsConfigError, match=r"airflow-provider-trafficstars\[parquet\]"):
        report_files.check_format("parquet")


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("s3://bucket/{report}/latest.{ext}", "must contain {day}"),
        ("s3://bucket/{date}/x.csv", "unknown placeholder"),
        ("s3://bucket/{day}/{Report}.csv", "unknown placeholder"),
        ("", "object-storage URL"),
        (None, "object-storage URL"),
    ],
)
def test_bad_destinations(template: Any, match: str) -> None:
    with pytest.raises(TrafficStarsConfigError, match=match):
        report_files.check_destination(template)


def test_object_url_fills_the_placeholders() -> None:
    template = report_files.check_destination(" s3://b/ts/{report}/day={day}/part.{ext} ")
    assert report_files.object_url(template, "advertiser/by-day", DAY, "jsonl") == (
        "s3://b/ts/advertiser/by-day/day=2026-03-09/part.jsonl"
    )


# -- encoding ------------------------------------------------------------------------------------------------
def test_csv_has_fixed_columns_text_values_and_a_header_only_when_empty() -> None:
    columns, rows = table()
    text = report_files.encode("csv", SPEC, columns, rows).decode()
    lines = text.splitlines()
    assert lines[0] == "day,campaign_id,name,impressions,clicks,leads,amount,ctr,ecpm,ecpc,ecpa,extra,flag"
    assert lines[1] == "2026-03-09,1,Émile,,,,3.0,,,,,,true"
    assert lines[2] == '2026-03-09,2,"Shoes, ""red""",,5,,1.25,,,,,"{""a"":[2,{""c"":1,""d"":0}],""b"":1}",'
    assert text.endswith("\n") and "\r" not in text
    assert report_files.encode("csv", SPEC, *table([])) == (",".join(SPEC.fields) + "\n").encode()


def test_jsonl_keeps_the_column_order_and_types() -> None:
    columns, rows = table()
    lines = report_files.encode("jsonl", SPEC, columns, rows).decode().splitlines()
    first = json.loads(lines[0])
    assert list(first) == columns and first["amount"] == 3.0 and first["clicks"] is None and first["flag"] is True
    assert lines[1].endswith('"extra":{"a":[2,{"c":1,"d":0}],"b":1},"flag":null}')
    assert report_files.encode("jsonl", SPEC, *table([])) == b""


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_same_rows_give_the_same_bytes_whatever_their_order(fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="pyarrow (the parquet extra) is not installed")
    shuffled = [dict(reversed(list(r.items()))) for r in reversed(ROWS)]
    shuffled[1]["extra"] = {"a": [2, {"c": 1, "d": 0}], "b": 1}  # same object, other key order
    assert report_files.encode(fmt, SPEC, *table()) == report_files.encode(fmt, SPEC, *table(shuffled))


def test_parquet_columns_are_typed_and_unknown_fields_are_text() -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (the parquet extra) is not installed")
    import io

    data = report_files.encode("parquet", SPEC, *table())
    got = pq.read_table(io.BytesIO(data))
    types = {f.name: str(f.type) for f in got.schema}
    assert types == {
        "day": "string", "campaign_id": "int64", "name": "string", "impressions": "int64", "clicks": "int64",
        "leads": "int64", "amount": "double", "ctr": "double", "ecpm": "double", "ecpc": "double", "ecpa": "double",
        "extra": "string", "flag": "string",
    }  # fmt: skip
    assert got.column("extra").to_pylist() == [None, '{"a":[2,{"c":1,"d":0}],"b":1}']
    assert got.column("flag").to_pylist() == ["true", None]
    empty = pq.read_table(io.BytesIO(report_files.encode("parquet", SPEC, *table([]))))
    assert empty.num_rows == 0 and empty.column_names == list(SPEC.fields)


# -- writing -------------------------------------------------------------------------------------------------
@dataclass
class Target:
    protocol: str
    path: str
    fs: Any = None


def test_a_local_object_is_renamed_into_place_with_the_umask_mode(tmp_path: Path) -> None:
    final = tmp_path / "a" / "b" / "part.csv"
    report_files.write_object(Target("file", str(final)), b"one")
    report_files.write_object(Target("file", str(final)), b"two")  # a rerun overwrites
    assert final.read_bytes() == b"two"
    assert sorted(p.name for p in final.parent.iterdir()) == ["part.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o666 & ~umask  # not a temp file's 0600


def test_a_failed_local_write_leaves_neither_the_object_nor_a_temporary_file(tmp_path: Path) -> None:
    final = tmp_path / "part.csv"
    final.mkdir()  # the rename onto it fails after the temporary file was written
    with pytest.raises(OSError):
        report_files.write_object(Target("file", str(final)), b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["part.csv"] and final.is_dir()


def test_an_object_store_gets_one_put() -> None:
    fs = MemoryFileSystem()
    fs.store.clear()
    report_files.write_object(Target("memory", "/bucket/x/part.csv", fs), b"data")
    assert fs.find("/bucket") == ["/bucket/x/part.csv"] and fs.cat_file("/bucket/x/part.csv") == b"data"
    fs.store.clear()
