"""TrafficStarsClient error mapping against requests_mock, and token sharing against the real emulator."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
import requests_mock as rm

from airflow_provider_trafficstars.client._client import ClientConfig, TrafficStarsClient
from airflow_provider_trafficstars.client.auth._token import JUST_OBTAINED
from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsAuthError,
    TrafficStarsConfigError,
    TrafficStarsTransportError,
)
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import Clock, Waits

BASE = "https://api.example.test"
KEY = "tsk-unit-test-key-0123456789"
TOKEN_URL = f"{BASE}/v1/auth/token"
GOOD = {"access_token": "tok-0001-abcdef", "expires_in": 36000, "token_type": "Bearer", "id_token": "a.b.c"}


def make_client(clock: Clock, waits: Waits, base: str = BASE, **config: Any) -> TrafficStarsClient:
    return TrafficStarsClient(
        ClientConfig(base_url=base, api_key=KEY, **config),
        MemoryTokenCache(f"test-{id(clock)}", store={}),
        clock=clock,
        sleep=waits,
    )


def test_token_request_is_the_documented_form_post(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    client = make_client(clock, waits)
    assert client.token().access_token == GOOD["access_token"]
    sent = requests_mock.request_history[0]
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.text == f"grant_type=refresh_token&refresh_token={KEY}"


@pytest.mark.parametrize("status", [400, 401, 403])
def test_rejected_key_is_an_auth_error_without_retry(
    requests_mock: rm.Mocker, clock: Clock, waits: list, status: int
) -> None:
    requests_mock.post(TOKEN_URL, status_code=status, json={"error": "invalid_grant"})
    client = make_client(clock, waits)
    with pytest.raises(TrafficStarsAuthError) as info:
        client.token()
    assert info.value.status_code == status
    assert info.value.reason == "invalid_grant"
    assert requests_mock.call_count == 1
    assert client.cache.load() is None
    assert KEY not in str(info.value)


def test_html_token_answer_is_an_auth_error_and_caches_nothing(
    requests_mock: rm.Mocker, clock: Clock, waits: list
) -> None:
    requests_mock.post(TOKEN_URL, text="<html>maintenance</html>", headers={"Content-Type": "text/html"})
    client = make_client(clock, waits)
    with pytest.raises(TrafficStarsAuthError) as info:
        client.token()
    assert info.value.reason == "bad_token_response"
    assert client.cache.load() is None


def test_429_waits_retry_after_seconds_then_succeeds(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    requests_mock.get(
        f"{BASE}/v1.1/campaigns",
        [{"status_code": 429, "headers": {"Retry-After": "7"}}, {"json": {"response": []}}],
    )
    client = make_client(clock, waits)
    assert client.request("GET", "/v1.1/campaigns").json() == {"response": []}
    assert waits == [7.0]


def test_429_retry_after_http_date_is_relative_to_the_clock(
    requests_mock: rm.Mocker, clock: Clock, waits: list
) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    when = clock.now.add(seconds=12).format("ddd, DD MMM YYYY HH:mm:ss [GMT]")
    requests_mock.get(f"{BASE}/v1.1/campaigns", [{"status_code": 429, "headers": {"Retry-After": when}}, {"json": []}])
    make_client(clock, waits).request("GET", "/v1.1/campaigns")
    assert waits == [12.0]


def test_retry_after_is_honoured_exactly_when_it_fits_the_budget(
    requests_mock: rm.Mocker, clock: Clock, waits: list
) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    requests_mock.get(f"{BASE}/v1.1/campaigns", [{"status_code": 429, "headers": {"Retry-After": "100"}}, {"json": []}])
    make_client(clock, waits).request("GET", "/v1.1/campaigns")
    assert waits == [100.0]  # not cut short: a retry before the server's time would only earn another 429


def test_retry_after_beyond_the_budget_fails_at_once_with_retry_after(
    requests_mock: rm.Mocker, clock: Clock, waits: list
) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    api = requests_mock.get(
        f"{BASE}/v1.1/campaigns", [{"status_code": 429, "headers": {"Retry-After": "3600"}}, {"json": []}]
    )
    with pytest.raises(TrafficStarsApiError) as info:
        make_client(clock, waits).request("GET", "/v1.1/campaigns")
    assert (info.value.status_code, info.value.retry_after, info.value.attempts) == (429, 3600.0, 1)
    assert waits == [] and api.call_count == 1  # no early retry, no hour-long sleep inside a call


def test_5xx_on_get_backs_off_exponentially_then_raises(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    requests_mock.get(f"{BASE}/v1.1/campaigns", status_code=503, text="busy")
    client = make_client(clock, waits, max_retries=3, backoff_base=1.0)
    with pytest.raises(TrafficStarsApiError) as info:
        client.request("GET", "/v1.1/campaigns")
    err = info.value
    assert (err.status_code, err.method, err.endpoint, err.attempts) == (503, "GET", "/v1.1/campaigns", 4)
    assert len(waits) == 3
    # tenacity's wait_exponential_jitter: 1, 2, 4 plus up to 1 s of jitter
    for wait, step in zip(waits, (1, 2, 4), strict=True):
        assert step <= wait <= step + 1


def test_5xx_on_post_is_not_retried_unless_opted_in(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    requests_mock.post(f"{BASE}/v1.1/campaigns", [{"status_code": 502}, {"json": {"ok": 1}}])
    client = make_client(clock, waits)
    with pytest.raises(TrafficStarsApiError) as info:
        client.request("POST", "/v1.1/campaigns", json={})
    assert info.value.status_code == 502
    assert waits == []
    assert client.request("POST", "/v1.1/campaigns", json={}, idempotent=True).status_code == 200


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_retried_and_keep_the_token(
    requests_mock: rm.Mocker, clock: Clock, waits: list, status: int
) -> None:
    token_route = requests_mock.post(TOKEN_URL, json=GOOD)
    api = requests_mock.get(f"{BASE}/v1.1/campaigns/9", status_code=status, json={"error": "nope"})
    client = make_client(clock, waits)
    with pytest.raises(TrafficStarsApiError) as info:
        client.request("GET", "/v1.1/campaigns/9")
    assert info.value.status_code == status
    assert (token_route.call_count, api.call_count, waits) == (1, 1, [])


def test_401_on_an_old_token_refreshes_once_and_retries_once(
    requests_mock: rm.Mocker, clock: Clock, waits: list
) -> None:
    second = dict(GOOD, access_token="tok-0002-abcdef")
    token_route = requests_mock.post(TOKEN_URL, [{"json": GOOD}, {"json": second}])
    api = requests_mock.get(f"{BASE}/v1.1/campaigns", [{"status_code": 401}, {"json": []}])
    client = make_client(clock, waits)
    client.token()
    clock.advance(3600)  # the token is an hour old when the API rejects it: expired or revoked
    client.request("GET", "/v1.1/campaigns")
    assert token_route.call_count == 2
    assert api.request_history[1].headers["Authorization"] == "Bearer tok-0002-abcdef"


def test_second_401_is_an_auth_error_not_a_loop(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    token_route = requests_mock.post(TOKEN_URL, json=GOOD)
    api = requests_mock.get(f"{BASE}/v1.1/campaigns", status_code=401)
    client = make_client(clock, waits)
    client.token()
    clock.advance(3600)
    with pytest.raises(TrafficStarsAuthError) as info:
        client.request("GET", "/v1.1/campaigns")
    assert (info.value.reason, info.value.status_code) == ("unauthorized", 401)
    assert (token_route.call_count, api.call_count) == (2, 2)


@pytest.mark.parametrize("age", [0.0, JUST_OBTAINED - 1])
def test_401_on_a_token_just_obtained_is_a_refusal_without_a_new_token(
    requests_mock: rm.Mocker, clock: Clock, waits: list, age: float
) -> None:
    token_route = requests_mock.post(TOKEN_URL, json=GOOD)
    api = requests_mock.get(f"{BASE}/v1.1/campaigns", status_code=401)
    client = make_client(clock, waits)
    client.token()
    clock.advance(age)
    for calls in range(1, 4):
        with pytest.raises(TrafficStarsAuthError) as info:
            client.request("GET", "/v1.1/campaigns")
        assert (info.value.reason, info.value.status_code) == ("unauthorized", 401)
        assert (token_route.call_count, api.call_count) == (1, calls)
    assert client.cache.load() is not None  # the token was not blamed: it stays shared


def test_401_at_exactly_the_just_obtained_limit_renews(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    token_route = requests_mock.post(TOKEN_URL, [{"json": GOOD}, {"json": dict(GOOD, access_token="tok-0002-x")}])
    requests_mock.get(f"{BASE}/v1.1/campaigns", [{"status_code": 401}, {"json": []}])
    client = make_client(clock, waits)
    client.token()
    clock.advance(JUST_OBTAINED)
    client.request("GET", "/v1.1/campaigns")
    assert token_route.call_count == 2


def test_401_after_a_logout_cleared_the_record_renews_even_a_young_token(
    requests_mock: rm.Mocker, clock: Clock, waits: list
) -> None:
    # Another task logged out (the server revoked the token, the record is gone): that is no refusal.
    token_route = requests_mock.post(TOKEN_URL, [{"json": GOOD}, {"json": dict(GOOD, access_token="tok-0002-x")}])
    requests_mock.get(f"{BASE}/v1.1/campaigns", [{"status_code": 401}, {"json": []}])
    client = make_client(clock, waits)
    client.token()
    client.cache.clear()
    client.request("GET", "/v1.1/campaigns")
    assert token_route.call_count == 2


def test_error_excerpt_has_secrets_removed(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    echo = f'{{"error": "bad", "token": "{GOOD["access_token"]}", "key": "{KEY}", "auth": "Bearer xyz123"}}'
    requests_mock.get(f"{BASE}/v1.1/campaigns", status_code=400, text=echo)
    with pytest.raises(TrafficStarsApiError) as info:
        make_client(clock, waits).request("GET", "/v1.1/campaigns")
    for text in (info.value.body_excerpt, str(info.value)):
        assert GOOD["access_token"] not in text
        assert KEY not in text
        assert "xyz123" not in text


def test_connection_refused_is_bounded_and_says_unreachable(clock: Clock, waits: list) -> None:
    client = make_client(clock, waits, base="http://127.0.0.1:9", max_retries=2, timeout=2)
    with pytest.raises(TrafficStarsTransportError) as info:
        client.token()
    assert info.value.kind == "connect"
    assert info.value.attempts == 3
    assert len(waits) == 2
    assert "could not be reached" in str(info.value)


def test_backoff_budget_bounds_the_whole_call(
    requests_mock: rm.Mocker, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tenacity's stop_before_delay reads time.monotonic: move it with every injected wait instead of sleeping.
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    requests_mock.post(TOKEN_URL, exc=requests.ConnectionError("Connection refused"))
    config = ClientConfig(base_url=BASE, api_key=KEY, max_retries=10, backoff_base=8, backoff_max=30, backoff_budget=20)
    client = TrafficStarsClient(config, MemoryTokenCache("budget", store={}), clock=clock, sleep=sleep)
    with pytest.raises(TrafficStarsTransportError) as info:
        client.token()
    # A wait of 8-9 s, then the next one (16-17 s) would end past the 20 s budget: 2 attempts, not 11.
    assert len(waits) == 1 and info.value.attempts == 2


def test_get_with_body_and_foreign_urls_are_refused(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    client = make_client(clock, waits)
    with pytest.raises(TrafficStarsConfigError):
        client.request("GET", "/v1.1/campaigns", json={"a": 1})
    with pytest.raises(TrafficStarsConfigError):
        client.request("GET", "https://evil.example/steal")
    assert requests_mock.call_count == 0


def test_list_params_use_array_syntax(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    requests_mock.post(TOKEN_URL, json=GOOD)
    api = requests_mock.get(f"{BASE}/v1.1/campaigns", json=[])
    make_client(clock, waits).request("GET", "/v1.1/campaigns", params={"id": [1, 2], "status": "active"})
    assert api.last_request.query == "id%5b%5d=1&id%5b%5d=2&status=active"
    assert "Content-Type" not in api.last_request.headers


def test_token_is_reused_until_the_refresh_threshold(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    token_route = requests_mock.post(TOKEN_URL, json=dict(GOOD, expires_in=1000))
    client = make_client(clock, waits, refresh_margin=300)
    first = client.token()
    clock.now = clock.now.add(seconds=699)
    assert client.token() is first
    clock.now = clock.now.add(seconds=1)
    assert client.token() is not first
    assert token_route.call_count == 2


def test_32_threads_on_a_cold_cache_make_one_token_request() -> None:
    with TrafficStarsEmulator(api_keys=[KEY]) as emu:
        client = TrafficStarsClient(ClientConfig(base_url=emu.url, api_key=KEY), MemoryTokenCache("t32", store={}))
        emu.set_latency(0.2, path="/v1/auth/token")  # widen the race window
        barrier = threading.Barrier(32)
        seen: list[str] = []

        def work() -> None:
            barrier.wait()
            seen.append(client.token().access_token)
            client.request("GET", "/v1.1/campaigns")

        threads = [threading.Thread(target=work) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert emu.token_requests == 1
        assert len(seen) == 32 and len(set(seen)) == 1
        assert emu.count("GET", "/v1.1/campaigns") == 32


def test_repr_hides_the_key(clock: Clock, waits: list) -> None:
    client = make_client(clock, waits)
    assert KEY not in repr(client)
    assert KEY not in repr(client.config)


def test_a_token_in_a_204_answer_is_not_taken(requests_mock: rm.Mocker, clock: Clock, waits: list) -> None:
    # 204 has no body by definition (RFC 9110): whatever a broken server sends after it is not a token.
    requests_mock.post(TOKEN_URL, status_code=204, json=GOOD)
    with pytest.raises(TrafficStarsAuthError) as info:
        make_client(clock, waits).token()
    assert info.value.reason == "bad_token_response"
