"""The load example's trust in Asset events (``trusted_days``): what it may open, delete and create.

Events here are plain objects with the attributes Airflow gives a task (``extra``, ``source_dag_id``,
``source_task_id``, ``asset``, ``timestamp``); on Airflow 3 one more test builds them as the Task SDK does.
The real DAG runs (an event posted through an api-server) are in tests/examples/test_report_load_trust.py.
"""

from __future__ import annotations

import importlib.util
import logging
from datetime import datetime, timedelta, timezone
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.airflow_compat import AIRFLOW_V_3
from tests.helpers import EXAMPLE_DAGS

BASE = "s3://warehouse-bucket/trafficstars"
T0 = datetime(2026, 11, 27, 6, tzinfo=timezone.utc)


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", EXAMPLE_DAGS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def load() -> ModuleType:
    return _module("example_trafficstars_report_load")


def url(report: str, day: str, ext: str = "csv", base: str = BASE) -> str:
    return f"{base}/{report}/day={day}/part.{ext}"


def event(
    report: Any = "advertiser/by-day",
    days: Any = ("2026-11-25", "2026-11-26"),
    urls: Any = None,
    *,
    asset: str | None = None,
    source: tuple[str | None, str | None] | None = None,
    rest: bool = False,
    minutes: int = 0,
    **extra: Any,
) -> SimpleNamespace:
    """An Asset event as the ETL's task for ``report`` emits it (or, with ``rest``, as the REST API records it)."""
    key = str(report).replace("/", "_").replace("-", "_")
    if urls is None:
        urls = [url(str(report), d) for d in days]
    body = {"report": report, "days": list(days), "rows": 1, "urls": list(urls), **extra}
    if rest:
        body["from_rest_api"] = True  # what Airflow adds to the extra of POST /api/v2/assets/events
        source = source or (None, None)
    dag_id, task_id = source or ("example_trafficstars_report_etl", key)
    return SimpleNamespace(
        extra=body,
        source_dag_id=dag_id,
        source_task_id=task_id,
        source_run_id=None if dag_id is None else "scheduled__2026-11-27",
        asset=SimpleNamespace(name=asset or f"trafficstars_{key}", uri=asset or f"trafficstars_{key}"),
        timestamp=T0 + timedelta(minutes=minutes),
    )


def refusal(load: ModuleType, ev: Any, **kwargs: Any) -> str:
    with pytest.raises(load.RefusedEvent) as caught:
        load.trusted_days(ev, base_url=kwargs.pop("base_url", BASE), **kwargs)
    return str(caught.value.reason)


# -- what is trusted -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "report", ["advertiser/by-day", "advertiser/by-campaign", "advertiser/by-country", "campaigns"]
)
def test_the_etls_own_events_are_trusted(load: ModuleType, report: str) -> None:
    days = ["2026-11-25", "2026-11-26"]
    assert load.trusted_days(event(report, days), base_url=BASE) == (report, {d: url(report, d) for d in days})
    assert load.trusted_days(event(report, days), base_url=BASE + "/") == (report, {d: url(report, d) for d in days})


def test_every_format_the_transfer_writes_is_its_object(load: ModuleType) -> None:
    for ext in ("csv", "jsonl", "parquet"):
        ev = event(days=["2026-11-25"], urls=[url("advertiser/by-day", "2026-11-25", ext)])
        assert load.trusted_days(ev, base_url=BASE)[1] == {"2026-11-25": url("advertiser/by-day", "2026-11-25", ext)}


