"""What the report transfer writes, and how: against the emulator, on real files, through the public operator.

Each test is one row of issue 15's table: an answer with nothing in it (5), the campaigns snapshot of a
re-export (6), a plain path or an unusable destination (7), a non-finite number (11), a line break inside
a value (12), an id beyond a float's precision (13).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pendulum
import pytest

from airflow_provider_trafficstars.client.reports import _files as report_files
from airflow_provider_trafficstars.exceptions import TrafficStarsDataError, TrafficStarsDestinationError
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import dag_test, delete_asset_events
from tests.helpers import EXAMPLE_DAGS, TEST_DAGS, conn_json, install_dag, run_xcoms, task_states

pytestmark = pytest.mark.integration
DAG_FILE = TEST_DAGS / "ts_report_transfer.py"
LOAD_EXAMPLE = EXAMPLE_DAGS / "example_trafficstars_report_load.py"
LOGICAL = pendulum.datetime(2026, 3, 1, tz="UTC")
CONTEXT: dict[str, Any] = {"data_interval_start": None, "data_interval_end": None, "dag_run": None}


def conf(base: str, date_from: str, date_to: str) -> dict[str, str]:
    return {"base": base, "date_from": date_from, "date_to": date_to}


def make(**kwargs: Any) -> Any:
    from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

    kwargs.setdefault("report", "advertiser/by-campaign")
    kwargs.setdefault("date_from", "2026-02-01")
    kwargs.setdefault("date_to", kwargs["date_from"])
    return TrafficStarsReportToStorageOperator(task_id="t", **kwargs)


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: its bytes and inode (a rename into place gives a new inode)."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_ino) for p in sorted(root.rglob("*")) if p.is_file()}


def load_example() -> Any:
    """The load example DAG's module (its ``read_rows`` is how users' loads read our objects)."""
    spec = importlib.util.spec_from_file_location("example_trafficstars_report_load_module", LOAD_EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dag(airflow_db: Path, clean_variables: None) -> Iterator[Any]:
    yield install_dag(DAG_FILE)
    delete_asset_events()  # other tests count the events of these Assets


# -- row 5: an empty 200, JSON null or a 204 never replaces a good object --------------------------------------
@pytest.mark.parametrize("answer", ["empty", "null", "204"])
def test_an_answer_with_nothing_in_it_fails_and_leaves_the_good_objects_untouched(
    dag: Any, ts_conn: str, emulator: TrafficStarsEmulator, tmp_path: Path, answer: str
) -> None:
    lake, base = tmp_path / "lake", f"file://{tmp_path}/lake"
    run = dag_test(dag, logical_date=LOGICAL, run_conf=conf(base, "2026-02-01", "2026-02-03"))
    assert set(task_states(run).values()) == {"success"}
    good = files(lake)

    emulator.reports.set_blank_day("2026-02-02", answer)
    run = dag_test(dag, logical_date=LOGICAL + timedelta(hours=1), run_conf=conf(base, "2026-02-01", "2026-02-03"))
    assert task_states(run) == {
        "by_campaign": "failed",
        "by_day": "failed",
        "by_country": "failed",
        "campaigns": "success",
    }
    now = files(lake)
    assert set(now) == set(good)
    for name, (data, inode) in good.items():
        if "campaigns/" in name:
            continue
        # by-campaign and by-country fetch a day per call: 02-01 was written again before 02-02 failed.
        rewritten = "day=2026-02-01" in name and "by-day" not in name
        assert now[name][0] == data, name  # the bytes of every object are the good ones
        assert (now[name][1] != inode) == rewritten, name  # and the failed day's object was never touched

    # The API's own "no rows that day" ([]) still writes the day's (empty) object.
    emulator.reports.set_blank_day("2026-02-02", None)
    emulator.reports.set_quiet_day("2026-02-02")
    run = dag_test(
        dag, logical_date=LOGICAL + timedelta(hours=2), run_conf=conf(base, "2026-02-02", "2026-02-02"), only="by_day"
    )
    assert task_states(run)["by_day"] == "success"
    assert (lake / "advertiser/by-day/day=2026-02-02/part.jsonl").read_bytes() == b""


def test_the_error_of_an_answer_with_nothing_in_it_names_the_report_and_the_day(
    airflow_db: Path, ts_conn: str, emulator: TrafficStarsEmulator, tmp_path: Path
) -> None:
    emulator.reports.set_blank_day("2026-02-02", "204")
    destination = f"file://{tmp_path}/{{report}}/{{day}}.{{ext}}"
    for report, shown in [("advertiser/by-campaign", "2026-02-02"), ("advertiser/by-day", "2026-02-01..2026-02-03")]:
        with pytest.raises(TrafficStarsDataError) as info:
            make(report=report, destination=destination, date_from="2026-02-01", date_to="2026-02-03").execute(CONTEXT)
        assert (info.value.report, info.value.day) == (report, shown)
    # by-campaign wrote 2026-02-01 (one call per day) and stopped at the day that answered nothing.
    assert sorted(p.name for p in tmp_path.rglob("*.csv")) == ["2026-02-01.csv"]


# -- row 6: the campaigns snapshot is filed under the day it was taken ------------------------------------------
def test_a_re_export_files_the_campaigns_snapshot_under_today_and_leaves_the_past_days_snapshot(
    dag: Any, monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator, api_key: str, tmp_path: Path
) -> None:
    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14: its today is UTC's tomorrow from 10:00 UTC on

    def today() -> str:
        return datetime.now(timezone.utc).astimezone(zone).date().isoformat()

    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key, report_timezone=str(zone)))
    lake, base = tmp_path / "lake", f"file://{tmp_path}/lake"
    past = lake / "campaigns/day=2026-02-10/part.csv"
    past.parent.mkdir(parents=True)
    past.write_bytes(b"id,name\n1,the list as it was on 2026-02-10\n")

    def snapshot(hours: int) -> dict[str, Any]:
        before = today()
        run = dag_test(
            dag,
            logical_date=LOGICAL + timedelta(hours=hours),
            run_conf=conf(base, "2026-02-01", "2026-02-10"),  # the README's re-export recipe
            only="campaigns",
        )
        (written,) = run_xcoms(run)[("campaigns", -1)]
        assert written["day"] in {before, today()}  # the day it was taken, in report_timezone
        return dict(written)

    first = snapshot(0)
    assert past.read_bytes() == b"id,name\n1,the list as it was on 2026-02-10\n"
    taken = lake / f"campaigns/day={first['day']}/part.csv"
    data, inode = taken.read_bytes(), taken.stat().st_ino
    assert first["rows"] == 2 and len(report_files.decode("csv", data)) == 2

    second = snapshot(1)  # a rerun the same day replaces it, with the same bytes where nothing changed
    if second["day"] == first["day"]:  # (unless midnight passed in that zone between the two runs)
        assert taken.read_bytes() == data and taken.stat().st_ino != inode
    assert past.read_bytes() == b"id,name\n1,the list as it was on 2026-02-10\n"


# -- row 7: a plain path is a local file renamed into place; an unusable destination fails before any call -----
def test_a_plain_path_is_a_local_file_renamed_into_place_in_a_folder_made_before_any_call(
    dag: Any, ts_conn: str, emulator: TrafficStarsEmulator, tmp_path: Path
) -> None:
    lake = tmp_path / "not" / "there" / "yet"
    run = dag_test(dag, logical_date=LOGICAL, run_conf=conf(str(lake), "2026-02-01", "2026-02-02"), only="by_campaign")
    assert task_states(run)["by_campaign"] == "success"
    written = run_xcoms(run)[("by_campaign", -1)]
    assert [w["url"] for w in written] == [
        f"{lake}/advertiser/by-campaign/day={d}/part.csv" for d in ("2026-02-01", "2026-02-02")
    ]
    first = files(lake)
    assert len(first) == 2 and all(len(report_files.decode("csv", data)) == 3 for data, _ in first.values())

    run = dag_test(
        dag, logical_date=LOGICAL + timedelta(hours=1), run_conf=conf(str(lake), "2026-02-01", "2026-02-02"),
        only="by_campaign",
    )  # fmt: skip
    again = files(lake)
    assert {n: d for n, (d, _) in again.items()} == {n: d for n, (d, _) in first.items()}  # no stray temporary file
    assert all(again[n][1] != inode for n, (_, inode) in first.items())  # renamed into place, not written in place


def _unusable(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "a-file").write_text("not a folder")
    return [
        (f"{tmp_path}/a-file/lake/{{day}}.csv", ""),  # a folder that cannot be made
        (f"file://{tmp_path}/a-file/lake/{{day}}.csv", "file"),
        ("relative/lake/{day}.csv", ""),  # lands wherever the worker runs
        ("file://relative/lake/{day}.csv", "file"),
        ("ftp://ftp.example.com/lake/{day}.csv", "ftp"),  # writes in place
        ("sftp://sftp.example.com/lake/{day}.csv", "sftp"),
        ("https://example.com/lake/{day}.csv", "https"),
        ("webhdfs://namenode/lake/{day}.csv", "webhdfs"),  # no file system Airflow knows
    ]


def test_an_unusable_destination_fails_before_any_call(
    airflow_db: Path, ts_conn: str, emulator: TrafficStarsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for destination, protocol in _unusable(tmp_path):
        with pytest.raises(TrafficStarsDestinationError) as info:
            make(destination=destination).execute(CONTEXT)
        assert (info.value.protocol, info.value.destination) == (protocol, destination)
    assert emulator.count() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


# -- row 11: a non-finite number anywhere is refused, naming the field ---------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"zeta": float("inf")}, "zeta"),  # sent as 1e400: valid JSON, beyond a double
        ({"zeta": float("nan")}, "zeta"),  # sent as NaN
        ({"meta": {"ok": 0.5, "score": [1, float("-inf")]}}, "meta.score[1]"),
    ],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_non_finite_number_is_refused_naming_the_field(
    airflow_db: Path, ts_conn: str, emulator: TrafficStarsEmulator, tmp_path: Path, fields: dict[str, Any],
    field: str, fmt: str,
) -> None:  # fmt: skip
    emulator.reports.set_report_fields(fields)
    destination = f"file://{tmp_path}/{{report}}/{{day}}.{{ext}}"
    with pytest.raises(TrafficStarsDataError) as info:
        make(report="advertiser/by-day", format=fmt, destination=destination).execute(CONTEXT)
    assert (info.value.report, info.value.field, info.value.day) == ("advertiser/by-day", field, "2026-02-01")
    assert emulator.count(path="/v1.1/advertiser/custom/report/by-day") == 1
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


# -- row 12: a line break inside a value never splits a row, for our writer nor our reader ---------------------
def test_a_line_break_inside_a_value_stays_inside_its_row(
    dag: Any, ts_conn: str, emulator: TrafficStarsEmulator, tmp_path: Path
) -> None:
    name = "Spring\rsale\u2028for\u0085all\u2029"  # a lone CR, the line and paragraph separators, NEL
    emulator.reports.set_report_fields({"name": name})  # by-campaign's name, an unknown field of by-day
    lake, base = tmp_path / "lake", f"file://{tmp_path}/lake"
    run = dag_test(dag, logical_date=LOGICAL, run_conf=conf(base, "2026-02-01", "2026-02-01"))
    assert task_states(run)["by_campaign"] == task_states(run)["by_day"] == "success"
    read_rows: Callable[..., list[dict[str, Any]]] = load_example().read_rows

    (by_campaign,) = run_xcoms(run)[("by_campaign", -1)]
    text = (lake / "advertiser/by-campaign/day=2026-02-01/part.csv").read_bytes().decode()
    records = list(csv.reader(io.StringIO(text, newline="")))  # a common CSV reader: one record per row
    assert len(records) == 1 + by_campaign["rows"] == 4 and {r[2] for r in records[1:]} == {name}
    assert [r["name"] for r in read_rows(by_campaign["url"], None)] == [name] * 3

    for written in run_xcoms(run)[("by_day", -1)]:  # JSON Lines: one row per line, whoever splits them
        data = Path(written["url"].removeprefix("file://")).read_bytes().decode()
        assert len(data.splitlines()) == written["rows"] == 1
        assert [r["name"] for r in read_rows(written["url"], None)] == [name]
        assert json.loads(data.splitlines()[0])["name"] == name


# -- row 13: an id beyond a float's precision stays exact --------------------------------------------------------
def test_an_id_beyond_a_floats_precision_stays_exact_in_every_format(
    airflow_db: Path, ts_conn: str, emulator: TrafficStarsEmulator, tmp_path: Path
) -> None:
    pytest.importorskip("pyarrow", reason="pyarrow (the parquet extra) is not installed")
    big = 2**53 + 1  # 9007199254740993: through float it becomes ...992
    emulator.reports.set_report_fields({"campaign_id": str(big)})
    example = load_example()
    for fmt in ("csv", "jsonl", "parquet"):
        (written,) = make(format=fmt, destination=f"file://{tmp_path}/{{day}}.{{ext}}").execute(CONTEXT)
        rows = example.read_rows(written["url"], None)
        assert [example.sql_value(int, r["campaign_id"]) for r in rows] == [big] * 3, fmt
        assert {str(r["campaign_id"]) for r in rows} == {str(big)}

    emulator.reports.set_report_fields({"clicks": "12.5"})  # a whole-number field with a fraction
    with pytest.raises(TrafficStarsDataError) as info:
        make(destination=f"file://{tmp_path}/bad/{{day}}.{{ext}}").execute(CONTEXT)
    assert (info.value.field, info.value.day) == ("clicks", "2026-02-01")
