"""Fault injection, part 2: the token endpoint rejects the key or answers garbage.

Each case: a typed ``TrafficStarsAuthError`` that says what was wrong, exactly one token request (no
retries), and a token cache Variable left exactly as it was (nothing broken is ever cached).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pendulum
import pytest

from airflow_provider_trafficstars.client.auth._token import DEFAULT_LIFETIME_WHEN_MISSING, AccessToken, fingerprint
from airflow_provider_trafficstars.exceptions import TrafficStarsAuthError
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import TOKEN_VAR, Clock, new_api_key, variable

pytestmark = pytest.mark.integration


def set_variable(key: str, value: str) -> None:
    from airflow.models import Variable

    Variable.set(key, value)


def expired_record(url: str, api_key: str) -> str:
    obtained = pendulum.now("UTC").subtract(hours=11)
    token = AccessToken("tok-expired-0123456789", "Bearer", obtained, obtained.add(hours=10), fingerprint(url, api_key))
    return token.to_record()


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (None, None, "invalid_grant"),  # a key the emulator does not know: its own 401 invalid_grant
        (400, '{"error": "invalid_grant", "error_description": "revoked"}', "invalid_grant"),
        (401, '{"error": "invalid_client"}', "invalid_grant"),
        (403, "<html>forbidden</html>", "rejected"),
    ],
)
def test_rejected_key_is_one_request_and_leaves_the_cache_alone(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    status: int | None,
    body: str | None,
    reason: str,
) -> None:
    # A valid record of the good key is cached; then the connection gets a key the API rejects.
    make_hook().get_token()
    before = variable(TOKEN_VAR)
    assert before is not None
    requests_before = emulator.token_requests
    wrong = new_api_key()
    if body is not None:
        emulator.add_api_key(wrong)
        emulator.set_token_response(body, status=status or 400)
    hook = make_hook(key=wrong, max_retries=3)
    with pytest.raises(TrafficStarsAuthError) as info:
        hook.request("GET", "/v1.1/campaigns")
    assert info.value.reason == reason
    assert info.value.status_code == (status or 401)
    assert emulator.token_requests - requests_before == 1
    assert emulator.count("GET", "/v1.1/campaigns") == 0
    assert variable(TOKEN_VAR) == before
    assert wrong not in str(info.value)


DROP = object()
JSON = "application/json"


def answer(**fields: object) -> str:
    """A token answer: a good one with ``fields`` changed (``DROP`` removes one)."""
    body: dict[str, object] = {"access_token": "tok-0123456789", "expires_in": 3600, "token_type": "Bearer"}
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not DROP}, allow_nan=True)


BAD_ANSWERS = [
    # (body, content type, what the message must name)
    ("<html><body>Maintenance</body></html>", "text/html", "not JSON"),
    ("", JSON, "not JSON"),
    ("not json at all", JSON, "not JSON"),
    ("[" * 50_000, JSON, "not JSON"),  # nesting deep enough to blow the JSON parser's stack
    ('["access_token", "expires_in"]', JSON, "JSON object"),
    ('"just a string"', JSON, "JSON object"),
    (answer(access_token=DROP), JSON, "access_token"),
    (answer(access_token=""), JSON, "access_token"),
    (answer(access_token=12345678), JSON, "access_token"),
    (answer(access_token="tok with space"), JSON, "access_token"),
    (answer(access_token="tok-\u4e2d\u6587"), JSON, "access_token"),  # not ASCII: unusable in a header
    (answer(expires_in="soon"), JSON, "expires_in"),
    (answer(expires_in=None), JSON, "expires_in"),
    (answer(expires_in=True), JSON, "expires_in"),
    (answer(expires_in=[3600]), JSON, "expires_in"),
    (answer(expires_in=0), JSON, "expires_in"),
    (answer(expires_in=-3600), JSON, "expires_in"),
    (answer(expires_in=0.001), JSON, "expires_in"),
    (answer(expires_in=float("nan")), JSON, "expires_in"),
    (answer(expires_in=float("inf")), JSON, "expires_in"),
    (answer(token_type=DROP), JSON, "token_type"),
    (answer(token_type="mac"), JSON, "token_type"),
    (answer(token_type=None), JSON, "token_type"),
]


@pytest.mark.parametrize(("body", "content_type", "names"), BAD_ANSWERS, ids=range(len(BAD_ANSWERS)))
def test_unusable_token_answer_is_an_auth_error_and_nothing_is_cached(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    api_key: str,
    body: str,
    content_type: str,
    names: str,
) -> None:
    stale = expired_record(emulator.url, api_key)
    set_variable(TOKEN_VAR, stale)
    emulator.set_token_response(body, status=200, content_type=content_type)
    hook = make_hook(max_retries=3)
    with pytest.raises(TrafficStarsAuthError) as info:
        hook.request("GET", "/v1.1/campaigns")
    assert info.value.reason == "bad_token_response"
    assert names in str(info.value)
    assert emulator.token_requests == 1
    assert emulator.count("GET", "/v1.1/campaigns") == 0
    assert variable(TOKEN_VAR) == stale  # the stale record stays; nothing broken replaced it


def test_huge_integer_expires_in_is_capped_not_a_crash(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    # An integer too large for a float once raised OverflowError from math.isfinite().
    emulator.set_token_response(
        '{"access_token": "tok-0123456789", "token_type": "Bearer", "expires_in": 1%s}' % ("0" * 400)
    )
    token = make_hook().get_token()
    assert token.lifetime == 7 * 24 * 3600


def test_missing_expires_in_means_a_short_safe_lifetime_of_300_seconds(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    assert DEFAULT_LIFETIME_WHEN_MISSING == 300
    emulator.set_token_response('{"access_token": "tok-no-expiry-0123", "token_type": "bearer"}')
    clock = Clock(pendulum.now("UTC"))
    hook = make_hook(hook_kwargs={"clock": clock})
    token = hook.get_token()
    assert token.lifetime == 300
    record = json.loads(variable(TOKEN_VAR) or "{}")
    obtained, expires = pendulum.parse(record["obtained_at"]), pendulum.parse(record["expires_at"])
    assert (expires - obtained).total_seconds() == 300
    # Renewed at expires_at - min(refresh_margin 300, lifetime/2 = 150): reused for 150 s, not forever.
    clock.now = clock.now.add(seconds=149)
    assert hook.get_token().access_token == "tok-no-expiry-0123"
    assert emulator.token_requests == 1
    emulator.set_token_response(None)
    clock.now = clock.now.add(seconds=1)
    assert hook.get_token().access_token != "tok-no-expiry-0123"
    assert emulator.token_requests == 2
