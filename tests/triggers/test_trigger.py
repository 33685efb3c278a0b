"""TrafficStarsSessionTrigger against the emulator (real HTTP), with an in-memory Variable store."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pendulum
import pytest
import requests

from airflow_provider_trafficstars.client._checks import SUMMARY_KEYS
from airflow_provider_trafficstars.client.auth._token import AccessToken, fingerprint
from airflow_provider_trafficstars.client.http._waits import POLL_BACKOFF
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError
from airflow_provider_trafficstars.hooks import _airflow as _compat
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from airflow_provider_trafficstars.triggers.trafficstars import TRIGGER_PATH, TrafficStarsSessionTrigger
from tests.helpers import TOKEN_VAR, DictStore, assert_no_secret, conn_json, new_api_key, obtained_earlier

INFO = "/v1/auth/info"


@pytest.fixture
def store(store: DictStore, monkeypatch: pytest.MonkeyPatch) -> DictStore:
    """The root ``store``, installed as Airflow's Variable store: the triggers read and write it."""
    monkeypatch.setattr(_compat, "get_variable_store", lambda: store)
    return store


@pytest.fixture
def masked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(_compat, "mask_secret", seen.append)
    return seen


def run(trigger: TrafficStarsSessionTrigger) -> tuple[list[dict[str, Any]], float]:
    """Run the trigger to its first event (as the triggerer and ``dag.test()`` do)."""

    async def first() -> list[dict[str, Any]]:
        events = []
        async for event in trigger.run():
            events.append(event.payload)
            break
        return events

    started = time.monotonic()
    events = asyncio.run(first())
    return events, time.monotonic() - started


def deadline(seconds: float) -> str:
    return pendulum.now("UTC").add(seconds=seconds).isoformat()


# -- serialization --------------------------------------------------------------------------------
def test_serialized_kwargs_hold_no_secret_and_round_trip(ts_conn: str, api_key: str) -> None:
    trigger = TrafficStarsSessionTrigger(conn_id=ts_conn, min_ttl=60, poke_interval=0.5, timeout_at=1_900_000_000)
    path, kwargs = trigger.serialize()
    assert path == TRIGGER_PATH
    assert kwargs == {
        "conn_id": ts_conn,
        "min_ttl": 60.0,
        "poke_interval": 0.5,
        "timeout_at": "2030-03-17T17:46:40+00:00",
    }
    assert_no_secret(json.dumps(kwargs), api_key)
    assert TrafficStarsSessionTrigger(**kwargs).serialize() == (path, kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"min_ttl": -1}, {"poke_interval": float("inf")}, {"timeout_at": "soon"}, {"timeout_at": True}],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TrafficStarsConfigError):
        TrafficStarsSessionTrigger(**kwargs)


# -- polling --------------------------------------------------------------------------------------
def test_polls_through_503s_sleeping_between_polls(
    ts_conn: str, emulator: TrafficStarsEmulator, store: DictStore, masked: list[str], api_key: str
) -> None:
    emulator.fail_next(3, 503, path=INFO)
    events, elapsed = run(TrafficStarsSessionTrigger(ts_conn, poke_interval=0.2, timeout_at=deadline(10)))
    (event,) = events
    assert event["status"] == "success" and set(event["result"]) == set(SUMMARY_KEYS)
    assert 35900 < event["result"]["expires_in"] <= 36000 and event["result"]["token_type"] == "Bearer"
    assert emulator.count("POST", INFO) == 4
    assert elapsed >= 3 * 0.2  # slept between polls: no spinning
    assert emulator.token_requests == 1
    token = emulator.issued_tokens[0]
    # The new token went to the shared record (for the tasks downstream) and to the masker.
    assert json.loads(store.values[TOKEN_VAR])["access_token"] == token
    assert {api_key, token} <= set(masked)
    assert_no_secret(json.dumps(event), api_key, token)


def test_uses_a_fresh_shared_token_without_an_exchange(
    ts_conn: str, emulator: TrafficStarsEmulator, store: DictStore, masked: list[str], api_key: str
) -> None:
    answer = requests.post(
        f"{emulator.url}/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": api_key}, timeout=5
    ).json()
    token = AccessToken.from_token_response(
        answer, now=pendulum.now("UTC"), fingerprint=fingerprint(emulator.url, api_key)
    )
    store.values[TOKEN_VAR] = token.to_record()
    events, _ = run(TrafficStarsSessionTrigger(ts_conn, poke_interval=0.2, timeout_at=deadline(10)))
    assert events[0]["status"] == "success"
    assert emulator.token_requests == 1  # only the one above
    assert token.access_token in masked