def test_the_load_expects_the_etls_object_naming() -> None:
    """The ETL's destination, rendered with a base URL, is the load's: the two files name objects alike."""
    import jinja2

    etl, load = _module("example_trafficstars_report_etl"), _module("example_trafficstars_report_load")
    etl_dag = etl.refresh_token.dag  # the ETL file's DAG (a `with DAG(...)` block binds no name)
    (destination,) = {task.destination for task in etl_dag.tasks if hasattr(task, "destination")}
    for base in (BASE, BASE + "/", "file:///data/ts"):
        rendered = jinja2.Template(destination).render(params={"base_url": base})
        assert rendered == base.rstrip("/") + load.OBJECT_NAME
    assert etl_dag.dag_id == load.ETL_DAG_ID
    assert {load.report_key(r) for r in load.REPORTS} == {t.task_id for t in etl_dag.tasks if hasattr(t, "report")}
    assert load.BASE_URL == etl.BASE_URL  # the same default, from the same environment


# -- what is refused, and why ----------------------------------------------------------------------
def test_rest_posted_and_other_sources_are_refused_unless_allowed(load: ModuleType) -> None:
    rest = event(rest=True)  # a perfect copy of an ETL event, posted through the REST API
    assert refusal(load, rest) == "external"
    assert load.trusted_days(rest, base_url=BASE, allow_external=True)[0] == "advertiser/by-day"
    other_dag = event(source=("someone_elses_dag", "advertiser_by_day"))
    assert refusal(load, other_dag) == "external"
    other_task = event(source=("example_trafficstars_report_etl", "campaigns"))  # the ETL's, for another report
    assert refusal(load, other_task) == "external"
    marked = event(rest=True, source=("example_trafficstars_report_etl", "advertiser_by_day"))
    assert refusal(load, marked) == "external"  # Airflow's REST mark wins over any source


@pytest.mark.parametrize(
    "forged",
    [
        "file:///etc/os-release",
        "/etc/os-release",
        "s3://another-teams-bucket/trafficstars/advertiser/by-day/day=2026-11-25/part.csv",
        f"{BASE}-other/advertiser/by-day/day=2026-11-25/part.csv",  # a prefix of the base is not the base
        f"{BASE}/../secrets/advertiser/by-day/day=2026-11-25/part.csv",
        f"{BASE}/advertiser/by-day/day=2026-11-26/part.csv",  # another day's object
        f"{BASE}/advertiser/by-campaign/day=2026-11-25/part.csv",  # another report's object
        f"{BASE}/advertiser/by-day/day=2026-11-25/part.csv?versionId=1",
        f"{BASE}/advertiser/by-day/day=2026-11-25/part.txt",
        f"{BASE.upper()}/advertiser/by-day/day=2026-11-25/part.csv",
        None,
        ["nested"],
    ],
)
def test_urls_that_are_not_the_etls_object_are_refused(load: ModuleType, forged: Any) -> None:
    ev = event(days=["2026-11-25"], urls=[forged])
    assert refusal(load, ev) == "foreign_url"
    assert refusal(load, ev, allow_external=True) == "foreign_url"


@pytest.mark.parametrize(
    "day", ["2026-02-30", "2026-13-01", "2026-1-01", "20261125", "2026-11-25T00:00", " 2026-11-25", 20261125, None]
)
def test_days_that_are_not_real_iso_days_are_refused(load: ModuleType, day: Any) -> None:
    ev = event(days=[day], urls=[f"{BASE}/advertiser/by-day/day={day}/part.csv"])
    assert refusal(load, ev) == "not_a_day"


@pytest.mark.parametrize("report", ["publisher/by-spot", "advertiser/by-day/../x", "", None, ["campaigns"]])
def test_reports_the_load_does_not_know_are_refused(load: ModuleType, report: Any) -> None:
    """No table is created for a report nobody asked for, whoever sent the event."""
    ev = event(report, asset="trafficstars_advertiser_by_day", source=("example_trafficstars_report_etl", "x"))
    assert refusal(load, ev, allow_external=True) == "unknown_report"


def test_an_event_naming_another_reports_asset_is_refused(load: ModuleType) -> None:
    assert refusal(load, event("campaigns", asset="trafficstars_advertiser_by_day"), allow_external=True) == (
        "wrong_asset"
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"days": "2026-11-25", "urls": [url("advertiser/by-day", "2026-11-25")]},
        {"days": ["2026-11-25"], "urls": []},
        {"days": ["2026-11-25"]},
    ],
)
def test_malformed_extras_are_refused(load: ModuleType, extra: dict[str, Any]) -> None:
    ev = event()
    ev.extra = {"report": "advertiser/by-day", **extra}
    assert refusal(load, ev) == "malformed"


