"""The emulator's campaign endpoints over real HTTP: state, strictness, and the switches tests use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_trafficstars.testing import TrafficStarsEmulator

PAUSE, RUN, BALANCE, CAMPAIGNS = "/v2/campaigns/pause", "/v2/campaigns/run", "/v2/userinfo/balance", "/v1.1/campaigns"


@pytest.fixture
def emu() -> Iterator[TrafficStarsEmulator]:
    with TrafficStarsEmulator(api_keys=["demo-key"], campaigns=6) as emulator:
        yield emulator


@pytest.fixture
def api(emu: TrafficStarsEmulator) -> Iterator[requests.Session]:
    """A session that carries a valid bearer token."""
    with requests.Session() as s:
        answer = s.post(emu.url + "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": "demo-key"})
        s.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield s


def call(emu: TrafficStarsEmulator, api: requests.Session, method: str, path: str, **kwargs: Any) -> requests.Response:
    return api.request(method, emu.url + path, timeout=5, **kwargs)


def test_run_and_pause_report_failures_inside_a_200(emu: TrafficStarsEmulator, api: requests.Session) -> None:
    emu.campaigns.set_campaign(2, status="rejected")
    answer = call(emu, api, "PUT", PAUSE, json={"campaign_ids": [1, 2, 99, 1]})
    assert answer.status_code == 200
    assert answer.json() == {"success": [1], "failed": [2, 99], "total": 3}
    assert call(emu, api, "GET", f"{CAMPAIGNS}/1").json()["status"] == "paused"
    # Idempotent: the same call again changes nothing and answers the same.
    assert call(emu, api, "PUT", PAUSE, json={"campaign_ids": [1, 2, 99]}).json() == answer.json()
    assert call(emu, api, "PUT", RUN, json={"campaign_ids": [1, 3]}).json()["success"] == [1, 3]
    statuses = {c["id"]: c["status"] for c in call(emu, api, "GET", CAMPAIGNS).json()["response"]}
    assert statuses == {1: "enabled", 2: "rejected", 3: "enabled", 4: "enabled", 5: "enabled", 6: "paused"}


def test_status_filters_the_list(emu: TrafficStarsEmulator, api: requests.Session) -> None:
    ids = lambda query: [c["id"] for c in call(emu, api, "GET", CAMPAIGNS + query).json()["response"]]  # noqa: E731
    assert ids("?status[]=paused") == [3, 6]
    assert ids("?status[]=paused&status[]=enabled") == [1, 2, 3, 4, 5, 6]
    assert ids("?status[]=no_funds_paused") == []
    assert call(emu, api, "GET", CAMPAIGNS + "?status[]=active").status_code == 400


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "campaign_ids=1"},  # a form body
        {"data": "{not json", "headers": {"Content-Type": "application/json"}},
        {"data": '{"campaign_ids": [1]}', "headers": {"Content-Type": "text/plain"}},
        {"json": [1, 2]},
        {"json": {"campaign_ids": []}},
        {"json": {"campaign_ids": [1], "state": "paused"}},
        {"json": {"campaign_ids": ["1"]}},
        {"json": {"campaign_ids": [True]}},
        {"json": {"ids": [1]}},
    ],
)
def test_malformed_run_pause_bodies_are_refused(emu: TrafficStarsEmulator, api: requests.Session, kwargs: Any) -> None:
    assert call(emu, api, "PUT", PAUSE, **kwargs).status_code == 400
    assert call(emu, api, "GET", f"{CAMPAIGNS}/1").json()["status"] == "enabled"


def test_patch_changes_bid_and_budget(emu: TrafficStarsEmulator, api: requests.Session) -> None:
    answer = call(emu, api, "PATCH", f"{CAMPAIGNS}/4", json={"price": 0.75, "max_daily": 80})
    assert answer.status_code == 200
    assert {k: answer.json()[k] for k in ("id", "price", "max_daily")} == {"id": 4, "price": 0.75, "max_daily": 80.0}
    assert call(emu, api, "GET", f"{CAMPAIGNS}/4").json() == answer.json() == emu.campaigns.get(4)
    assert call(emu, api, "PATCH", f"{CAMPAIGNS}/404", json={"price": 1}).status_code == 404
    assert call(emu, api, "GET", f"{CAMPAIGNS}/404").status_code == 404


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"price": 1, "bid": 2}},  # an unknown field
        {"json": {"status": "paused"}},
        {"json": {}},
        {"json": {"price": 0}},
        {"json": {"price": "1.5"}},
        {"json": {"max_daily": None}},
        {"data": "price=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {"data": "price", "headers": {"Content-Type": "application/json"}},
    ],
)
def test_malformed_patches_are_refused(emu: TrafficStarsEmulator, api: requests.Session, kwargs: Any) -> None:
    before = emu.campaigns.get(1)
    assert call(emu, api, "PATCH", f"{CAMPAIGNS}/1", **kwargs).status_code == 400
    assert emu.campaigns.get(1) == before


def test_wrong_methods_and_missing_token(emu: TrafficStarsEmulator, api: requests.Session) -> None:
    assert call(emu, api, "POST", PAUSE, json={"campaign_ids": [1]}).status_code == 405
    assert call(emu, api, "PUT", f"{CAMPAIGNS}/1", json={"price": 1}).status_code == 405
    assert requests.put(emu.url + PAUSE, json={"campaign_ids": [1]}, timeout=5).status_code == 401
    assert emu.campaigns.get(1)["status"] == "enabled"  # type: ignore[index]


def test_balance_and_its_script(emu: TrafficStarsEmulator, api: requests.Session) -> None:
    assert call(emu, api, "GET", BALANCE).json() == {"balance": 1000.0, "currency": "USD"}
    emu.campaigns.set_balance(300, then=[10, 20.5])
    assert [call(emu, api, "GET", BALANCE).json()["balance"] for _ in range(4)] == [10.0, 20.5, 300.0, 300.0]


def test_control_endpoints_and_reset(emu: TrafficStarsEmulator, api: requests.Session) -> None:
    control = emu.url + "/_emulator/"
    change = {"campaigns": [{"id": 2, "status": "rejected"}, {"id": 9, "price": 1.5}], "balance": 5}
    change["balance_then"] = [1]
    assert requests.post(control + "set_campaigns", json=change, timeout=5).status_code == 200
    snapshot = requests.get(control + "campaigns", timeout=5).json()
    assert snapshot["balance"] == 5.0
    assert [(c["id"], c["status"]) for c in snapshot["campaigns"]][1] == (2, "rejected")
    assert snapshot["campaigns"][-1]["id"] == 9 and snapshot["campaigns"][-1]["price"] == 1.5
    assert emu.campaign_ids == [1, 2, 3, 4, 5, 6, 9]  # the reports have rows for the new campaign too
    assert call(emu, api, "GET", BALANCE).json()["balance"] == 1.0
    for bad in ({"campaigns": [{"id": 1, "status": "gone"}]}, {"campaigns": [{"id": 1, "bid": 1}]}, {"x": 1}):
        assert requests.post(control + "set_campaigns", json=bad, timeout=5).status_code == 400
    assert requests.post(control + "reset", timeout=5).status_code == 200
    assert emu.campaign_ids == [1, 2, 3, 4, 5, 6] and emu.campaigns.get(2)["status"] == "enabled"  # type: ignore[index]
    assert emu.campaigns.snapshot()["balance"] == 1000.0


def test_a_fault_can_target_one_method_of_a_path(emu: TrafficStarsEmulator, api: requests.Session) -> None:
    emu.fail_next(1, 503, path=f"{CAMPAIGNS}/1", method="PATCH")
    assert call(emu, api, "GET", f"{CAMPAIGNS}/1").status_code == 200
    assert call(emu, api, "PATCH", f"{CAMPAIGNS}/1", json={"price": 1}).status_code == 503
    assert call(emu, api, "PATCH", f"{CAMPAIGNS}/1", json={"price": 1}).status_code == 200
