"""Fault injection, part 3: a slow, rate-limiting, failing or unreachable server.

Every retry is bounded by ``max_retries`` (a connection extra); waits are recorded through the hook's
injected ``sleep``, never slept. A slow server is a minute of emulator latency against a one-second
timeout, so only the timeout can end a call; where the time bound is the feature, the test allows seconds
of margin, never tenths (CI is a loaded 2-core machine).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_trafficstars.client._client import ClientConfig, TrafficStarsClient
from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
from airflow_provider_trafficstars.exceptions import TrafficStarsApiError, TrafficStarsTransportError
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import CAMPAIGNS, TOKEN_PATH, Clock, Waits

pytestmark = pytest.mark.integration
DEFAULTS = ClientConfig(base_url="https://x", api_key="k")
#: Emulator latency for "the server does not answer": far beyond every timeout below.
NO_ANSWER = 60.0
#: Seconds of slack on a wall-clock bound: scheduling on a loaded machine, never a minute of NO_ANSWER.
SLACK = 10.0


def warm(hook: TrafficStarsHook, waits: Waits) -> None:
    """Obtain the token first, so the waits recorded afterwards are the retries of the call under test."""
    hook.get_token()
    waits.clear()


def backoff_range(retry: int) -> tuple[float, float]:
    """The documented wait before retry ``retry`` (1-based): base * 2**(retry-1) plus up to 1 s of jitter, capped."""
    step = DEFAULTS.backoff_base * 2 ** (retry - 1)
    return min(step, DEFAULTS.backoff_max), min(step + 1, DEFAULTS.backoff_max)


@pytest.fixture
def hook(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook], waits: Waits
) -> TrafficStarsHook:
    h = make_hook(max_retries=2, timeout=1)
    warm(h, waits)
    return h


# -- 429 -----------------------------------------------------------------------------------------------
def test_429_waits_retry_after_seconds_then_succeeds(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.fail_next(1, 429, retry_after="7", path=CAMPAIGNS)
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert waits == [7.0]
    assert emulator.count("GET", CAMPAIGNS) == 2


def test_429_retry_after_http_date_waits_until_then(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    waits: Waits,
) -> None:
    clock = Clock()
    hook = make_hook(max_retries=2, hook_kwargs={"clock": clock})
    warm(hook, waits)
    when = datetime.fromtimestamp(clock.now.add(seconds=12).timestamp(), timezone.utc)
    emulator.fail_next(1, 429, retry_after=email.utils.format_datetime(when, usegmt=True), path=CAMPAIGNS)
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert waits == [12.0]


@pytest.mark.parametrize("retry_after", ["3600", "Fri, 31 Dec 2100 23:59:59 GMT"])
def test_retry_after_beyond_the_budget_fails_at_once_and_says_when(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits, retry_after: str
) -> None:
    emulator.fail_next(1, 429, retry_after=retry_after, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("GET", CAMPAIGNS)
    err = info.value
    assert (err.status_code, err.attempts) == (429, 1)
    assert err.retry_after is not None and err.retry_after > DEFAULTS.backoff_budget  # the task's retry can use it
    # Never a retry before the server's time (it would only earn another 429), nor an hour asleep in a call.
    assert waits == [] and emulator.count("GET", CAMPAIGNS) == 1


@pytest.mark.parametrize("retry_after", [None, "soon", "-5"])
def test_missing_or_garbage_retry_after_backs_off_past_the_window(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits, retry_after: str | None
) -> None:
    emulator.fail_next(1, 429, retry_after=retry_after, path=CAMPAIGNS)
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert len(waits) == 1
    # max_retries=2: the two waits of a 429 without Retry-After together reach past the 62 s window.
    step = hook.get_conn().config.backoff.rate_limited_step()
    low, high = (0.0, 0.0) if retry_after == "-5" else (step, step + DEFAULTS.backoff_base)  # a past time: at once
    assert low <= waits[0] <= high
    assert retry_after == "-5" or 3 * step >= DEFAULTS.rate_window


def test_429_without_retry_after_that_outlasts_the_window_fails_after_reaching_past_it(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.fail_next(100, 429, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("GET", CAMPAIGNS)
    assert (info.value.status_code, info.value.retry_after, info.value.attempts) == (429, None, 3)
    assert len(waits) == 2 and sum(waits) >= DEFAULTS.rate_window  # the last try came after the window rolled over
    assert sum(waits) <= DEFAULTS.rate_window + 2 * DEFAULTS.backoff_base < DEFAULTS.backoff_budget


def test_429_that_never_ends_gives_up_after_max_retries(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.fail_next(100, 429, retry_after="1", path=CAMPAIGNS)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("GET", CAMPAIGNS)
    err = info.value
    assert (err.status_code, err.method, err.endpoint, err.attempts) == (429, "GET", CAMPAIGNS, 3)
    assert waits == [1.0, 1.0]
    assert emulator.count("GET", CAMPAIGNS) == 3


def test_emulated_rate_limit_is_ridden_out_through_retry_after(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # waiting moves the emulator's clock instead of ours
        waited.append(seconds)
        emulator.advance(seconds)

    emulator.set_rate_limit((3, 60.0))
    # Our own budget out of reach (its first window is a ramp, on a clock these waits do not move): the server's.
    hook = make_hook(max_retries=3, sleep=sleep, rate_limit=1000)
    for _ in range(6):
        assert hook.request("GET", CAMPAIGNS).status_code == 200
    limited = [r for r in emulator.request_log() if r.status == 429]
    assert limited, "the rate limit was never hit: the test proves nothing"
    retry_waits = [w for w in waited if w >= 1]
    assert len(retry_waits) == len(limited)
    # Each wait is what the emulator's Retry-After said: the whole seconds until a call leaves its 60 s window.
    assert all(1 <= w <= 60 and w == int(w) for w in retry_waits)


# -- 5xx -----------------------------------------------------------------------------------------------
def test_5xx_on_get_backs_off_exponentially_and_recovers(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.fail_next(2, 503, path=CAMPAIGNS)
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert len(waits) == 2
    for retry, wait in enumerate(waits, start=1):
        low, high = backoff_range(retry)
        assert low <= wait <= high


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_that_persists_is_an_api_error_after_max_retries(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits, status: int
) -> None:
    emulator.fail_next(100, status, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("GET", CAMPAIGNS, params={"status": "active"})
    err = info.value
    assert type(err) is TrafficStarsApiError
    assert (err.status_code, err.method, err.endpoint, err.attempts) == (status, "GET", CAMPAIGNS, 3)
    assert len(waits) == 2
    assert emulator.count("GET", CAMPAIGNS) == 3


def test_5xx_on_post_is_not_retried_unless_the_caller_opts_in(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.fail_next(1, 502, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("POST", CAMPAIGNS, json={"name": "x"})
    assert (info.value.status_code, info.value.attempts) == (502, 1)
    assert waits == [] and emulator.count("POST", CAMPAIGNS) == 1

    emulator.fail_next(1, 502, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("POST", CAMPAIGNS, json={"name": "x"}, idempotent=True)
    # Retried once: the emulator then answers what it answers every POST there (405, no retry).
    assert info.value.status_code == 405
    assert len(waits) == 1 and emulator.count("POST", CAMPAIGNS) == 3


def test_5xx_on_the_token_endpoint_is_retried_then_an_api_error(
    airflow_db: Path,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    waits: Waits,
) -> None:
    # A memory cache: the shared Variable's renewal lease would add its own (short) settle wait.
    hook = make_hook(max_retries=2, hook_kwargs={"token_cache": MemoryTokenCache("t5xx", store={})})
    emulator.fail_next(100, 503, path=TOKEN_PATH)
    with pytest.raises(TrafficStarsApiError) as info:
        hook.request("GET", CAMPAIGNS)
    err = info.value
    assert (err.status_code, err.method, err.endpoint, err.attempts) == (503, "POST", TOKEN_PATH, 3)
    assert len(waits) == 2 and emulator.token_requests == 3
    assert emulator.count("GET", CAMPAIGNS) == 0


# -- broken connections and timeouts -------------------------------------------------------------------
def test_connection_reset_on_get_is_retried(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.drop_next(1, path=CAMPAIGNS)
    emulator.truncate_next(1, path=CAMPAIGNS)  # then an answer cut off mid-body
    assert hook.request("GET", CAMPAIGNS).json()["response"]
    assert len(waits) == 2 and emulator.count("GET", CAMPAIGNS) == 3


@pytest.mark.parametrize("fault", ["drop", "truncate"])
def test_connection_reset_that_persists_is_a_transport_error(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits, fault: str
) -> None:
    getattr(emulator, f"{fault}_next")(100, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsTransportError) as info:
        hook.request("GET", CAMPAIGNS)
    err = info.value
    assert (err.kind, err.status_code, err.method, err.endpoint, err.attempts) == ("reset", None, "GET", CAMPAIGNS, 3)
    assert len(waits) == 2


def test_connection_reset_on_post_is_not_retried(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.drop_next(1, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsTransportError) as info:
        hook.request("POST", CAMPAIGNS, json={"name": "x"})
    assert (info.value.kind, info.value.attempts) == ("reset", 1)
    assert waits == [] and emulator.count("POST", CAMPAIGNS) == 1


def test_read_timeout_on_get_is_retried_and_recovers(
    airflow_db: Path, clean_variables: None, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # the server recovers while we wait
        waited.append(seconds)
        emulator.set_latency(0, path=CAMPAIGNS)

    hook = make_hook(max_retries=2, timeout=1, sleep=sleep)
    hook.get_token()
    waited.clear()
    emulator.set_latency(NO_ANSWER, path=CAMPAIGNS)
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    # The first attempt timed out (else it would have been answered, once, a minute later), one backoff wait.
    assert len(waited) == 1 and emulator.count("GET", CAMPAIGNS) == 2
    assert backoff_range(1)[0] <= waited[0] <= backoff_range(1)[1]


def test_read_timeout_that_persists_is_a_timeout_error(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    waits: Waits,
) -> None:
    hook = make_hook(max_retries=1, timeout=1)
    warm(hook, waits)
    emulator.set_latency(NO_ANSWER, path=CAMPAIGNS)
    started = time.monotonic()
    with pytest.raises(TrafficStarsTransportError) as info:
        hook.request("GET", CAMPAIGNS)
    elapsed = time.monotonic() - started
    err = info.value
    assert (err.kind, err.status_code, err.method, err.endpoint, err.attempts) == ("timeout", None, "GET", CAMPAIGNS, 2)
    assert len(waits) == 1 and emulator.count("GET", CAMPAIGNS) == 2
    assert elapsed < 1 * 2 + SLACK  # timeout x attempts (the waits were recorded, not slept), not a minute


def test_read_timeout_on_post_is_not_retried(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, waits: Waits
) -> None:
    emulator.set_latency(NO_ANSWER, path=CAMPAIGNS)
    with pytest.raises(TrafficStarsTransportError) as info:
        hook.request("POST", CAMPAIGNS, json={"name": "x"})
    assert (info.value.kind, info.value.attempts) == ("timeout", 1)
    assert waits == [] and emulator.count("POST", CAMPAIGNS) == 1


def test_read_timeout_on_the_token_endpoint_is_retried(
    airflow_db: Path, make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator
) -> None:
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        emulator.set_latency(0, path=TOKEN_PATH)

    cache = MemoryTokenCache("t-timeout", store={})  # no renewal lease: its settle wait would call sleep too
    hook = make_hook(max_retries=1, timeout=1, sleep=sleep, hook_kwargs={"token_cache": cache})
    emulator.set_latency(NO_ANSWER, path=TOKEN_PATH)
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert len(waited) == 1 and emulator.token_requests == 2


def test_connect_timeout_is_retried_and_bounded(
    make_hook: Callable[..., TrafficStarsHook], blackhole: str, waits: Waits
) -> None:
    cache = MemoryTokenCache("ct", store={})
    hook = make_hook(url=blackhole, max_retries=1, timeout=1, hook_kwargs={"token_cache": cache})
    hook.get_conn()
    started = time.monotonic()
    with pytest.raises(TrafficStarsTransportError) as info:
        hook.get_token()
    elapsed = time.monotonic() - started
    err = info.value
    assert (err.kind, err.method, err.endpoint, err.attempts) == ("connect", "POST", TOKEN_PATH, 2)
    assert "could not be reached" in str(err)
    assert len(waits) == 1
    # Each attempt ended at its timeout: the kernel alone would keep retrying the handshake for minutes.
    assert elapsed < 1 * 2 + SLACK


# -- the server is down for the whole run: the waits it decided, and no hidden ones ------------------------
def test_server_down_for_the_whole_run_fails_in_bounded_time(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    waits: Waits,
) -> None:
    hook = make_hook(max_retries=1, timeout=1)
    config = hook.get_conn().config
    emulator.stop()  # connection refused from now on
    started = time.monotonic()
    with pytest.raises(TrafficStarsTransportError) as info:
        hook.request("GET", CAMPAIGNS)
    elapsed = time.monotonic() - started
    err = info.value
    assert (err.kind, err.attempts) == ("connect", 2)
    assert "could not be reached" in str(err)
    # What it decided to wait: the single-flight lease's waits on the shared Variable (jitter and settle, at
    # most 1 s together), then one backoff step; within the documented bound.
    *lease, backoff = waits
    assert sum(lease) <= 1.0
    assert backoff_range(1)[0] <= backoff <= backoff_range(1)[1]
    assert sum(waits) <= config.timeout * (config.max_retries + 1) + config.backoff_budget
    # Refused connections fail at once and the waits were recorded, not slept: nothing else waited.
    assert elapsed < SLACK


def test_unreachable_server_wall_time_stays_within_the_backoff_budget_plus_one_timeout(
    blackhole: str, waits: Waits
) -> None:
    # Connect timeouts: each attempt lasts the whole timeout (0.5 s), already past the budget (0.25 s).
    config = ClientConfig(
        base_url=blackhole, api_key="k-0123456789", timeout=0.5, max_retries=3, backoff_base=0.2, backoff_budget=0.25
    )
    client = TrafficStarsClient(config, MemoryTokenCache("budget", store={}), sleep=waits)
    started = time.monotonic()
    with pytest.raises(TrafficStarsTransportError) as info:
        client.token()
    elapsed = time.monotonic() - started
    assert info.value.kind == "connect"
    # No retry starts whose wait would end past the budget: the budget, not max_retries (3), stopped it.
    assert info.value.attempts == 1 and waits == []
    # The documented bound of one call: backoff_budget + timeout.
    assert elapsed < config.backoff_budget + config.timeout + SLACK