def test_an_event_without_an_extra_is_refused(load: ModuleType) -> None:
    ev = event()
    ev.extra = None
    assert refusal(load, ev) == "unknown_report"


# -- several events --------------------------------------------------------------------------------
def test_days_to_load_merges_trusted_events_newest_last_and_says_why_it_ignores_others(
    load: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    newer = event(days=["2026-11-26"], urls=[url("advertiser/by-day", "2026-11-26", "jsonl")], minutes=10)
    events = [
        newer,
        event(days=["2026-11-25", "2026-11-26"]),
        event(days=["2026-11-24"], urls=["file:///etc/os-release"], minutes=20),
        event("publisher/by-spot", days=["2026-11-24"], minutes=30, rest=True),
        event("campaigns", days=["2026-11-20"], minutes=40, rest=True),
    ]
    with caplog.at_level(logging.WARNING):
        plan = load.days_to_load(events, base_url=BASE)
    assert plan == {
        "advertiser/by-day": {
            "2026-11-25": url("advertiser/by-day", "2026-11-25"),
            "2026-11-26": url("advertiser/by-day", "2026-11-26", "jsonl"),  # the newer event's object
        }
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert ["foreign_url" in warnings[0], "unknown_report" in warnings[1], "external" in warnings[2]] == [True] * 3

    allowed = load.days_to_load(events, base_url=BASE, allow_external=True)
    assert allowed["campaigns"] == {"2026-11-20": url("campaigns", "2026-11-20")}
    assert set(allowed) == {"advertiser/by-day", "campaigns"}  # still no publisher table, no /etc/os-release


def test_a_manual_run_takes_the_newest_event_it_trusts(load: ModuleType) -> None:
    good = event(days=["2026-11-26"])
    forged = [event(days=["2026-11-26"], urls=["file:///etc/os-release"], minutes=m) for m in (1, 2)]
    assert load.latest_trusted([event(days=["2026-11-25"], minutes=-5), good, *forged], base_url=BASE) is good
    assert load.latest_trusted(forged, base_url=BASE) is None
    assert load.latest_trusted([], base_url=BASE) is None


@pytest.mark.skipif(not AIRFLOW_V_3, reason="Airflow 3's Task SDK event classes")
def test_the_task_sdks_own_event_classes(load: ModuleType) -> None:
    """The same decision on the classes a task gets from Airflow 3 (triggering events, inlet events)."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult, AssetEventResult

    extra = {"report": "campaigns", "days": ["2026-11-26"], "urls": [url("campaigns", "2026-11-26")]}
    asset = {"name": "trafficstars_campaigns", "uri": "trafficstars_campaigns", "extra": {}}
    common = {"extra": extra, "timestamp": T0, "source_map_index": -1}
    from_etl = {"source_dag_id": "example_trafficstars_report_etl", "source_task_id": "campaigns", "source_run_id": "r"}
    from_rest = {"source_dag_id": None, "source_task_id": None, "source_run_id": None}
    triggering = AssetEventDagRunReferenceResult(asset=asset, source_aliases=[], **common, **from_etl)
    inlet = AssetEventResult(id=1, asset={**asset, "group": "asset"}, created_dagruns=[], **common, **from_etl)
    for ev in (triggering, inlet):
        assert load.trusted_days(ev, base_url=BASE) == ("campaigns", {"2026-11-26": url("campaigns", "2026-11-26")})
    posted = AssetEventDagRunReferenceResult(
        asset=asset, source_aliases=[], **{**common, "extra": {**extra, "from_rest_api": True}}, **from_rest
    )
    assert refusal(load, posted) == "external"
