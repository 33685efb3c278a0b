"""TrafficStarsReportToStorageOperator in real DAG runs against the emulator (real Airflow DB, real files)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_trafficstars.client import TrafficStarsClient
from airflow_provider_trafficstars.client.cache._grants import DEFAULT_MARGIN
from airflow_provider_trafficstars.client.reports import _files as report_files
from airflow_provider_trafficstars.client.reports._catalogue import METRICS, REPORTS
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import AIRFLOW_V_3, asset_event_extras, dag_test
from tests.helpers import (
    TEST_DAGS,
    FakeTime,
    assert_no_secret,
    conn_json,
    install_dag,
    run_traces,
    run_xcoms,
    task_states,
)

pytestmark = pytest.mark.integration
DAG_FILE = TEST_DAGS / "ts_report_transfer.py"
BY_CAMPAIGN = REPORTS["advertiser/by-campaign"].path
BY_DAY = REPORTS["advertiser/by-day"].path
LOGICAL = pendulum.datetime(2026, 3, 1, tz="UTC")


def days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def conf(base: str, date_from: str = "", date_to: str = "") -> dict[str, str]:
    return {"base": base, "date_from": date_from, "date_to": date_to}


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def utc_days_since(started: datetime) -> set[str]:
    """The UTC days from ``started`` to now (a snapshot taken meanwhile is filed under one of them)."""
    first, last = started.astimezone(timezone.utc).date(), datetime.now(timezone.utc).date()
    return {(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return report_files.decode("csv", data)  # the one reader of our objects


@pytest.fixture
def dag(airflow_db: Path, clean_variables: None) -> Any:
    return install_dag(DAG_FILE)


def test_runs_write_one_complete_object_per_day_reruns_are_identical_and_lookback_catches_revisions(
    dag: Any,
    ts_conn: str,
    emulator: TrafficStarsEmulator,
    api_key: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emulator.reports.set_quiet_day("2026-02-03")  # nothing happened that day
    emulator.reports.set_report_fields({"zeta": 1, "alpha": "new"})  # fields the provider does not know
    out = tmp_path / "lake"
    started = datetime.now(timezone.utc)
    run = dag_test(dag, logical_date=LOGICAL, run_conf=conf(f"file://{out}", "2026-02-01", "2026-02-10"))
    assert task_states(run) == dict.fromkeys(("by_campaign", "by_day", "by_country", "campaigns"), "success")
    xcoms = run_xcoms(run)

    # by-campaign (CSV): one call and one object per day; the quiet day has a header only.
    campaign_queries = [r.query for r in emulator.request_log() if r.path == BY_CAMPAIGN]
    assert campaign_queries == [f"date_from={d}&date_to={d}" for d in days("2026-02-01", "2026-02-10")]
    written = xcoms[("by_campaign", -1)]
    assert [w["day"] for w in written] == days("2026-02-01", "2026-02-10")
    assert [w["rows"] for w in written] == [3, 3, 0, 3, 3, 3, 3, 3, 3, 3]
    header = ["day", "campaign_id", "name", *METRICS, "alpha", "zeta"]
    for entry in written:
        url = f"file://{out}/advertiser/by-campaign/day={entry['day']}/part.csv"
        assert entry == {"day": entry["day"], "url": url, "rows": entry["rows"], "account": "trafficstars_default"}
        data = Path(url[len("file://") :]).read_bytes()
        # An empty day has a header only: the known fields (unknown ones come with rows).
        assert data.decode().splitlines()[0] == ",".join(header if entry["rows"] else header[:-2])
        server = emulator.reports  # the server's numbers for that day, straight from the emulator
        from airflow_provider_trafficstars.testing._reports import answer

        expected = answer(server, BY_CAMPAIGN, [("date_from", entry["day"]), ("date_to", entry["day"])], [1, 2, 3])
        got = csv_rows(data)
        assert [int(r["campaign_id"]) for r in got] == [e["campaign_id"] for e in expected]
        for row, want in zip(got, expected, strict=True):
            assert row["day"] == entry["day"] and row["name"] == want["name"] and row["alpha"] == "new"
            assert [int(row[m]) for m in ("impressions", "clicks", "leads")] == [
                want[m] for m in ("impressions", "clicks", "leads")
            ]
            assert float(row["amount"]) == want["amount"] and float(row["ecpa"]) == want["ecpa"]

    # by-day (JSON Lines, lookback 2): the 12 days in ONE call, split by day; typed values, fixed key order.
    assert [r.query for r in emulator.request_log() if r.path == BY_DAY] == ["date_from=2026-01-30&date_to=2026-02-10"]
    by_day = xcoms[("by_day", -1)]
    assert [w["day"] for w in by_day] == days("2026-01-30", "2026-02-10")
    assert (out / "advertiser/by-day/day=2026-02-03/part.jsonl").read_bytes() == b""  # fetched, nothing happened
    line = json.loads((out / "advertiser/by-day/day=2026-02-04/part.jsonl").read_text())
    assert list(line) == ["day", *METRICS, "alpha", "zeta"]
    assert line["day"] == "2026-02-04" and type(line["clicks"]) is int and type(line["ctr"]) is float

    # by-country (Parquet, filtered): typed columns; the filter went as campaign_id[].
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (the parquet extra) is not installed")
    table = pq.read_table(str(out / "advertiser/by-country/day=2026-02-05/part.parquet"))
    assert table.column_names == ["day", "country", *METRICS, "alpha", "zeta"]
    types = {f.name: str(f.type) for f in table.schema}
    assert (types["day"], types["impressions"], types["amount"], types["zeta"]) == (
        "string",
        "int64",
        "double",
        "string",
    )
    assert table.column("zeta").to_pylist() == ["1"] * 5  # an unknown field is text in Parquet
    country_queries = [r.query for r in emulator.request_log() if r.path.endswith("by-country")]
    assert len(country_queries) == 10 and all(
        q.endswith("&campaign_id%5B%5D=1&campaign_id%5B%5D=2") for q in country_queries
    )
    empty = pq.read_table(str(out / "advertiser/by-country/day=2026-02-03/part.parquet"))
    assert empty.num_rows == 0 and empty.column_names == ["day", "country", *METRICS]

    # campaigns: one snapshot per run, filed under the day it was taken (UTC here), not a day of the range.
    (snapshot,) = xcoms[("campaigns", -1)]
    assert snapshot["day"] in utc_days_since(started)
    assert snapshot == {
        "day": snapshot["day"],
        "url": f"file://{out}/campaigns/day={snapshot['day']}/part.csv",
        "rows": 2,
        "account": "trafficstars_default",
    }
    assert [r.query for r in emulator.request_log() if r.path == "/v1.1/campaigns"] == ["status%5B%5D=enabled"]

    # One token for the whole run; no GET carried a JSON content type; no temporary file left behind.
    assert emulator.token_requests == 1
    assert [r.header("Content-Type") for r in emulator.request_log() if r.method == "GET"] == [None] * 22
    first = files_under(out)
    assert len(first) == 10 + 12 + 10 + 1 and not [n for n in first if Path(n).name.startswith(".")]

    # The Asset events carry what was written.
    (event,) = asset_event_extras("ts_by_campaign")
    assert event == {
        "report": "advertiser/by-campaign",
        "account": "trafficstars_default",
        "days": days("2026-02-01", "2026-02-10"),
        "rows": 27,
        "urls": [w["url"] for w in written],
    }
    assert asset_event_extras("ts_by_day")[0]["days"] == days("2026-01-30", "2026-02-10")

    # No secret anywhere a user can look.
    objects = b"".join(first.values()).decode("utf-8", "replace")
    assert_no_secret(run_traces(capfd, run) + objects, api_key, *emulator.issued_tokens)

    # A rerun over unchanged data rewrites every object with the same bytes.
    inodes = {n: (out / n).stat().st_ino for n in first}
    dag_test(dag, logical_date=LOGICAL + timedelta(hours=1), run_conf=conf(f"file://{out}", "2026-02-01", "2026-02-10"))
    again = files_under(out)
    if len(utc_days_since(started)) > 1:  # midnight passed: the rerun's snapshot is another day's
        again, first = ({n: v for n, v in d.items() if not n.startswith("campaigns/")} for d in (again, first))
    assert again == first
    assert all((out / n).stat().st_ino != inode for n, inode in inodes.items())  # rewritten, not skipped

    # Late conversions on 02-09: a later daily run (02-11) re-pulls it thanks to lookback_days=2.
    emulator.reports.revise_day("2026-02-09")
    dag_test(
        dag,
        logical_date=LOGICAL + timedelta(hours=2),
        run_conf=conf(f"file://{out}", "2026-02-11", "2026-02-11"),
        only="by_day",
    )
    revised = files_under(out)
    name = "advertiser/by-day/day={}/part.jsonl"
    old, new = json.loads(first[name.format("2026-02-09")]), json.loads(revised[name.format("2026-02-09")])
    assert new["leads"] > old["leads"] and new["impressions"] == old["impressions"]
    assert revised[name.format("2026-02-10")] == first[name.format("2026-02-10")]
    assert name.format("2026-02-11") in revised
    # Without a lookback, by-campaign would have kept the stale numbers of that day:
    assert (
        revised["advertiser/by-campaign/day=2026-02-09/part.csv"]
        == first["advertiser/by-campaign/day=2026-02-09/part.csv"]
    )


@pytest.fixture
def memory_fs() -> Iterator[Any]:
    """An object store (fsspec's in-memory one, attached for ``memory://`` as Airflow's docs describe)."""
    from fsspec.implementations.memory import MemoryFileSystem

    if AIRFLOW_V_3:
        from airflow.sdk.io import attach
    else:  # pragma: no cover - Airflow 2
        from airflow.io.store import attach  # type: ignore[no-redef,attr-defined,unused-ignore]
    fs = MemoryFileSystem()
    fs.store.clear()
    attach(protocol="memory", fs=fs)
    yield fs
    fs.store.clear()


@pytest.mark.parametrize("store", ["file", "memory"])
def test_a_failing_day_leaves_earlier_days_complete_and_nothing_for_the_rest(
    dag: Any,
    monkeypatch: pytest.MonkeyPatch,
    emulator: TrafficStarsEmulator,
    api_key: str,
    tmp_path: Path,
    memory_fs: Any,
    store: str,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key, max_retries=0))
    base = f"file://{tmp_path}/lake" if store == "file" else "memory://bucket/lake"

    def objects() -> list[str]:
        if store == "file":
            root = tmp_path / "lake"
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        return sorted(p.removeprefix("/bucket/lake/") for p in memory_fs.find("/bucket"))

    emulator.reports.fail_day("2026-02-07", 500)  # keeps failing until cleared
    run = dag_test(dag, logical_date=LOGICAL, run_conf=conf(base, "2026-02-01", "2026-02-10"), only="by_campaign")
    assert task_states(run)["by_campaign"] == "failed"
    expected = [f"advertiser/by-campaign/day={d}/part.csv" for d in days("2026-02-01", "2026-02-06")]
    assert objects() == expected  # days 1-6 complete, nothing for 7-10, no temporary object
    for name in expected:
        assert len(csv_rows(read(base, name))) == 3

    emulator.reports.fail_day("2026-02-07", None)
    run = dag_test(
        dag,
        logical_date=LOGICAL + timedelta(hours=1),
        run_conf=conf(base, "2026-02-01", "2026-02-10"),
        only="by_campaign",
    )
    assert task_states(run)["by_campaign"] == "success"
    assert objects() == [f"advertiser/by-campaign/day={d}/part.csv" for d in days("2026-02-01", "2026-02-10")]


def read(base: str, name: str) -> bytes:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    return bytes(ObjectStoragePath(f"{base}/{name}").read_bytes())


def test_which_days_a_run_covers_without_dates(dag: Any, ts_conn: str, tmp_path: Path) -> None:
    """A run with a logical date but no interval of its own (schedule=None: start = end) and, on Airflow 3,
    a run triggered without any logical date (the CLI's and the REST API's default)."""
    base = f"file://{tmp_path}/lake"
    run = dag_test(dag, logical_date=pendulum.datetime(2026, 3, 10, tz="UTC"), run_conf=conf(base))
    xcoms = run_xcoms(run)
    assert [w["day"] for w in xcoms[("by_campaign", -1)]] == ["2026-03-09"]
    assert [w["day"] for w in xcoms[("by_day", -1)]] == days("2026-03-07", "2026-03-09")
    if not AIRFLOW_V_3:  # pragma: no cover - Airflow 2 has no run without a logical date
        return
    started = datetime.now(timezone.utc)
    # Another destination (another export, so its first run): the dated run's cursor would make this one
    # catch up the nine months in between.
    run = dag.test(logical_date=None, run_conf=conf(f"file://{tmp_path}/other"))
    assert run.logical_date is None and set(task_states(run).values()) == {"success"}
    yesterday = (run.start_date.astimezone(pendulum.UTC).date() - timedelta(days=1)).isoformat()
    xcoms = run_xcoms(run)
    assert [w["day"] for w in xcoms[("by_campaign", -1)]] == [yesterday]
    (snapshot,) = xcoms[("campaigns", -1)]
    assert snapshot["day"] in utc_days_since(started)  # the day it was taken
    assert xcoms[("by_day", -1)][-1]["day"] == yesterday and len(xcoms[("by_day", -1)]) == 3


def test_the_rate_limit_never_earns_a_429(
    dag: Any, monkeypatch: pytest.MonkeyPatch, api_key: str, tmp_path: Path
) -> None:
    """The emulator enforces 5 calls per 60 s; the connection says 5: 11 calls, no 429, two windows waited.

    Both clocks are one fake clock that moves only when the client sleeps (it is given to every client the
    operators build): no real minute passes. The budget is the account's, in a Variable, as on a deployment.
    """
    fake = FakeTime(1_800_000_000.0)
    with TrafficStarsEmulator(api_keys=[api_key], rate_limit=(5, 60.0), clock=fake.clock) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emu.url, api_key, rate_limit=5))
        defaults = TrafficStarsClient.__init__.__kwdefaults__
        assert defaults is not None
        monkeypatch.setitem(defaults, "clock", fake.utc)
        monkeypatch.setitem(defaults, "sleep", fake.sleep)
        run = dag_test(
            dag,
            logical_date=LOGICAL,
            run_conf=conf(f"file://{tmp_path}/lake", "2026-02-01", "2026-02-10"),
            only="by_campaign",
        )
        assert task_states(run)["by_campaign"] == "success"
        assert [r.status for r in emu.request_log()] == [200] * 11  # the token request and 10 report calls
        # 11 calls at 5 per window: two windows rolled over (and the lease's short settle waits on the way).
        assert 2 * (60.0 + DEFAULT_MARGIN) <= fake.now - 1_800_000_000.0 <= 2 * (60.0 + DEFAULT_MARGIN) + 30.0


# -- arguments, checked before any call ----------------------------------------------------------------------
def make(**kwargs: Any) -> Any:
    from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

    kwargs.setdefault("report", "advertiser/by-campaign")
    kwargs.setdefault("destination", "file:///tmp/never/{report}/{day}.{ext}")
    return TrafficStarsReportToStorageOperator(task_id="t", **kwargs)


CONTEXT: dict[str, Any] = {"data_interval_start": None, "data_interval_end": None, "dag_run": None}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"report": "advertiser/by-hour"},
        {"report": "by-campaign"},
        {"format": "xlsx"},
        {"lookback_days": -1},
        {"lookback_days": "2"},
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TrafficStarsConfigError):
        make(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"destination": "file:///tmp/never/{report}/latest.csv"},
        {"destination": "file:///tmp/never/{date}.csv"},
        {"date_from": "2026-02-05", "date_to": "2026-02-01"},
        {"date_from": "05/02/2026"},
        {"filters": {"spot_id": [1]}},
        {"report": "campaigns", "filters": {"status": ["not a status"]}},
    ],
)
def test_bad_rendered_arguments_fail_before_any_call(
    airflow_db: Path, ts_conn: str, emulator: TrafficStarsEmulator, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TrafficStarsConfigError):
        make(**kwargs).execute(CONTEXT)
    assert emulator.count() == 0


@pytest.mark.parametrize("conn_id", ["../up", "a/b", ".hidden", "..", "acc:1", "", "x" * 251])
def test_an_account_placeholder_needs_a_plain_path_segment(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator, api_key: str, conn_id: str
) -> None:
    """``{account}`` becomes a path segment: an id that would climb out of the folder or hide is refused."""
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key))
    op = make(destination="file:///tmp/never/{account}/{report}/{day}.{ext}", trafficstars_conn_id=conn_id)
    with pytest.raises(TrafficStarsConfigError, match="path segment"):
        op.execute(CONTEXT)
    assert emulator.count() == 0


def test_an_account_placeholder_files_objects_under_the_connection_id(
    airflow_db: Path, clean_variables: None, monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator,
    api_key: str, tmp_path: Path,
) -> None:  # fmt: skip
    op = make(
        destination=f"file://{tmp_path}/{{account}}/{{report}}/{{day}}.{{ext}}",
        trafficstars_conn_id="ts_agency-2.eu",
        date_from="2026-02-01",
        date_to="2026-02-01",
    )
    monkeypatch.setenv("AIRFLOW_CONN_TS_AGENCY-2.EU", conn_json(emulator.url, api_key))
    written = op.execute(CONTEXT)
    url = f"file://{tmp_path}/ts_agency-2.eu/advertiser/by-campaign/2026-02-01.csv"
    assert written == [{"day": "2026-02-01", "url": url, "rows": 3, "account": "ts_agency-2.eu"}]
    assert Path(url.removeprefix("file://")).is_file()


def test_openlineage_facets_name_the_report_and_the_objects(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator, tmp_path: Path
) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="apache-airflow-providers-openlineage not installed")
    operator = make(
        report="publisher/by-country",
        destination=f"file://{tmp_path}/{{report}}/{{day}}.{{ext}}",
        date_from="2026-02-01",
        date_to="2026-02-02",
    )
    operator.execute(CONTEXT)
    lineage = operator.get_openlineage_facets_on_complete(None)
    (source,) = lineage.inputs
    # Named by the account (the connection id): two accounts on one host are two sources.
    assert (source.namespace, source.name) == (
        f"trafficstars://127.0.0.1:{emulator.port}",
        "trafficstars_default/publisher/by-country",
    )
    assert [(o.namespace, o.name) for o in lineage.outputs] == [
        ("file", f"{str(tmp_path).lstrip('/')}/publisher/by-country/{d}.csv") for d in ("2026-02-01", "2026-02-02")
    ]
    assert all(os.path.exists("/" + o.name) for o in lineage.outputs)


def test_days_follow_the_connections_report_timezone(
    airflow_db: Path, clean_variables: None, monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator,
    api_key: str, tmp_path: Path,
) -> None:  # fmt: skip
    """Airflow 3's @daily run at 00:00 UTC is still the evening before in New York: that day is not over."""
    extra = {"report_timezone": "America/New_York"}
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key, **extra))
    midnight = pendulum.datetime(2026, 7, 10, tz="UTC")
    context = {**CONTEXT, "data_interval_start": midnight, "data_interval_end": midnight}
    written = make(destination=f"file://{tmp_path}/{{day}}.{{ext}}").execute(context)
    assert [w["day"] for w in written] == ["2026-07-08"]
    assert [r.query for r in emulator.request_log() if r.path == BY_CAMPAIGN] == [
        "date_from=2026-07-08&date_to=2026-07-08"
    ]
