"""Issue 10's table, row by row, against the real emulator: what each bad input or odd answer must do."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_trafficstars.client.auth._token import fingerprint
from airflow_provider_trafficstars.client.cache import _lease_record as lease
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsConfigError,
    TrafficStarsRedirectError,
    TrafficStarsTransportError,
)
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import CAMPAIGNS, CONN_ID, TOKEN_PATH, TOKEN_VAR, Waits, assert_no_secret, variable


def test_a_redirect_of_the_token_call_is_a_typed_error_and_nothing_is_cached(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    api_key: str,
) -> None:
    emulator.redirect_next(1, path=TOKEN_PATH, status=307, location="http://elsewhere.example/v1/auth/token")
    hook = make_hook()
    with pytest.raises(TrafficStarsRedirectError) as info:
        hook.get_token()
    err = info.value
    assert (err.status_code, err.location_host, err.endpoint, err.attempts) == (307, "elsewhere.example", TOKEN_PATH, 1)
    assert variable(TOKEN_VAR) is None
    assert [(r.path, r.status) for r in emulator.request_log()] == [(TOKEN_PATH, 307)]  # answered, not followed
    assert_no_secret(str(err), api_key)


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", 5, "caf\u00e9"])
def test_a_header_that_cannot_be_sent_is_refused_before_any_request(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    waits: Waits,
    value: object,
) -> None:
    with pytest.raises(TrafficStarsConfigError):
        make_hook().request("GET", CAMPAIGNS, headers={"X-Trace": value})  # type: ignore[dict-item]
    assert emulator.count() == 0 and waits == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "/v1/auth/info",
        "v1/auth/token",
        "/V1/AUTH/logout",
        "/v1/auth/info/",
        # what nginx and many servers route to the same endpoint (merged slashes, decoded escapes)
        "/v1//auth/info",
        "//v1/auth/info",
        "/v1/%61uth/info",
        "/v1/auth%2finfo",
        "/v1/auth%2Ftoken",
        "/v1/auth%252finfo",
        "/%761/auth/logout",
    ],
)
def test_generic_calls_refuse_the_auth_endpoints(
    make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator, endpoint: str
) -> None:
    with pytest.raises(TrafficStarsConfigError) as info:
        make_hook().request("POST", endpoint)
    assert "get_session_info" in str(info.value)
    assert emulator.count() == 0


def test_a_url_in_a_query_value_is_just_a_value(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    assert make_hook().request("GET", "/v1.1/campaigns?next=https://x.example/y").status_code == 200
    (sent,) = [r for r in emulator.request_log() if r.path == CAMPAIGNS]
    assert sent.query == "next=https://x.example/y"


@pytest.mark.parametrize("endpoint", ["/v1.1/../admin", "/v1.1/./campaigns", "/v1.1/%2e%2e/admin", "/a\\..\\b"])
def test_dot_segments_are_never_sent(
    make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator, endpoint: str
) -> None:
    with pytest.raises(TrafficStarsConfigError):
        make_hook().request("GET", endpoint)
    assert emulator.count() == 0


@pytest.mark.parametrize("extra", ["[1, 2]", '"x"', "not json", "7"])
def test_an_extra_that_is_not_a_json_object_is_a_config_error_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator, api_key: str, extra: str
) -> None:
    # A connection whose extra holds that text, as a secrets backend or an older metadata row may hand it over
    # (Airflow's own Connection classes refuse to build one on some versions, so the hook gets a plain record).
    conn = SimpleNamespace(conn_id=CONN_ID, conn_type="trafficstars", host=emulator.url, port=None, password=api_key)
    conn.extra = extra
    monkeypatch.setattr(TrafficStarsHook, "get_connection", classmethod(lambda cls, conn_id: conn))
    with pytest.raises(TrafficStarsConfigError) as info:
        TrafficStarsHook().get_token()
    assert CONN_ID in str(info.value)
    assert emulator.count() == 0


@pytest.mark.parametrize("host", ["http:/api.trafficstars.com", "https:api.trafficstars.com", "http://host:"])
def test_a_malformed_scheme_is_a_config_error_before_any_call(
    make_hook: Callable[..., TrafficStarsHook], host: str, waits: Waits
) -> None:
    with pytest.raises(TrafficStarsConfigError):
        make_hook(url=host).get_token()
    assert waits == []


def test_a_cache_variable_airflow_would_show_is_refused(
    make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    with pytest.raises(TrafficStarsConfigError) as info:
        make_hook(cache_variable="ts_cache").get_token()
    assert "ts_cache" in str(info.value) and "mask" in str(info.value)
    assert emulator.count() == 0


def test_the_old_token_variable_extra_is_still_read_with_a_deprecation_warning(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook]
) -> None:
    hook = make_hook(token_variable="trafficstars_access_token_legacy")
    with pytest.warns(DeprecationWarning, match="cache_variable"):
        hook.get_token()
    assert variable("trafficstars_access_token_legacy") is not None
    assert variable(TOKEN_VAR) is None


def test_https_to_a_plain_http_server_names_tls_and_is_not_retried(
    make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    with pytest.raises(TrafficStarsTransportError) as info:
        make_hook(url=emulator.url.replace("http://", "https://"), single_flight=False, rate_limit=0).get_token()
    assert (info.value.kind, info.value.attempts) == ("tls", 1)
    assert "http://" in str(info.value) and waits == []


def test_repeated_connection_tests_keep_no_lock_per_call(make_hook: Callable[..., TrafficStarsHook]) -> None:
    hook = make_hook()
    for _ in range(3):  # warm up: whatever the first calls create
        assert hook.test_connection()[0]
    before = len(lease._LOCKS)
    for _ in range(20):
        assert hook.test_connection()[0]
    assert len(lease._LOCKS) <= before


def test_the_fingerprint_keeps_base_url_and_key_apart() -> None:
    assert fingerprint("https://a.example.com", "1abc") != fingerprint("https://a.example.com1", "abc")


def test_logout_after_another_task_renewed_ends_the_shared_session(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    monkeypatch: pytest.MonkeyPatch,
    api_key: str,
) -> None:
    task_a = make_hook()
    task_a.get_token()  # A holds the first token in memory
    task_b = TrafficStarsHook()
    task_b.get_token(force_refresh=True)  # B renews: the Variable holds the second token
    first, second = emulator.issued_tokens
    assert json.loads(variable(TOKEN_VAR) or "{}")["access_token"] == second
    assert task_a.logout() is True
    # Both sessions were ended, and the Variable holds no token (none of them is alive).
    live = emulator.state.stats()
    assert variable(TOKEN_VAR) is None
    assert emulator.count("GET", "/v1/auth/logout") == 2, live
    for token in (first, second):
        assert emulator.state.valid_token(token) is None


def test_logout_leaves_a_token_stored_after_it_alone(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    hook = make_hook()
    hook.get_token()
    newer = TrafficStarsHook()
    original_send = hook.get_conn()._transport.send

    def send_then_another_task_renews(*args: object, **kwargs: object) -> object:
        response = original_send(*args, **kwargs)  # type: ignore[arg-type]
        if "/v1/auth/logout" in str(args[1]):
            newer.get_token(force_refresh=True)
        return response

    hook.get_conn()._transport.send = send_then_another_task_renews  # type: ignore[method-assign]
    hook.logout()
    stored = json.loads(variable(TOKEN_VAR) or "{}")["access_token"]
    assert stored == emulator.issued_tokens[-1]
    assert emulator.state.valid_token(stored) is not None  # the Variable holds a token only if it is alive


@pytest.mark.parametrize("path", [TOKEN_PATH, CAMPAIGNS])
def test_timeout_bounds_the_whole_attempt_against_a_trickling_server(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    path: str,
) -> None:
    hook = make_hook(timeout=2, max_retries=0, single_flight=False)
    if path == CAMPAIGNS:
        hook.get_token()  # the token answer comes at full speed; only the API call trickles
    emulator.trickle(0.5, path=path)  # each body is hundreds of bytes: minutes if each read had 2 s
    started = time.monotonic()
    with pytest.raises(TrafficStarsTransportError) as info:
        hook.request("GET", CAMPAIGNS)
    elapsed = time.monotonic() - started
    assert (info.value.kind, info.value.attempts) == ("timeout", 1)
    # 2 s of timeout plus at most one byte's pause already under way; a margin of seconds for a loaded box.
    assert 2 <= elapsed < 10
    emulator.trickle(0)
