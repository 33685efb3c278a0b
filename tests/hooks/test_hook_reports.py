"""The hook's report and campaign methods against the emulator (a real Airflow connection, real HTTP)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import parse_qsl

import pytest

from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
from airflow_provider_trafficstars.client.reports._catalogue import REPORTS
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError, TrafficStarsDataError
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing._reports import answer
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(ts_conn: str) -> TrafficStarsHook:
    return TrafficStarsHook(ts_conn, token_cache=MemoryTokenCache("reports-test", store={}))


def queries(emulator: TrafficStarsEmulator, path: str) -> list[list[tuple[str, str]]]:
    return [parse_qsl(r.query) for r in emulator.request_log() if r.path == path]


@pytest.mark.parametrize("report", sorted(REPORTS))
def test_get_report_returns_the_servers_rows(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, report: str
) -> None:
    spec = REPORTS[report]
    filters = {spec.filter_param: [2, 1]} if report.startswith("advertiser") else {spec.filter_param: [5003]}
    got = hook.get_report(report, date_from="2026-01-01", date_to=date(2026, 1, 3), filters=filters)
    (query,) = queries(emulator, spec.path)
    key = f"{spec.filter_param}[]"
    assert query == [("date_from", "2026-01-01"), ("date_to", "2026-01-03")] + [
        (key, str(v)) for v in sorted(filters[spec.filter_param])
    ]
    assert got == answer(emulator.reports, spec.path, query, emulator.campaign_ids) and got


@pytest.mark.parametrize(
    ("report", "kw"),
    [
        ("advertiser/by-hour", {"date_from": "2026-01-01", "date_to": "2026-01-01"}),
        ("campaigns", {"date_from": "2026-01-01", "date_to": "2026-01-01"}),
        ("advertiser/by-day", {"date_from": "2026-01-02", "date_to": "2026-01-01"}),
        ("advertiser/by-day", {"date_from": "2026-01-32", "date_to": "2026-02-01"}),
        ("advertiser/by-day", {"date_from": "01/01/2026", "date_to": "2026-01-01"}),
        ("advertiser/by-day", {"date_from": "2026-01-01", "date_to": "2026-01-01", "filters": {"spot_id": [1]}}),
        ("publisher/by-spot", {"date_from": "2026-01-01", "date_to": "2026-01-01", "filters": {"spot_id": []}}),
    ],
)
def test_bad_arguments_fail_before_any_call(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, report: str, kw: dict[str, Any]
) -> None:
    with pytest.raises(TrafficStarsConfigError):
        hook.get_report(report, **kw)
    assert emulator.count() == 0  # not even a token request


def test_get_campaigns_with_a_status_filter(hook: TrafficStarsHook, emulator: TrafficStarsEmulator) -> None:
    every = hook.get_campaigns()
    assert [c["id"] for c in every] == list(emulator.campaign_ids)  # the {"response": [...]} wrapper is removed
    paused = hook.get_campaigns(status="paused")
    assert paused == [c for c in every if c["status"] == "paused"] and paused
    assert hook.get_campaigns(status=["paused", "enabled"]) == every
    assert queries(emulator, "/v1.1/campaigns")[1:] == [
        [("status[]", "paused")],
        [("status[]", "enabled"), ("status[]", "paused")],
    ]
    calls = emulator.count()
    with pytest.raises(TrafficStarsConfigError):
        hook.get_campaigns(status=["paused", "not a status"])
    assert emulator.count() == calls


def test_no_get_carries_a_json_content_type(hook: TrafficStarsHook, emulator: TrafficStarsEmulator) -> None:
    """The backend reads a GET's parameters from its body when it says JSON: the emulator answers 400 then."""
    hook.get_campaigns(status="enabled")
    for report in REPORTS:
        hook.get_report(report, date_from="2026-01-01", date_to="2026-01-01")
    gets = [r for r in emulator.request_log() if r.method == "GET"]
    assert len(gets) == 1 + len(REPORTS) and all(r.status == 200 for r in gets)
    assert [r.header("Content-Type") for r in gets] == [None] * len(gets)


def test_an_answer_that_is_not_a_list_of_rows_is_a_data_error(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator
) -> None:
    path = REPORTS["advertiser/by-day"].path
    emulator.fail_next(1, 200, path=path, body='{"rows": []}')
    with pytest.raises(TrafficStarsDataError) as info:
        hook.get_report("advertiser/by-day", date_from="2026-01-01", date_to="2026-01-01")
    assert info.value.report == "advertiser/by-day"