def test_a_revoked_shared_token_is_replaced_once(
    ts_conn: str, emulator: TrafficStarsEmulator, store: DictStore, masked: list[str]
) -> None:
    run(TrafficStarsSessionTrigger(ts_conn, poke_interval=0.2, timeout_at=deadline(10)))
    store.values[TOKEN_VAR] = obtained_earlier(store.values[TOKEN_VAR])  # revoked an hour after it was obtained
    emulator.revoke_all()
    events, _ = run(TrafficStarsSessionTrigger(ts_conn, poke_interval=0.2, timeout_at=deadline(10)))
    assert events[0]["status"] == "success"
    assert emulator.token_requests == 2
    assert json.loads(store.values[TOKEN_VAR])["access_token"] == emulator.issued_tokens[1]


def test_a_rejected_key_is_an_error_event_without_retries(
    emulator: TrafficStarsEmulator, store: DictStore, masked: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = new_api_key()
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, wrong))
    events, _ = run(TrafficStarsSessionTrigger(poke_interval=0.2, timeout_at=deadline(10)))
    (event,) = events
    error = event["error"]
    assert (event["status"], error["type"], error["attributes"]["reason"], error["attributes"]["status_code"]) == (
        "error",
        "TrafficStarsAuthError",
        "invalid_grant",
        401,
    )
    assert emulator.token_requests == 1
    assert TOKEN_VAR not in store.values
    assert_no_secret(json.dumps(event), wrong)


def test_a_connection_without_key_is_an_error_event(
    emulator: TrafficStarsEmulator, store: DictStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, None))
    events, _ = run(TrafficStarsSessionTrigger(timeout_at=deadline(10)))
    assert (events[0]["status"], events[0]["error"]["attributes"]["reason"]) == ("error", "missing_api_key")
    assert emulator.count() == 0


def test_min_ttl_beyond_the_token_lifetime_is_an_error_event(
    api_key: str, store: DictStore, masked: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with TrafficStarsEmulator(api_keys=[api_key], token_lifetime=600) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emu.url, api_key))
        events, _ = run(TrafficStarsSessionTrigger(min_ttl=3600, poke_interval=0.2, timeout_at=deadline(10)))
        assert (events[0]["status"], events[0]["error"]["type"]) == ("error", "TrafficStarsConfigError")
        assert emu.token_requests == 1


def test_gives_up_at_the_deadline(
    ts_conn: str, emulator: TrafficStarsEmulator, store: DictStore, masked: list[str]
) -> None:
    emulator.fail_next(1000, 503, path=INFO)
    started = time.monotonic()  # before the deadline is set: the time the test takes to start counts too
    events, _ = run(TrafficStarsSessionTrigger(ts_conn, poke_interval=0.2, timeout_at=deadline(1)))
    elapsed = time.monotonic() - started
    (event,) = events
    assert event["status"] == "timeout" and "503" in event["message"]
    assert 0.9 <= elapsed < 1 + 10  # not before the deadline; after it, seconds of slack for a loaded machine
    # One poll every 0.2 s for 1 s, plus one at the deadline: at most 7, never a spin (fewer polls on a
    # busy machine; that it polls again after a 503 is shown above).
    assert 1 <= emulator.count("POST", INFO) <= 7


def test_an_unreachable_api_is_transient(
    api_key: str, store: DictStore, masked: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = TrafficStarsEmulator(api_keys=[api_key]).start()
    url = emu.url
    emu.stop()
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(url, api_key))
    events, _ = run(TrafficStarsSessionTrigger(poke_interval=0.1, timeout_at=deadline(0.5)))
    assert events[0]["status"] == "timeout"
    assert "could not be reached" in events[0]["message"]


