"""Fault injection, part 4: the API refuses a call (401/403/404/400), logout after revocation, and
error bodies that echo credentials."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_trafficstars.exceptions import TrafficStarsApiError, TrafficStarsAuthError
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import CAMPAIGNS, TOKEN_PATH, TOKEN_VAR, CountingStore, Waits, age_token_variable, variable

pytestmark = pytest.mark.integration
LOGOUT = "/v1/auth/logout"
REPORT = "/v1.1/advertiser/custom/report/by-day"


@pytest.fixture
def hook(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook], waits: Waits
) -> TrafficStarsHook:
    h = make_hook(max_retries=2)
    h.get_token()
    waits.clear()
    return h


# -- 401 -----------------------------------------------------------------------------------------------
def test_401_takes_the_token_another_task_stored_without_a_token_request(
    hook: TrafficStarsHook, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    old = hook.get_token().access_token
    age_token_variable()  # the shared token is an hour old when it is revoked
    emulator.revoke_all()
    other = make_hook(max_retries=2)  # another task: its call gets 401 and renews into the Variable
    assert other.request("GET", CAMPAIGNS).status_code == 200
    new = json.loads(variable(TOKEN_VAR) or "{}")["access_token"]
    assert new != old and emulator.token_requests == 2
    # Our hook still holds the revoked token in memory: 401, re-read the Variable, retry with its token.
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert emulator.token_requests == 2
    assert hook.get_token().access_token == new


def test_401_on_a_revoked_old_token_renews_once_and_succeeds(
    airflow_db: Path,
    clean_variables: None,
    counted_store: CountingStore,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
) -> None:
    hook = make_hook(max_retries=2)
    hook.get_token()
    age_token_variable()
    emulator.revoke_all()
    writes = counted_store.count("set", TOKEN_VAR)
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert emulator.token_requests == 2  # the first one, and one renewal
    assert counted_store.count("set", TOKEN_VAR) == writes + 1
    assert json.loads(variable(TOKEN_VAR) or "{}")["access_token"] == emulator.issued_tokens[-1]
    assert [r.status for r in emulator.request_log() if r.path == CAMPAIGNS] == [401, 200]


def test_second_401_is_an_auth_error_after_exactly_one_refresh(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    age_token_variable()
    emulator.fail_next(2, 401, path=CAMPAIGNS)
    with caplog.at_level(logging.WARNING), pytest.raises(TrafficStarsAuthError) as info:
        hook.request("GET", CAMPAIGNS)
    assert (info.value.reason, info.value.status_code) == ("unauthorized", 401)
    assert emulator.token_requests == 2  # the first one, and one refresh
    assert emulator.count("GET", CAMPAIGNS) == 2  # the call, and one retry
    # No backoff either (the waits of the shared renewal lease are no retries, so count the retry log).
    assert not [
        r
        for r in caplog.records
        if r.name.startswith("airflow_provider_trafficstars.client") and r.levelno >= logging.WARNING
    ]
    # Nothing is left broken: the renewed token is cached and the next call just works.
    assert json.loads(variable(TOKEN_VAR) or "{}")["access_token"] == emulator.issued_tokens[-1]
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert emulator.token_requests == 2


def test_ten_calls_to_a_forbidden_endpoint_cost_one_token_request_and_one_variable_write(
    airflow_db: Path,
    clean_variables: None,
    counted_store: CountingStore,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
) -> None:
    emulator.forbid(REPORT)  # the key may not read this report: valid tokens get 401
    hooks = [make_hook(max_retries=2) for _ in range(10)]  # ten tasks, one call each
    for calls, hook in enumerate(hooks, start=1):
        with pytest.raises(TrafficStarsAuthError) as info:
            hook.request("GET", REPORT, params={"date_from": "2026-01-01", "date_to": "2026-01-01"})
        assert (info.value.reason, info.value.status_code) == ("unauthorized", 401)
        assert emulator.count("GET", REPORT) == calls  # no second try with the same or another token
    assert emulator.token_requests == 1
    assert counted_store.count("set", TOKEN_VAR) == 1
    # The shared token was not blamed: every other endpoint takes it.
    assert hooks[-1].request("GET", CAMPAIGNS).status_code == 200
    assert emulator.token_requests == 1


def test_an_endpoint_that_always_answers_401_never_loops(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator
) -> None:
    age_token_variable()
    emulator.fail_next(1000, 401, path=CAMPAIGNS)
    # The old token: one renewal (the call, a renewal, the call again); the new one is refused at once after.
    for sent in (2, 3, 4):
        with pytest.raises(TrafficStarsAuthError):
            hook.request("GET", CAMPAIGNS)
        assert (emulator.count("GET", CAMPAIGNS), emulator.token_requests) == (sent, 2)


# -- 403 / 404 / 400 -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "endpoint", "params"),
    [
        (403, CAMPAIGNS, None),
        (404, "/v1.1/no-such-resource", None),
        (404, REPORT, {"date_from": "2026-01-01", "date_to": "2026-01-02", "campaign_id": [999]}),
        (400, REPORT, {"date_from": "2026-13-01", "date_to": "2026-01-02"}),
    ],
)
def test_client_errors_are_api_errors_without_refresh_or_retry(
    hook: TrafficStarsHook,
    emulator: TrafficStarsEmulator,
    waits: Waits,
    status: int,
    endpoint: str,
    params: dict[str, object] | None,
) -> None:
    if status == 403:
        emulator.fail_next(1, 403, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("GET", endpoint, params=params)
    err = info.value
    assert type(err) is TrafficStarsApiError
    assert (err.status_code, err.method, err.endpoint, err.attempts) == (status, "GET", endpoint, 1)
    assert emulator.count("GET", endpoint) == 1
    assert emulator.token_requests == 1 and waits == []
    assert variable(TOKEN_VAR) is not None  # the token was not blamed


# -- logout --------------------------------------------------------------------------------------------
def test_logout_of_an_already_revoked_token_succeeds_and_clears_the_cache(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator
) -> None:
    emulator.revoke_all()
    hook.logout()
    assert [r.status for r in emulator.request_log() if r.path == LOGOUT] == [401]
    assert variable(TOKEN_VAR) is None
    assert emulator.token_requests == 1  # no refresh just to log out


def test_logout_that_fails_still_clears_the_cache(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.fail_next(100, 503, path=LOGOUT)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.logout()
    assert (info.value.status_code, info.value.endpoint, info.value.attempts) == (503, LOGOUT, 3)
    assert variable(TOKEN_VAR) is None


# -- error bodies that echo credentials ----------------------------------------------------------------
def test_error_excerpt_drops_an_echoed_access_token(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, api_key: str
) -> None:
    token = hook.get_token().access_token
    emulator.echo_secrets_in_errors()
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("GET", "/v1.1/no-such-resource")
    err = info.value
    assert err.status_code == 404 and "presented credential" in err.body_excerpt  # the echo did arrive
    for text in (err.body_excerpt, str(err), repr(err)):
        assert token not in text and api_key not in text


def test_error_excerpt_drops_an_echoed_api_key(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    api_key: str,
) -> None:
    emulator.echo_secrets_in_errors()
    emulator.fail_next(100, 500, path=TOKEN_PATH)  # the token endpoint fails and echoes the form body's key
    with pytest.raises(TrafficStarsApiError) as info:
        make_hook(max_retries=1).get_token()
    err = info.value
    assert err.status_code == 500 and "presented credential" in err.body_excerpt
    for text in (err.body_excerpt, str(err), repr(err)):
        assert api_key not in text


def test_rejected_key_echoed_back_is_not_in_the_auth_error(
    airflow_db: Path, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    emulator.echo_secrets_in_errors()
    wrong = "tsk-wrong-key-0123456789abcdef"
    with pytest.raises(TrafficStarsAuthError) as info:
        make_hook(key=wrong).get_token()
    assert info.value.reason == "invalid_grant"
    assert wrong not in str(info.value) and wrong not in repr(info.value)


def test_get_access_token_is_a_deprecated_spelling_of_get_token(hook: TrafficStarsHook) -> None:
    with pytest.warns(DeprecationWarning, match="get_token"):
        assert hook.get_access_token() == hook.get_token().access_token
