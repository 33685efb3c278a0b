"""Property-based fuzzing (hypothesis) of everything that parses what the outside world sends us.

- any cache Variable value is a valid token or a miss, never an exception (and the client then has a
  usable token);
- any token answer (JSON or not) is a valid token or ``TrafficStarsAuthError``, and nothing broken is
  cached;
- the refresh rule never calls a token "fresh" past its ``expires_at``;
- error excerpts never keep a known secret; hosts, endpoints and ``Retry-After`` headers never crash.

Kept fast: ~200 examples per property, no deadline (the first examples pay for imports).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pendulum
import requests
import requests_mock
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from airflow_provider_trafficstars.client._client import ClientConfig, TrafficStarsClient
from airflow_provider_trafficstars.client.auth._token import MAX_LIFETIME, AccessToken, fingerprint
from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
from airflow_provider_trafficstars.client.http import _answers as _http
from airflow_provider_trafficstars.client.http import _redaction as redaction
from airflow_provider_trafficstars.client.http import _urls as urls
from airflow_provider_trafficstars.client.http._waits import RETRY_AFTER_MAX, Backoff
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsAuthError,
    TrafficStarsConfigError,
)
from tests.helpers import T0, Clock, Waits

BASE = "https://api.example.test"
KEY = "tsk-fuzz-key-0123456789abcdef"
FP = fingerprint(BASE, KEY)
TOKEN_URL = BASE + urls.TOKEN_PATH
GOOD = {"access_token": "tok-good-0123456789", "expires_in": 36000, "token_type": "Bearer"}
#: The token answers we fuzz carry secrets with this prefix, so a leak into a message is found.
SECRET_PREFIX = "SECRETTOKEN"

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
#: The same for the extra properties beyond the three the issue asks for (hosts, endpoints, headers...).
FUZZ_LIGHT = settings(FUZZ, max_examples=100)

# -- strategies ---------------------------------------------------------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: JSON integers can be far larger than a float
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
token_chars = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), min_size=0, max_size=30)
access_tokens = (
    st.builds(lambda s: SECRET_PREFIX + s, token_chars) | st.just(SECRET_PREFIX + "-valid-0123456789") | json_scalars
)
lifetimes = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet="0123456789.-+e inf", max_size=12)
    | st.just(36000)
    | st.none()
    | st.booleans()
)
token_types = st.sampled_from(["Bearer", "bearer", "BEARER", "mac", "", "Bearer "]) | json_scalars
token_answers = st.fixed_dictionaries(
    {},
    optional={
        "access_token": access_tokens,
        "expires_in": lifetimes,
        "token_type": token_types,
        "id_token": st.text(max_size=20) | json_scalars,
        "refresh_token": st.text(max_size=20),
    },
)
times = st.datetimes(
    min_value=pendulum.datetime(1, 1, 2).naive(), max_value=pendulum.datetime(9999, 12, 30).naive()
).map(lambda d: pendulum.instance(d, tz="UTC").isoformat())
time_texts = times | st.text(max_size=30) | json_scalars
record_dicts = st.fixed_dictionaries(
    {},
    optional={
        "access_token": access_tokens,
        "token_type": token_types,
        "obtained_at": time_texts,
        "expires_at": time_texts,
        "fingerprint": st.just(FP) | st.text(max_size=16) | json_scalars,
    },
)
cache_values = (
    st.text(max_size=200)
    | json_values.map(json.dumps)
    | record_dicts.map(lambda d: json.dumps(d, allow_nan=True))
    | st.builds(lambda n: "[" * n, st.integers(0, 5000))
)


def assert_sound(token: AccessToken, *, fp: str = FP) -> None:
    """What every token we hand out or cache satisfies."""
    assert token.fingerprint == fp
    assert token.token_type == "Bearer"
    assert isinstance(token.access_token, str) and token.access_token.isascii()
    assert token.access_token.isprintable() and " " not in token.access_token
    assert token.obtained_at.tzinfo is not None and token.expires_at.tzinfo is not None
    assert 0 < token.lifetime <= MAX_LIFETIME
    assert token.access_token not in repr(token) and token.access_token not in str(token)
    # Whatever we cache must load back as the same token: a record we write is never a permanent miss.
    again = AccessToken.from_record(token.to_record(), expected_fingerprint=fp)
    assert again is not None and again.access_token == token.access_token
    assert again.expires_at == token.expires_at


def make_client(cache: MemoryTokenCache, clock_now: pendulum.DateTime = T0) -> TrafficStarsClient:
    return TrafficStarsClient(
        ClientConfig(base_url=BASE, api_key=KEY, max_retries=0),
        cache,
        clock=Clock(clock_now),
        sleep=Waits(),
    )


# -- the cache record ---------------------------------------------------------------------------------
@FUZZ
@given(raw=cache_values)
@example(raw="[" * 5000)
@example(raw=json.dumps({**json.loads(AccessToken("t" * 8, "Bearer", T0, T0.add(hours=1), FP).to_record())}))
def test_any_cached_value_is_a_valid_token_or_a_miss(raw: str) -> None:
    token = AccessToken.from_record(raw, expected_fingerprint=FP)
    if token is not None:
        assert_sound(token)


@FUZZ
@given(raw=cache_values | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_client_with_any_cached_value_ends_with_a_usable_token(raw: str) -> None:
    cache = MemoryTokenCache("fuzz", store={"fuzz": raw})
    cached = AccessToken.from_record(raw, expected_fingerprint=FP)
    hit = cached is not None and not cached.needs_refresh(T0, 300)
    with requests_mock.Mocker() as m:
        route = m.post(TOKEN_URL, json=GOOD)
        token = make_client(cache).token()
    assert_sound(token)
    assert not token.needs_refresh(T0, 300)
    if hit:
        assert route.call_count == 0 and cache.load() == raw
    else:
        assert route.call_count == 1 and token.access_token == GOOD["access_token"]
        assert AccessToken.from_record(cache.load(), expected_fingerprint=FP) is not None  # overwritten


# -- the token answer ---------------------------------------------------------------------------------
@FUZZ
@given(payload=token_answers | json_values)
@example(payload={"access_token": SECRET_PREFIX + "x", "token_type": "Bearer", "expires_in": 10**400})
@example(payload={"access_token": SECRET_PREFIX + "中", "token_type": "Bearer", "expires_in": 60})
@example(payload={"access_token": SECRET_PREFIX + "x", "token_type": "Bearer", "expires_in": 1e-300})
def test_any_token_answer_is_a_valid_token_or_an_auth_error(payload: Any) -> None:
    try:
        token = AccessToken.from_token_response(payload, now=T0, fingerprint=FP)
    except TrafficStarsAuthError as err:
        assert err.reason == "bad_token_response"
        assert SECRET_PREFIX not in str(err)
        return
    assert_sound(token)
    assert token.obtained_at == T0 and token.lifetime >= 1


bodies = (
    token_answers.map(lambda d: json.dumps(d, allow_nan=True).encode())
    | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | st.binary(max_size=200)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.builds(lambda n: b"[" * n, st.integers(900, 5000))
)
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/html", "", "x/\u00e9"])


@FUZZ
@given(body=bodies, content_type=content_types, status=st.sampled_from([200, 200, 200, 201, 204, 400, 401, 403]))
@example(body=b"[" * 5000, content_type="application/json", status=200)
@example(body=b'{"access_token": "SECRETTOKENx", "token_type": "Bearer", "expires_in": 1' + b"0" * 400 + b"}",
         content_type="application/json", status=200)  # fmt: skip
@example(body=json.dumps({**GOOD, "access_token": SECRET_PREFIX + "x"}).encode(), content_type="application/json",
         status=204)  # fmt: skip
def test_any_token_endpoint_answer_through_the_client_is_a_token_or_an_auth_error(
    body: bytes, content_type: str, status: int
) -> None:
    before = "not a record"
    cache = MemoryTokenCache("fuzz", store={"fuzz": before})
    headers = {"Content-Type": content_type} if content_type else {}
    with requests_mock.Mocker() as m:
        route = m.post(TOKEN_URL, content=body, status_code=status, headers=headers)
        client = make_client(cache)
        try:
            token = client.token()
        except TrafficStarsAuthError as err:
            assert route.call_count == 1  # never retried
            assert cache.load() == before  # nothing broken was cached
            assert SECRET_PREFIX not in str(err) and KEY not in str(err)
            return
    assert status in (200, 201)
    assert_sound(token)
    assert AccessToken.from_record(cache.load(), expected_fingerprint=FP) is not None


# -- the refresh rule -----------------------------------------------------------------------------------
@FUZZ
@given(
    lifetime=st.floats(min_value=1, max_value=MAX_LIFETIME),
    margin=st.floats(allow_nan=True, allow_infinity=True),
    past=st.floats(min_value=0, max_value=10 * 365 * 86400),
    min_ttl=st.floats(min_value=0, max_value=86400),
)
@example(lifetime=1.0, margin=float("nan"), past=0.0, min_ttl=0.0)
@example(lifetime=MAX_LIFETIME, margin=-1e300, past=0.0, min_ttl=0.0)
def test_a_token_past_expires_at_is_never_fresh(lifetime: float, margin: float, past: float, min_ttl: float) -> None:
    token = AccessToken("tok-0123456789", "Bearer", T0, T0.add(seconds=lifetime), FP)
    now = token.expires_at.add(seconds=past)
    assert token.needs_refresh(now, margin)
    assert token.is_expired(now)
    client = make_client(MemoryTokenCache("rule", store={}), clock_now=now)
    assert not client._usable(token, now, min_ttl)


@FUZZ
@given(
    lifetime=st.floats(min_value=1, max_value=MAX_LIFETIME),
    margin=st.floats(min_value=0, max_value=10 * 86400),
    elapsed=st.floats(min_value=0, max_value=2 * MAX_LIFETIME),
)
def test_refresh_happens_exactly_at_expires_at_minus_the_capped_margin(
    lifetime: float, margin: float, elapsed: float
) -> None:
    token = AccessToken("tok-0123456789", "Bearer", T0, T0.add(seconds=lifetime), FP)
    now = T0.add(seconds=elapsed)
    left = token.seconds_left(now)
    assert token.needs_refresh(now, margin) == (left <= min(margin, token.lifetime / 2))
    if not token.needs_refresh(now, margin):
        assert left > 0


# -- other parsers of outside input ---------------------------------------------------------------------
secret_texts = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=8, max_size=40
)


@FUZZ_LIGHT
@given(secret=secret_texts, before=st.text(max_size=400), after=st.text(max_size=400), token=secret_texts)
def test_error_excerpt_never_keeps_a_known_secret(secret: str, before: str, after: str, token: str) -> None:
    assume(".." not in secret and ".." not in token)  # "..." marks a cut excerpt; tokens never hold it
    body = f'{before}{secret}{after} Bearer {token} {{"access_token": "{token}"}}'
    excerpt = redaction.body_excerpt(body.encode("utf-8", "surrogatepass"), [secret, token])
    assert secret not in excerpt and token not in excerpt
    assert len(excerpt) <= redaction.EXCERPT_CHARS and excerpt.isprintable()


@FUZZ_LIGHT
@given(
    host=st.text(max_size=60)
    | st.builds("{}://{}".format, st.sampled_from(["http", "https", "ftp", ""]), st.text(max_size=40))
)
@example(host="http://")
@example(host="http://[::1")
def test_any_host_is_a_clean_base_url_or_a_config_error(host: str) -> None:
    try:
        url = urls.normalize_base_url(host, conn_id="fuzz")
    except TrafficStarsConfigError as err:
        assert "'fuzz'" in str(err)
        return
    parsed = parse_url(url)
    assert parsed.scheme in ("http", "https") and parsed.host
    assert not any(ch.isspace() for ch in url) and not url.endswith("/")


@FUZZ_LIGHT
@given(
    endpoint=st.text(max_size=60)
    | st.builds(
        "{}{}".format, st.sampled_from([BASE, BASE + "/", "https://evil.test/", "//evil.test/"]), st.text(max_size=30)
    )
)
@example(endpoint="https://api.example.test.evil.test/x")
@example(endpoint="https://api.example.test@evil.test/x")
def test_no_endpoint_sends_the_token_to_another_host(endpoint: str) -> None:
    try:
        url, path = urls.join_endpoint(BASE, endpoint)
    except TrafficStarsConfigError:
        return
    assert url.startswith(BASE + "/") and path.startswith("/") and "?" not in path
    try:
        prepared = requests.Request("GET", url).prepare()
    except (requests.exceptions.InvalidURL, ValueError):
        return  # refused before anything is sent
    assert parse_url(prepared.url).host == "api.example.test"


@FUZZ_LIGHT
@given(value=st.text(max_size=40) | st.floats(allow_nan=True, allow_infinity=True).map(str) | st.integers().map(str))
@example(value="Mon, 01 Jan 99999 00:00:00 GMT")
@example(value="nan")
def test_any_retry_after_header_is_a_bounded_wait_or_ignored(value: str) -> None:
    wait = _http.parse_retry_after(value, T0)
    if wait is not None:
        assert not math.isnan(wait) and wait >= 0
        assert 0 <= Backoff().wait(1, status=429, retry_after=wait) <= RETRY_AFTER_MAX


@FUZZ_LIGHT
@given(status=st.integers(400, 599), body=st.binary(max_size=300))
def test_any_error_answer_of_an_api_call_is_a_typed_error(status: int, body: bytes) -> None:
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=GOOD)
        m.get(BASE + "/v1.1/campaigns", status_code=status, content=body)
        client = make_client(MemoryTokenCache("api", store={}))
        try:
            client.request("GET", "/v1.1/campaigns")
        except TrafficStarsAuthError as err:
            assert status == 401 and err.status_code == 401
        except TrafficStarsApiError as err:
            assert err.status_code == status and err.endpoint == "/v1.1/campaigns"
            assert GOOD["access_token"] not in str(err) and KEY not in str(err)
        else:
            raise AssertionError("a non-2xx answer must raise")