def test_an_undefined_connection_is_an_error_event(store: DictStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    events, _ = run(TrafficStarsSessionTrigger("nowhere", timeout_at=deadline(10)))
    assert (events[0]["status"], events[0]["error"]["type"]) == ("error", "TrafficStarsConfigError")
    assert "nowhere" in events[0]["error"]["message"]


# -- the sensor's side of the event contract ------------------------------------------------------
def test_execute_complete_turns_events_into_results_or_errors() -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout

    from airflow_provider_trafficstars.client._checks import to_event
    from airflow_provider_trafficstars.exceptions import (
        TrafficStarsApiError,
        TrafficStarsAuthError,
        TrafficStarsTransportError,
    )
    from airflow_provider_trafficstars.sensors.trafficstars import TrafficStarsSessionSensor

    sensor = TrafficStarsSessionSensor(task_id="s", deferrable=True)
    summary = {"expires_in": 100, "expires_at": "2030-01-01T00:00:00+00:00", "token_type": "Bearer"}
    assert sensor.execute_complete({}, {"status": "success", "result": summary}) == summary
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete({}, {"status": "timeout", "message": "late"})
    rejected = TrafficStarsAuthError("rejected", reason="invalid_grant", status_code=401)
    with pytest.raises(AirflowFailException) as failed:  # lasting: no retries
        sensor.execute_complete({}, json.loads(json.dumps({"status": "error", "error": to_event(rejected)})))
    assert isinstance(failed.value.__cause__, TrafficStarsAuthError)
    assert failed.value.__cause__.reason == "invalid_grant"
    gone = TrafficStarsApiError("gone", status_code=404, method="POST", endpoint=INFO)
    with pytest.raises(TrafficStarsApiError) as info:
        sensor.execute_complete({}, json.loads(json.dumps({"status": "error", "error": to_event(gone)})))
    assert (type(info.value), info.value.status_code, info.value.endpoint, str(info.value)) == (
        TrafficStarsApiError,
        404,
        INFO,
        "gone",
    )
    tls = TrafficStarsTransportError("handshake failed", kind="tls", method="POST", endpoint=INFO)
    with pytest.raises(TrafficStarsTransportError) as info_tls:  # comes back with its kind, not a plain API error
        sensor.execute_complete({}, json.loads(json.dumps({"status": "error", "error": to_event(tls)})))
    assert (info_tls.value.kind, info_tls.value.method) == ("tls", "POST")
    with pytest.raises(AirflowFailException):
        sensor.execute_complete({}, {"status": "success"})  # a malformed event is not a success


# -- one token policy: the trigger renews through the client, lease and process lock included ---------------
def test_five_triggers_on_a_cold_cache_make_one_token_request(
    ts_conn: str, emulator: TrafficStarsEmulator, store: DictStore, masked: list[str]
) -> None:
    async def all_five() -> list[dict[str, Any]]:
        triggers = [TrafficStarsSessionTrigger(ts_conn, poke_interval=0.2, timeout_at=deadline(30)) for _ in range(5)]

        async def first(trigger: TrafficStarsSessionTrigger) -> dict[str, Any]:
            async for event in trigger.run():
                return event.payload
            raise AssertionError("no event")

        return list(await asyncio.gather(*(first(t) for t in triggers)))

    events = asyncio.run(all_five())
    assert [e["status"] for e in events] == ["success"] * 5
    assert emulator.token_requests == 1
    assert json.loads(store.values[TOKEN_VAR])["access_token"] == emulator.issued_tokens[0]


def test_a_429_with_retry_after_holds_the_next_poll_back(
    ts_conn: str, emulator: TrafficStarsEmulator, store: DictStore, masked: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_trafficstars.triggers import base

    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def record(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(base.asyncio, "sleep", record)
    emulator.fail_next(1, 429, retry_after="7", path=INFO)
    events, _ = run(TrafficStarsSessionTrigger(ts_conn, poke_interval=0.1, timeout_at=deadline(60)))
    assert events[0]["status"] == "success"
    assert waits == [7.0]  # what Retry-After said, not poke_interval

    # Without Retry-After: polls in a row back off by the calls' schedule (waits.Backoff), not every 0.1 s.
    waits.clear()
    emulator.fail_next(3, 429, path=INFO)
    events, _ = run(TrafficStarsSessionTrigger(ts_conn, poke_interval=0.1, timeout_at=deadline(600)))
    assert events[0]["status"] == "success"
    step = POLL_BACKOFF.rate_limited_step()
    assert len(waits) == 3
    for n, wait in enumerate(waits, start=1):
        assert step * 2 ** (n - 1) <= wait <= step * 2 ** (n - 1) + POLL_BACKOFF.base


# -- the account's call budget ----------------------------------------------------------------------------
def test_a_budget_wait_is_awaited_and_never_holds_the_triggerers_thread(
    store: DictStore, monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator, api_key: str
) -> None:
    """Issue 16: another process holds the account's whole budget for a minute. The trigger's poll does not
    sleep in its worker thread (the triggerer's pool, one thread here, stays free for every other trigger and
    lookup) and the event loop goes on; the trigger awaits the wait, here until its deadline."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_trafficstars.client.cache._budget import budget_key
    from airflow_provider_trafficstars.client.cache._grants import Record

    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key, rate_limit=2))
    held = Record(grants=[("another-process", time.time() + 5, 2)], claims={"another-process": (time.time(), 2)})
    store.set(budget_key(fingerprint(emulator.url, api_key)), held.to_json())
    trigger = TrafficStarsSessionTrigger(poke_interval=0.1, timeout_at=deadline(3))

    async def scenario() -> tuple[dict[str, Any], list[float], float]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        lookups: list[float] = []

        async def other_trigger() -> None:  # needs the same one thread, over and over, during the wait
            for _ in range(20):
                started = time.monotonic()
                await loop.run_in_executor(None, time.monotonic)
                lookups.append(time.monotonic() - started)
                await asyncio.sleep(0.05)

        async def first_event() -> dict[str, Any]:
            async for event in trigger.run():
                return dict(event.payload)
            raise AssertionError("no event")

        started = time.monotonic()
        other = asyncio.create_task(other_trigger())
        event = await first_event()
        took = time.monotonic() - started
        await other
        return event, lookups, took

    event, lookups, took = asyncio.run(scenario())
    assert event["status"] == "timeout" and "call budget" in event["message"]
    assert len(lookups) == 20 and max(lookups) < 1.0  # the thread was never held for the wait
    assert took < 30  # the minute's wait was cut at the deadline, not slept through
    assert emulator.request_log() == []  # nothing was sent: not even the token request had budget
