"""AccessToken: refresh rule at the exact threshold, record parsing, token answer validation."""

from __future__ import annotations

import json

import pendulum
import pytest

from airflow_provider_trafficstars.client.auth._token import (
    DEFAULT_LIFETIME_WHEN_MISSING,
    JUST_OBTAINED,
    MAX_LIFETIME,
    AccessToken,
    fingerprint,
)
from airflow_provider_trafficstars.exceptions import TrafficStarsAuthError

T0 = pendulum.datetime(2026, 11, 27, 10, 0, 0, tz="UTC")
FP = fingerprint("https://api.trafficstars.com", "key-1")


def make(lifetime: int = 36000, token: str = "tok-abcdef") -> AccessToken:
    return AccessToken(token, "Bearer", T0, T0.add(seconds=lifetime), FP)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(-1, False), (0, True), (1, True)],
    ids=["one-second-before", "at-threshold", "one-second-after"],
)
def test_needs_refresh_at_exact_margin_threshold(offset: int, expected: bool) -> None:
    token = make(36000)
    threshold = token.expires_at.subtract(seconds=300)
    assert token.needs_refresh(threshold.add(seconds=offset), margin=300) is expected


@pytest.mark.parametrize(
    ("seconds_after", "expected"),
    [(-5, True), (0, True), (JUST_OBTAINED - 0.001, True), (JUST_OBTAINED, False), (3600, False)],
    ids=["clock-behind-the-writer", "at-once", "just-under", "at-the-limit", "an-hour-later"],
)
def test_just_obtained_is_less_than_a_minute_after_obtained_at(seconds_after: float, expected: bool) -> None:
    token = make()
    assert token.is_just_obtained(T0.add(microseconds=int(seconds_after * 1_000_000))) is expected


@pytest.mark.parametrize(("offset", "expected"), [(-1, False), (0, True), (1, True)])
def test_margin_is_capped_at_half_the_lifetime(offset: int, expected: bool) -> None:
    token = make(lifetime=120)  # margin 300 > lifetime/2 = 60
    threshold = token.expires_at.subtract(seconds=60)
    assert token.needs_refresh(threshold.add(seconds=offset), margin=300) is expected
    assert token.effective_margin(300) == 60


def test_fresh_right_after_issue_and_expired_after_expiry() -> None:
    token = make(36000)
    assert not token.needs_refresh(T0, margin=300)
    assert token.needs_refresh(token.expires_at, margin=0)
    assert token.is_expired(token.expires_at)
    assert not token.is_expired(token.expires_at.subtract(seconds=1))
    assert token.seconds_left(T0) == 36000


def test_record_round_trip_matches_the_documented_format() -> None:
    token = make()
    data = json.loads(token.to_record())
    assert data == {
        "access_token": "tok-abcdef",
        "token_type": "Bearer",
        "obtained_at": "2026-11-27T10:00:00+00:00",
        "expires_at": "2026-11-27T20:00:00+00:00",
        "fingerprint": FP,
    }
    back = AccessToken.from_record(token.to_record(), expected_fingerprint=FP)
    assert back == token


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[]",
        "42",
        '"a string"',
        '{"access_token": "x"}',
        json.dumps({"access_token": "", "token_type": "Bearer", "obtained_at": "2026-11-27T10:00:00+00:00",
                    "expires_at": "2026-11-27T20:00:00+00:00", "fingerprint": FP}),
        json.dumps({"access_token": "t", "token_type": "Bearer", "obtained_at": "yesterday",
                    "expires_at": "2026-11-27T20:00:00+00:00", "fingerprint": FP}),
        json.dumps({"access_token": "t", "token_type": "Bearer", "obtained_at": "2026-11-27T20:00:00+00:00",
                    "expires_at": "2026-11-27T10:00:00+00:00", "fingerprint": FP}),
        json.dumps({"access_token": "t", "token_type": "MAC", "obtained_at": "2026-11-27T10:00:00+00:00",
                    "expires_at": "2026-11-27T20:00:00+00:00", "fingerprint": FP}),
        json.dumps({"access_token": "a b", "token_type": "Bearer", "obtained_at": "2026-11-27T10:00:00+00:00",
                    "expires_at": "2026-11-27T20:00:00+00:00", "fingerprint": FP}),
    ],
    ids=["none", "empty", "garbage", "list", "number", "string", "missing-fields", "empty-token",
         "bad-time", "expires-before-obtained", "not-bearer", "header-unsafe-token"],
)  # fmt: skip
def test_unusable_records_are_a_miss(raw: str | None) -> None:
    assert AccessToken.from_record(raw, expected_fingerprint=FP) is None


def test_record_of_another_connection_is_a_miss() -> None:
    record = make().to_record()
    other = fingerprint("https://api.trafficstars.com", "key-2")
    assert AccessToken.from_record(record, expected_fingerprint=other) is None


def test_token_answer_becomes_absolute_expiry() -> None:
    token = AccessToken.from_token_response(
        {"access_token": "abc123", "expires_in": 36000, "token_type": "Bearer", "id_token": "x.y.z"},
        now=T0,
        fingerprint=FP,
    )
    assert token.expires_at == T0.add(seconds=36000)
    assert token.obtained_at == T0


def test_missing_expires_in_gets_the_short_safe_default() -> None:
    token = AccessToken.from_token_response({"access_token": "abc123", "token_type": "bearer"}, now=T0, fingerprint=FP)
    assert token.lifetime == DEFAULT_LIFETIME_WHEN_MISSING


def test_huge_expires_in_is_capped() -> None:
    token = AccessToken.from_token_response(
        {"access_token": "abc123", "token_type": "Bearer", "expires_in": 10**12}, now=T0, fingerprint=FP
    )
    assert token.lifetime == MAX_LIFETIME


@pytest.mark.parametrize(
    "payload",
    [
        "<html>",
        [],
        {},
        {"token_type": "Bearer", "expires_in": 10},
        {"access_token": "", "token_type": "Bearer", "expires_in": 10},
        {"access_token": 5, "token_type": "Bearer", "expires_in": 10},
        {"access_token": "abc", "token_type": "Bearer", "expires_in": "abc"},
        {"access_token": "abc", "token_type": "Bearer", "expires_in": 0},
        {"access_token": "abc", "token_type": "Bearer", "expires_in": -5},
        {"access_token": "abc", "token_type": "Bearer", "expires_in": True},
        {"access_token": "abc", "token_type": "Bearer", "expires_in": float("nan")},
        {"access_token": "abc", "token_type": "Bearer", "expires_in": None},
        {"access_token": "abc", "token_type": "mac", "expires_in": 10},
        {"access_token": "abc", "expires_in": 10},
    ],
)
def test_unusable_token_answers_raise_auth_error(payload: object) -> None:
    with pytest.raises(TrafficStarsAuthError) as info:
        AccessToken.from_token_response(payload, now=T0, fingerprint=FP)
    assert info.value.reason == "bad_token_response"


def test_repr_never_shows_the_token() -> None:
    token = make(token="secret-token-value")
    assert "secret-token-value" not in repr(token)
    assert "secret-token-value" not in str(token)
