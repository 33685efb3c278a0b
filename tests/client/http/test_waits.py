"""The one wait rule (waits.py): a call's retries, a sensor's next poke and a trigger's next poll."""

from __future__ import annotations

import pytest

from airflow_provider_trafficstars.client._config import ClientConfig
from airflow_provider_trafficstars.client.cache._grants import DEFAULT_MARGIN, PERIOD
from airflow_provider_trafficstars.client.http._waits import (
    MIN_POLL_INTERVAL,
    RATE_WINDOW,
    RETRY_AFTER_MAX,
    Backoff,
    next_poll_delay,
)
from airflow_provider_trafficstars.exceptions import TrafficStarsApiError, TrafficStarsTransportError


def no_jitter(upper: float) -> float:
    return 0.0


def full_jitter(upper: float) -> float:
    return upper


def answer(status: int, retry_after: float | None = None) -> TrafficStarsApiError:
    return TrafficStarsApiError("busy", status_code=status, method="GET", endpoint="/x", retry_after=retry_after)


# -- Retry-After ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 503, None])
@pytest.mark.parametrize(("said", "waited"), [(7, 7.0), (0, 0.0), (-3, 0.0), (250, 250.0), (10_000, RETRY_AFTER_MAX)])
def test_retry_after_is_honoured_exactly_up_to_the_one_cap(status: int | None, said: float, waited: float) -> None:
    backoff = Backoff(jitter=full_jitter)
    for attempt in (1, 2, 5):
        assert backoff.wait(attempt, status=status, retry_after=said) == waited


# -- 429 without Retry-After -----------------------------------------------------------------------------
def test_the_defaults_spread_five_retries_past_the_servers_window() -> None:
    backoff = ClientConfig(base_url="https://x", api_key="k").backoff
    assert (backoff.retries, backoff.window) == (5, PERIOD + DEFAULT_MARGIN) == (5, 62.0)
    waits = [Backoff(retries=5, jitter=no_jitter).wait(n, status=429, retry_after=None) for n in range(1, 6)]
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert sum(waits) >= RATE_WINDOW  # the last retry goes out after the window that was full has rolled over
    # What the old rule (the 5xx backoff, 1, 2, 4, 8, 16 s) gave: all five retries inside one 60 s window.
    old = [Backoff(jitter=no_jitter).wait(n, status=503, retry_after=None) for n in range(1, 6)]
    assert old == [1.0, 2.0, 4.0, 8.0, 16.0] and sum(old) < PERIOD


@pytest.mark.parametrize("retries", range(1, 21))
@pytest.mark.parametrize(("base", "window"), [(1.0, 62.0), (0.05, 3.1), (30.0, 62.0), (0.001, 600.0)])
def test_any_number_of_retries_reaches_past_the_window_and_no_wait_exceeds_it(
    retries: int, base: float, window: float
) -> None:
    backoff = Backoff(base=base, retries=retries, window=window, jitter=no_jitter)
    waits = [backoff.wait(n, status=429, retry_after=None) for n in range(1, retries + 1)]
    assert sum(waits) >= window - 1e-9
    assert all(base <= w <= max(window, base) for w in waits)
    assert waits == sorted(waits)  # cheap first tries, the long ones last


def test_jitter_only_adds_and_at_most_base() -> None:
    low = [Backoff(jitter=no_jitter).wait(n, status=429, retry_after=None) for n in range(1, 6)]
    high = [Backoff(jitter=full_jitter).wait(n, status=429, retry_after=None) for n in range(1, 6)]
    assert [h - w for w, h in zip(low, high, strict=True)] == [1.0] * 5


def test_a_call_without_retries_has_no_schedule_to_spread_but_polls_still_back_off() -> None:
    assert Backoff(retries=0, jitter=no_jitter).wait(1, status=429, retry_after=None) == RATE_WINDOW


# -- 5xx and no answer -------------------------------------------------------------------------------------
def test_other_trouble_backs_off_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=30.0, jitter=no_jitter)
    assert [backoff.wait(n, status=502, retry_after=None) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.wait(3, status=None, retry_after=None) == 4.0
    assert Backoff(cap=30.0, jitter=full_jitter).wait(5, status=500, retry_after=None) == 17.0


# -- polls -------------------------------------------------------------------------------------------------
def test_next_poll_waits_poke_interval_unless_the_api_asks_for_more() -> None:
    assert next_poll_delay(0, None) == MIN_POLL_INTERVAL  # never a spin
    assert next_poll_delay(30, None) == 30
    assert next_poll_delay(30, answer(429, 5)) == 30
    assert next_poll_delay(0.2, answer(429, 60)) == 60  # the sensor in poke mode once polled 9 times in 8 s here
    assert next_poll_delay(0.2, answer(503, 7)) == 7
    assert next_poll_delay(1, answer(429, 10_000)) == RETRY_AFTER_MAX
    assert next_poll_delay(0.2, answer(503)) == 0.2  # a 5xx without Retry-After: the poke interval is the backoff
    transport = TrafficStarsTransportError("down", kind="connect", method="GET", endpoint="/x")
    assert next_poll_delay(0.2, transport) == 0.2


def test_polls_in_a_row_after_429_without_retry_after_follow_the_calls_schedule() -> None:
    backoff = Backoff(jitter=no_jitter)
    delays = [next_poll_delay(0.2, answer(429), attempt=n, backoff=backoff) for n in range(1, 8)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, RATE_WINDOW, RATE_WINDOW]
    assert next_poll_delay(120, answer(429), attempt=1, backoff=backoff) == 120


def test_next_poll_never_waits_past_the_deadline() -> None:
    assert next_poll_delay(0.2, answer(429, 60), time_left=12.5) == 12.5
    assert next_poll_delay(30, None, time_left=-4) == 0.0
    assert next_poll_delay(0.2, answer(429, 60), time_left=None) == 60
