"""campaigns.py: argument checks, answer parsing, the max_change guard and the cost-per-lead rule.

The hook part runs against the real emulator: a bad argument must fail before any request is sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
from airflow_provider_trafficstars.client.campaigns import _parse as c
from airflow_provider_trafficstars.client.campaigns import _rules as rules
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsConfigError,
    TrafficStarsGuardError,
)
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator


# -- arguments -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([3, 1, 3, "2"], [3, 1, 2]),
        ((5,), [5]),
        (7, [7]),
        ("[4, 5, 4]", [4, 5]),  # what "{{ ti.xcom_pull(...) }}" renders
        ("4, 5", [4, 5]),
        (" 9 ", [9]),
        ([], []),
        ("[]", []),
    ],
)
def test_campaign_ids_are_parsed_in_order_without_duplicates(value: Any, expected: list[int]) -> None:
    assert c.parse_campaign_ids(value) == expected


@pytest.mark.parametrize(
    "value", [[0], [-1], [True], [1.5], ["x"], ["1e3"], "[1, ", {"a": 1}, None, 2.0, [None], ["\u0661"]]
)
def test_bad_campaign_ids_are_config_errors(value: Any) -> None:
    with pytest.raises(TrafficStarsConfigError):
        c.parse_campaign_ids(value)


@pytest.mark.parametrize("value", ["Run", "resume", "", None, "paused"])
def test_only_run_and_pause_are_states(value: Any) -> None:
    with pytest.raises(TrafficStarsConfigError):
        c.check_state(value)
    assert c.check_state("run") == "run" and c.state_path("pause") == "/v2/campaigns/pause"


@pytest.mark.parametrize(("value", "ok"), [(1, True), (1000, True), (0, False), (1001, False), (True, False)])
def test_batch_size_bounds(value: Any, ok: bool) -> None:
    if ok:
        assert c.check_batch_size(value) == value
    else:
        with pytest.raises(TrafficStarsConfigError):
            c.check_batch_size(value)


def test_amounts_flags_and_max_change() -> None:
    assert c.parse_amount("0.25", "price") == 0.25 and c.parse_amount(3, "max_daily") == 3.0
    assert c.parse_amount(0, "min_balance", allow_zero=True) == 0.0
    for bad in (0, -1, "abc", math.nan, math.inf, True, None, [1]):
        with pytest.raises(TrafficStarsConfigError):
            c.parse_amount(bad, "price")
    assert c.parse_max_change(None) is None and c.parse_max_change("None") is None and c.parse_max_change("") is None
    assert c.parse_max_change("0.5") == 0.5
    assert [c.check_flag(v, "dry_run") for v in (True, "True", "false", "1", "no")] == [True, True, False, True, False]
    with pytest.raises(TrafficStarsConfigError):
        c.check_flag("maybe", "dry_run")
    assert list(c.batches([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]


# -- answers ---------------------------------------------------------------------------------------
def test_state_result_is_parsed_and_unconfirmed_ids_count_as_failed() -> None:
    answer = {"success": [1, {"id": 3}], "failed": [{"campaign_id": 2, "error": "rejected"}], "total": 3}
    assert c.parse_state_result(answer, [1, 2, 3, 4], "pause") == {"success": [1, 3], "failed": [2, 4], "total": 3}
    assert c.parse_state_result({"success": ["5"], "failed": []}, [5], "run") == {
        "success": [5],
        "failed": [],
        "total": 1,
    }


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"success": [1]},
        {"success": 1, "failed": []},
        {"success": [1], "failed": ["x"]},
        {"success": [1], "failed": [{"name": "no id"}]},
        {"success": [1, 99], "failed": []},  # 99 was never sent
        {"success": [1], "failed": [], "total": "1"},
    ],
)
def test_malformed_state_answers_are_api_errors(answer: Any) -> None:
    with pytest.raises(TrafficStarsApiError) as caught:
        c.parse_state_result(answer, [1, 2], "run")
    assert (caught.value.status_code, caught.value.method, caught.value.endpoint) == (200, "PUT", "/v2/campaigns/run")


@pytest.mark.parametrize(
    ("answer", "balance"),
    [
        (12.5, 12.5),
        ("12.50", 12.5),
        ({"balance": 7}, 7.0),
        ({"balance": "7.25", "currency": "USD"}, 7.25),
        ({"amount": -3.5}, -3.5),  # an account in debt
        ({"value": 0}, 0.0),
        ({"balance": {"amount": 40, "currency": "EUR"}}, 40.0),
    ],
)
def test_balance_answers(answer: Any, balance: float) -> None:
    assert c.parse_balance(answer) == balance


@pytest.mark.parametrize("answer", [None, [], {}, {"credit": 5}, {"balance": None}, {"balance": "n/a"}, True, "NaN"])
def test_answers_without_a_balance_are_api_errors(answer: Any) -> None:
    with pytest.raises(TrafficStarsApiError) as caught:
        c.parse_balance(answer)
    assert caught.value.endpoint == c.BALANCE_PATH


def test_statuses_of_a_campaign_list() -> None:
    listed = [{"id": 1, "status": "paused"}, {"id": "2", "status": "enabled"}, {"id": 3}, {"status": "x"}, "junk"]
    assert c.statuses_of(listed) == {1: "paused", 2: "enabled"}


def test_campaign_answers() -> None:
    assert c.parse_campaign({"id": 4, "status": "paused"}, 4)["status"] == "paused"
    for bad in ([], {"id": 4}, {"id": 5, "status": "paused"}, {"status": 1}):
        with pytest.raises(TrafficStarsApiError):
            c.parse_campaign(bad, 4)


# -- which campaigns TrafficStars refuses ----------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [
        ("pause", "enabled", "changed"),
        ("pause", "no_funds_paused", "changed"),
        ("pause", "paused", "unchanged"),
        ("run", "paused", "changed"),
        ("run", "no_funds_paused", "changed"),
        ("run", "enabled", "unchanged"),
        *[(action, status, "failed") for action in ("run", "pause") for status in ("rejected", "draft", "unapproved")],
        ("run", None, "failed"),  # TrafficStars does not know the id
        ("pause", None, "failed"),
        ("run", "archived", "uncertain"),  # a status TrafficStars added later: nobody can tell before it answers
        ("pause", "Paused", "uncertain"),
        *[("update", status, "changed") for status in c.CAMPAIGN_STATUSES],
        ("update", "archived", "uncertain"),
        ("update", None, "failed"),
    ],
)
def test_predicted_outcomes(action: str, status: str | None, expected: str) -> None:
    assert rules.predict_outcome(action, status) == expected


def test_the_rule_agrees_with_the_emulator_for_every_status() -> None:
    """The emulator is written apart from the rule: for each status and state, the two must say the same."""
    from airflow_provider_trafficstars.testing._campaigns import STATUSES, CampaignStore

    assert set(STATUSES) == set(c.CAMPAIGN_STATUSES)
    for state in c.CAMPAIGN_STATES:
        store = CampaignStore(count=0)
        for cid, status in enumerate(STATUSES, start=1):
            store.set_campaign(cid, status=status)
        predicted = {
            cid: rules.predict_outcome(state, status)
            for cid, status in enumerate(STATUSES, start=1)
            if status != c.STATE_STATUS[state]
        }
        body = json.dumps({"campaign_ids": [*predicted, 404]}).encode()
        answer = store.handle("PUT", c.state_path(state), "", "application/json", body)
        assert answer["success"] == [cid for cid, outcome in predicted.items() if outcome == "changed"], state
        assert answer["failed"] == [cid for cid, outcome in predicted.items() if outcome == "failed"] + [404], state
        assert set(predicted.values()) == {"changed", "failed"}  # not vacuous: both kinds were sent
    assert rules.predict_outcome("run", None) == "failed"  # the 404 above: unknown to both


def test_predict_outcome_refuses_an_unknown_action() -> None:
    with pytest.raises(TrafficStarsConfigError):
        rules.predict_outcome("delete", "enabled")


# -- the max_change guard --------------------------------------------------------------------------
CAMPAIGN = {"id": 1, "status": "enabled", "price": 0.3, "max_daily": 100}


@pytest.mark.parametrize(
    ("wanted", "max_change"),
    [
        ({"price": 0.45}, 0.5),  # exactly +50 % (0.45 / 0.3 - 1 is 0.5000000000000001 in floats)
        ({"price": 0.15}, 0.5),  # exactly -50 %
        ({"max_daily": 150, "price": 0.3}, 0.5),
        ({"price": 3.0}, None),  # no guard
    ],
)
def test_moves_within_max_change_are_planned(wanted: dict[str, float], max_change: float | None) -> None:
    plan = rules.plan_update(1, CAMPAIGN, wanted, max_change)
    assert plan["after"] == wanted
    assert plan["before"] == {field: float(CAMPAIGN[field]) for field in wanted}  # type: ignore[arg-type]
    assert plan["changed"] == [field for field in wanted if wanted[field] != CAMPAIGN[field]]


@pytest.mark.parametrize(
    ("campaign", "wanted", "field", "before"),
    [
        (CAMPAIGN, {"price": 0.4501}, "price", 0.3),
        (CAMPAIGN, {"max_daily": 100, "price": 3.0}, "price", 0.3),  # a typo: 3.0 for 0.30
        (CAMPAIGN, {"max_daily": 49}, "max_daily", 100.0),
        ({"id": 1, "status": "enabled"}, {"price": 0.3}, "price", None),  # no current bid to compare
        ({"id": 1, "status": "enabled", "price": 0}, {"price": 0.01}, "price", 0.0),
    ],
)
def test_moves_beyond_max_change_are_refused(
    campaign: dict[str, Any], wanted: dict[str, float], field: str, before: float | None
) -> None:
    with pytest.raises(TrafficStarsGuardError) as caught:
        rules.plan_update(1, campaign, wanted, 0.5)
    err = caught.value
    assert (err.campaign_id, err.field, err.before, err.after, err.max_change) == (1, field, before, wanted[field], 0.5)


# -- the hook: bad input fails before any request --------------------------------------------------
@pytest.fixture
def hook(emulator: TrafficStarsEmulator, ts_conn: str) -> TrafficStarsHook:
    return TrafficStarsHook(ts_conn, token_cache=MemoryTokenCache("unit", store={}))


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.get_campaign(0),
        lambda h: h.get_campaign("12a"),
        lambda h: h.set_campaigns_state([1, -2], "pause"),
        lambda h: h.set_campaigns_state([1], "stop"),
        lambda h: h.set_campaigns_state([], "run"),
        lambda h: h.update_campaign(1),
        lambda h: h.update_campaign(1, price=-1),
        lambda h: h.update_campaign(True, price=1),
    ],
)
def test_hook_refuses_bad_input_before_any_request(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, call: Callable[[TrafficStarsHook], Any]
) -> None:
    with pytest.raises(TrafficStarsConfigError):
        call(hook)
    assert emulator.request_log() == []


def test_hook_campaign_calls(hook: TrafficStarsHook, emulator: TrafficStarsEmulator) -> None:
    emulator.campaigns.set_campaign(2, status="rejected")
    assert hook.set_campaigns_state([1, 2, 404], "pause") == {"success": [1], "failed": [2, 404], "total": 3}
    assert emulator.campaigns.get(1)["status"] == "paused"  # type: ignore[index]
    assert hook.update_campaign(1, max_daily=75)["max_daily"] == 75.0  # type: ignore[index]
    assert hook.get_campaign(1) == emulator.campaigns.get(1)
    emulator.campaigns.set_balance(-12.5)
    assert hook.get_balance() == -12.5
    with pytest.raises(TrafficStarsApiError) as caught:
        hook.get_campaign(404)
    assert caught.value.status_code == 404


# -- the balance trigger and sensor: arguments -----------------------------------------------------
def test_balance_trigger_serializes_its_checked_argument() -> None:
    from airflow_provider_trafficstars.triggers.balance import TrafficStarsBalanceTrigger

    path, kwargs = TrafficStarsBalanceTrigger(conn_id="ts", min_balance="12.5", poke_interval=5).serialize()
    assert path == "airflow_provider_trafficstars.triggers.balance.TrafficStarsBalanceTrigger"
    assert kwargs == {"conn_id": "ts", "poke_interval": 5.0, "timeout_at": None, "min_balance": 12.5}
    assert TrafficStarsBalanceTrigger(**kwargs).serialize() == (path, kwargs)
    for bad in (-1, "lots", math.inf, True):
        with pytest.raises(TrafficStarsConfigError):
            TrafficStarsBalanceTrigger(min_balance=bad)


def test_balance_sensor_checks_min_balance_when_the_dag_is_parsed() -> None:
    from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor

    with pytest.raises(TrafficStarsConfigError):
        TrafficStarsBalanceSensor(task_id="s", min_balance=-5)
    templated = TrafficStarsBalanceSensor(task_id="s", min_balance="{{ params.floor }}")
    assert templated.template_fields == ("trafficstars_conn_id", "min_balance")
    with pytest.raises(TrafficStarsConfigError):  # what the template rendered is checked before any call
        templated.make_trigger()
