"""Report objects: destinations, the bytes of each format, and reading them back exactly (pure logic)."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_trafficstars.client.reports import _catalogue as reports
from airflow_provider_trafficstars.client.reports import _files as report_files
from airflow_provider_trafficstars.client.reports import _schema as schema
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError, TrafficStarsDataError

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
    return schema.table(SPEC, DAY, rows)


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


# -- reading back: one reader, splitting lines exactly where the writer ends them ----------------------------
#: Every character some reader takes for a line end (str.splitlines, csv, JavaScript), and a CSV's specials.
BREAKERS = ["\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", ",", '"']


def names_table(names: list[str]) -> tuple[list[str], list[list[Any]]]:
    return table([{"campaign_id": i + 1, "name": n, "meta": {"note": n}} for i, n in enumerate(names)])


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_value_holding_any_line_break_stays_in_its_row(fmt: str) -> None:
    names = [f"Spring{c}sale" for c in BREAKERS] + ["plain", "", " padded "]
    columns, rows = names_table(names)
    data = report_files.encode(fmt, SPEC, columns, rows)
    back = report_files.decode(fmt, data)
    assert [r["name"] for r in back] == [dict(zip(columns, r, strict=True))["name"] for r in rows]
    assert sorted(r["name"] for r in back) == sorted(names)
    if fmt == "jsonl":  # strict JSON Lines: one row per line, whatever splits the lines
        assert len(data.decode().splitlines()) == len(names)
        assert [json.loads(line)["meta"] for line in data.decode().splitlines()] == [json.loads(r)["meta"] for r in
            data.decode().split("\n")[:-1]]  # fmt: skip
    else:  # Python's csv module (a common reader) sees the same rows: every breaking field is quoted
        parsed = list(csv.reader(io.StringIO(data.decode(), newline="")))
        assert len(parsed) == 1 + len(names) and all(len(r) == len(columns) for r in parsed)


def test_the_csv_of_a_lone_carriage_return_is_quoted() -> None:
    line = report_files.encode("csv", SPEC, *names_table(["a\rb"])).decode().split("\n")[1]
    assert ',"a\rb",' in line


def test_pyarrows_csv_reader_sees_the_same_rows() -> None:
    pacsv = pytest.importorskip("pyarrow.csv", reason="pyarrow (the parquet extra) is not installed")
    names = [f"x{c}y" for c in BREAKERS]
    data = report_files.encode("csv", SPEC, *names_table(names))
    parsed = pacsv.read_csv(io.BytesIO(data), parse_options=pacsv.ParseOptions(newlines_in_values=True))
    assert sorted(parsed.column("name").to_pylist()) == sorted(names)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=5), st.sampled_from(["csv", "jsonl"]))
def test_decode_reads_back_exactly_what_encode_wrote(names: list[str], fmt: str) -> None:
    columns, rows = names_table(names)
    back = report_files.decode(fmt, report_files.encode(fmt, SPEC, columns, rows))
    assert [r["name"] for r in back] == [r[columns.index("name")] for r in rows]
    assert [json.loads(r["meta"]) if fmt == "csv" else r["meta"] for r in back] == [
        r[columns.index("meta")] for r in rows
    ]


def test_json_lines_never_hold_nan_or_infinity() -> None:
    columns = [*SPEC.fields, "zeta"]
    row = [DAY.isoformat(), 1, "a", *([None] * 8), float("inf")]  # past schema.table, which names the field
    for fmt in ("jsonl", "csv"):  # CSV writes nested and unknown values as JSON too
        with pytest.raises(TrafficStarsDataError):
            report_files.encode(fmt, SPEC, columns, [row])


def test_whole_numbers_are_written_exactly() -> None:
    columns, rows = table([{"campaign_id": "9007199254740993", "name": "a"}])
    for fmt in ("csv", "jsonl"):
        (back,) = report_files.decode(fmt, report_files.encode(fmt, SPEC, columns, rows))
        assert back["campaign_id"] == ("9007199254740993" if fmt == "csv" else 9007199254740993)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("jsonl", b'{"day":"2026-03-09"}\n{"day":"2026-'),  # cut short
        ("jsonl", b'{"a":NaN}\n'),  # not JSON
        ("csv", b'day,name\n2026-03-09,"open quote\n'),
        ("csv", b"day,name\n2026-03-09,a,b\n"),  # a row wider than the header
        ("csv", b"day,name\n2026-03-09,a"),  # no final line end
    ],
)
def test_an_object_cut_short_or_malformed_is_a_data_error(fmt: str, data: bytes) -> None:
    with pytest.raises(TrafficStarsDataError) as info:
        report_files.decode(fmt, data, report="advertiser/by-campaign")
    assert info.value.report == "advertiser/by-campaign"


def test_format_of_an_object_by_its_name() -> None:
    assert report_files.format_of("s3://b/x/day=2026-03-09/part.jsonl") == "jsonl"
    assert report_files.format_of("/data/part.parquet") == "parquet"
    for url in ("s3://b/x.csv/part", "s3://b/part.txt", "file:///data/part"):
        with pytest.raises(TrafficStarsConfigError):
            report_files.format_of(url)
