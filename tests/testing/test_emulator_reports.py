"""The emulator's report endpoints and switches, over real HTTP: strict where the documented API is strict."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from airflow_provider_trafficstars.testing import TrafficStarsEmulator
from airflow_provider_trafficstars.testing._reports import CONTROLS, REPORT_PATHS
from tests.testing.test_emulator import bearer, get_token

ADV = "/v1.1/advertiser/custom/report/by-"
PUB = "/v1.1/publisher/custom/report/by-"
METRICS = {"impressions", "clicks", "leads", "amount", "ctr", "ecpm", "ecpc", "ecpa"}
RANGE = {"date_from": "2024-03-01", "date_to": "2024-03-03"}


@pytest.fixture
def emu() -> Iterator[TrafficStarsEmulator]:
    with TrafficStarsEmulator(api_keys=["demo-key"], campaigns=3) as emulator:
        yield emulator


@pytest.fixture
def get(emu: TrafficStarsEmulator) -> Iterator[Any]:
    with requests.Session() as session:
        token = get_token(emu, session)

        def call(path: str, params: Any = None, **headers: str) -> requests.Response:
            return session.get(emu.url + path, params=params, headers={**bearer(token), **headers}, timeout=5)

        yield call


def rows(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list), "reports answer a bare JSON array"
    return body


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (ADV + "campaign", "campaign_id"),
        (ADV + "country", "country"),
        (ADV + "creative", "banner_id"),
        (ADV + "spot", "spot_id"),
        (PUB + "spot", "spot_id"),
        (PUB + "country", "country"),
    ],
)
def test_breakdowns_aggregate_over_the_range(get: Any, path: str, key: str) -> None:
    whole = {r[key]: r for r in rows(get(path, RANGE))}
    assert whole and all(
        set(r) == {key, *METRICS} | ({"name"} if key == "campaign_id" else set()) for r in whole.values()
    )
    per_day = [
        {r[key]: r for r in rows(get(path, {"date_from": d, "date_to": d}))}
        for d in ("2024-03-01", "2024-03-02", "2024-03-03")
    ]
    for value, row in whole.items():
        for metric in ("impressions", "clicks", "leads"):
            assert row[metric] == sum(day[value][metric] for day in per_day), (value, metric)
        assert row["amount"] == pytest.approx(sum(day[value]["amount"] for day in per_day), abs=0.02)
        assert row["ctr"] == round(row["clicks"] * 100 / row["impressions"], 4)
    assert rows(get(path, RANGE)) == list(whole.values())  # deterministic


@pytest.mark.parametrize("side", [ADV, PUB])
def test_by_day_has_one_row_per_day(get: Any, side: str) -> None:
    got = rows(get(side + "day", RANGE))
    assert [r["day"] for r in got] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert all(set(r) == {"day", *METRICS} for r in got)
    assert len({r["impressions"] for r in got}) == 3


def test_filters_are_arrays(get: Any) -> None:
    every = rows(get(ADV + "day", RANGE))
    one = rows(get(ADV + "day", {**RANGE, "campaign_id[]": [1]}))
    two = rows(get(ADV + "day", {**RANGE, "campaign_id[]": [1, 2]}))
    assert every != two != one
    assert rows(get(ADV + "campaign", {**RANGE, "campaign_id[]": [3, 1]})) == [
        r for r in rows(get(ADV + "campaign", RANGE)) if r["campaign_id"] in (3, 1)
    ]
    spots = rows(get(PUB + "spot", {**RANGE, "spot_id[]": [5002]}))
    assert [r["spot_id"] for r in spots] == [5002]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (ADV + "day", {"date_to": "2024-03-01"}, 400),
        (ADV + "campaign", {"date_from": "2024-03-01"}, 400),
        (ADV + "day", [("date_from", "2024-03-01"), ("date_from", "2024-03-02"), ("date_to", "2024-03-03")], 400),
        (ADV + "day", {"date_from": "2024-3-1", "date_to": "2024-03-02"}, 400),
        (ADV + "day", {"date_from": "2024-02-30", "date_to": "2024-03-02"}, 400),
        (ADV + "country", {"date_from": "2024-03-05", "date_to": "2024-03-01"}, 400),
        (ADV + "day", {"date_from": "2000-01-01", "date_to": "2024-03-01"}, 400),
        (ADV + "day", {**RANGE, "campaign_id": 1}, 400),  # the docs know arrays only: campaign_id[]
        (ADV + "day", {**RANGE, "campaign_id[]": "x"}, 400),
        (ADV + "day", {**RANGE, "campaign_id[]": 99}, 404),
        (ADV + "spot", {**RANGE, "spot_id[]": 5001}, 400),
        (PUB + "day", {**RANGE, "campaign_id[]": 1}, 400),
        (PUB + "spot", {**RANGE, "spot_id": 5001}, 400),
        (PUB + "spot", {**RANGE, "spot_id[]": 1}, 404),
        (ADV + "hour", RANGE, 404),
    ],
)
def test_bad_requests_are_refused(get: Any, path: str, params: Any, status: int) -> None:
    response = get(path, params)
    assert response.status_code == status and "error" in response.json()


def test_a_get_with_a_json_content_type_is_refused(get: Any) -> None:
    assert get(ADV + "day", RANGE, **{"Content-Type": "application/json"}).status_code == 400
    assert get(ADV + "day", RANGE, **{"Content-Type": "text/plain"}).status_code == 200


def test_every_documented_report_is_served(get: Any) -> None:
    assert sorted(REPORT_PATHS) == sorted(
        [ADV + b for b in ("day", "campaign", "country", "creative", "spot")]
        + [PUB + b for b in ("day", "spot", "country")]
    )
    for path in REPORT_PATHS:
        assert rows(get(path, RANGE)), path


# -- switches ------------------------------------------------------------------------------------------------
def test_revise_day_adds_late_leads_to_that_day_only(emu: TrafficStarsEmulator, get: Any) -> None:
    before = rows(get(ADV + "day", RANGE))
    campaign_before = rows(get(ADV + "campaign", {"date_from": "2024-03-02", "date_to": "2024-03-02"}))
    emu.reports.revise_day("2024-03-02")
    after = rows(get(ADV + "day", RANGE))
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1]["leads"] > before[1]["leads"] and after[1]["impressions"] == before[1]["impressions"]
    campaign_after = rows(get(ADV + "campaign", {"date_from": "2024-03-02", "date_to": "2024-03-02"}))
    assert all(a["leads"] > b["leads"] for a, b in zip(campaign_after, campaign_before, strict=True))


def test_fail_day_fails_every_range_that_holds_it(emu: TrafficStarsEmulator, get: Any) -> None:
    emu.reports.fail_day("2024-03-02", 500, times=2)
    assert get(ADV + "day", {"date_from": "2024-03-01", "date_to": "2024-03-01"}).status_code == 200
    assert get(ADV + "country", {"date_from": "2024-03-02", "date_to": "2024-03-02"}).status_code == 500
    assert get(ADV + "day", RANGE).status_code == 500
    assert get(ADV + "day", RANGE).status_code == 200  # times=2 used up
    emu.reports.fail_day("2024-03-03", 503)
    for _ in range(3):
        assert get(ADV + "day", RANGE).status_code == 503
    emu.reports.fail_day("2024-03-03", None)
    assert get(ADV + "day", RANGE).status_code == 200


def test_quiet_day_has_no_rows(emu: TrafficStarsEmulator, get: Any) -> None:
    emu.reports.set_quiet_day("2024-03-02")
    assert [r["day"] for r in rows(get(ADV + "day", RANGE))] == ["2024-03-01", "2024-03-03"]
    assert rows(get(ADV + "campaign", {"date_from": "2024-03-02", "date_to": "2024-03-02"})) == []


def test_large_day_and_extra_fields(emu: TrafficStarsEmulator, get: Any) -> None:
    emu.reports.set_large_day("2024-03-02", 10_000)
    big = rows(get(ADV + "spot", {"date_from": "2024-03-02", "date_to": "2024-03-02"}))
    assert len(big) == 10_000 and len({r["spot_id"] for r in big}) == 10_000
    assert len(rows(get(ADV + "spot", {"date_from": "2024-03-01", "date_to": "2024-03-01"}))) == 5
    emu.reports.set_report_fields({"zeta": 1, "alpha": "x"})
    assert all(r["zeta"] == 1 and r["alpha"] == "x" for r in rows(get(ADV + "day", RANGE)))
    emu.reset()
    assert "zeta" not in rows(get_fresh(emu, ADV + "day"))[0]
    assert len(rows(get_fresh(emu, ADV + "spot", "2024-03-02"))) == 5


def get_fresh(emu: TrafficStarsEmulator, path: str, day: str = "2024-03-01") -> requests.Response:
    """A call with a new token (a reset forgets the tokens)."""
    with requests.Session() as session:
        token = get_token(emu, session)
        return session.get(emu.url + path, params={"date_from": day, "date_to": day}, headers=bearer(token), timeout=5)


def test_switches_over_http(emu: TrafficStarsEmulator, get: Any) -> None:
    control = emu.url + "/_emulator/"
    with requests.Session() as s:
        assert s.post(control + "revise_day", json={"day": "2024-03-01", "times": 2}, timeout=5).ok
        assert s.post(control + "fail_day", json={"day": "2024-03-02", "status": 502}, timeout=5).ok
        assert s.post(control + "large_day", json={"day": "2024-03-03", "rows": 7}, timeout=5).ok
        assert s.post(control + "quiet_day", json={"day": "2024-03-04"}, timeout=5).ok
        assert s.post(control + "report_fields", json={"fields": {"x": 1}}, timeout=5).ok
        assert emu.reports.revisions == {date(2024, 3, 1): 2}
        assert get(ADV + "day", RANGE).status_code == 502
        assert s.post(control + "fail_day", json={"day": "2024-03-02", "status": None}, timeout=5).ok
        assert len(rows(get(ADV + "spot", {"date_from": "2024-03-03", "date_to": "2024-03-03"}))) == 7
        assert rows(get(ADV + "day", {"date_from": "2024-03-04", "date_to": "2024-03-04"})) == []
        for name, body in [
            ("revise_day", {"day": 20240301}),
            ("fail_day", {"day": "2024-03-02", "status": 200}),
            ("large_day", {"day": "2024-03-03", "rows": "many"}),
            ("report_fields", {"fields": [1]}),
            ("quiet_day", {"day": "yesterday"}),
        ]:
            assert s.post(control + name, json=body, timeout=5).status_code == 400, name
    assert set(CONTROLS) == {"revise_day", "fail_day", "large_day", "quiet_day", "report_fields", "blank_day"}


@pytest.mark.parametrize(("answer", "status", "body"), [("empty", 200, b""), ("null", 200, b"null"), ("204", 204, b"")])
def test_blank_day_answers_every_range_that_holds_it_with_nothing(
    emu: TrafficStarsEmulator, get: Any, answer: str, status: int, body: bytes
) -> None:
    emu.reports.set_blank_day("2024-03-02", answer)
    for params in (RANGE, {"date_from": "2024-03-02", "date_to": "2024-03-02"}):
        response = get(ADV + "campaign", params)
        assert (response.status_code, response.content) == (status, body)
        assert "Content-Type" not in response.headers or body  # nothing announced for no body
    assert rows(get(ADV + "campaign", {"date_from": "2024-03-01", "date_to": "2024-03-01"}))  # other days: rows
    assert (
        get(ADV + "campaign", {"date_from": "2024-03-02", "date_to": "2024-03-01"}).status_code == 400
    )  # checked first
    emu.reports.set_blank_day("2024-03-02", None)
    assert rows(get(ADV + "campaign", RANGE))


def test_blank_day_over_http(emu: TrafficStarsEmulator, get: Any) -> None:
    control = emu.url + "/_emulator/blank_day"
    with requests.Session() as s:
        assert s.post(control, json={"day": "2024-03-02", "answer": "204"}, timeout=5).ok
        assert get(ADV + "day", RANGE).status_code == 204
        assert s.post(control, json={"day": "2024-03-02", "answer": "null"}, timeout=5).ok
        assert get(ADV + "day", RANGE).content == b"null"
        assert s.post(control, json={"day": "2024-03-02"}, timeout=5).ok  # default: an empty 200
        assert (get(ADV + "day", RANGE).status_code, get(ADV + "day", RANGE).content) == (200, b"")
        assert s.post(control, json={"day": "2024-03-02", "answer": None}, timeout=5).ok
        assert len(rows(get(ADV + "day", RANGE))) == 3
        for body in ({"day": "2024-03-02", "answer": "nothing"}, {"day": "2024-03-02", "answer": 204}, {}):
            assert s.post(control, json=body, timeout=5).status_code == 400, body
    emu.reports.set_blank_day("2024-03-02", "null")
    emu.reset()
    assert len(rows(get_fresh(emu, ADV + "day", "2024-03-02"))) == 1


def test_non_finite_numbers_go_on_the_wire_as_1e400_or_nan(emu: TrafficStarsEmulator, get: Any) -> None:
    """1e400 is valid JSON that no double holds (Python reads it as inf); NaN is what careless servers send."""
    emu.reports.set_report_fields({"big": float("inf"), "low": float("-inf"), "odd": float("nan"), "text": "Infinity"})
    response = get(ADV + "day", {"date_from": "2024-03-01", "date_to": "2024-03-01"})
    assert b'"big": 1e400' in response.content and b'"low": -1e400' in response.content
    assert b'"odd": NaN' in response.content and b'"text": "Infinity"' in response.content


def test_campaign_list_filters_status_arrays(get: Any) -> None:
    every = get("/v1.1/campaigns").json()["response"]
    paused = get("/v1.1/campaigns", {"status[]": ["paused"]}).json()["response"]
    assert paused == [c for c in every if c["status"] == "paused"] and 0 < len(paused) < len(every)
    assert get("/v1.1/campaigns", {"status[]": ["paused", "enabled"]}).json()["response"] == every
    assert get("/v1.1/campaigns", {"status": "paused"}).status_code == 400


def test_the_rate_limit_is_off_unless_turned_on(emu: TrafficStarsEmulator, get: Any) -> None:
    assert all(get(ADV + "day", RANGE).status_code == 200 for _ in range(120))
    emu.set_rate_limit((100, 60.0))
    assert [get(ADV + "day", RANGE).status_code for _ in range(101)].count(429) == 1
