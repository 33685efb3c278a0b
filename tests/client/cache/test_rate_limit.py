"""The per-account rate limiter: sliding window, margin, sharing, and the client's use of it (injected time)."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from airflow_provider_trafficstars.client._client import ClientConfig, TrafficStarsClient
from airflow_provider_trafficstars.client.auth._token import fingerprint
from airflow_provider_trafficstars.client.cache import _rate_limit as rate_limit
from airflow_provider_trafficstars.client.cache._rate_limit import DEFAULT_MARGIN, RateLimiter
from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
from airflow_provider_trafficstars.exceptions import TrafficStarsApiError
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import FakeTime

REPORT = "/v1.1/advertiser/custom/report/by-day"
QUERY = {"date_from": "2026-01-01", "date_to": "2026-01-01"}


def test_the_first_calls_go_at_once_then_each_waits_a_window_plus_margin() -> None:
    t = FakeTime()
    limiter = RateLimiter(100, clock=t.clock, sleep=t.sleep)
    for _ in range(100):
        limiter.acquire()
    assert t.slept == []
    limiter.acquire()
    assert t.slept == [pytest.approx(60.0 + DEFAULT_MARGIN)]
    # The 101st went at t0 + 62; the 102nd may go when the 2nd's window (sent at t0) has passed: at once now.
    limiter.acquire()
    assert len(t.slept) == 1 and t.now == pytest.approx(1_000.0 + 62.0)
    assert limiter.waited == pytest.approx(62.0)


def test_any_window_holds_at_most_the_limit_whatever_the_arrival_pattern() -> None:
    rnd = random.Random(7)
    t = FakeTime()
    limiter = RateLimiter(10, 60.0, margin=2.0, clock=t.clock, sleep=t.sleep)
    sent: list[float] = []
    for _ in range(300):
        t.now += rnd.choice([0.0, 0.0, 0.5, 3.0, 17.0, 61.0])
        limiter.acquire()
        sent.append(t.now)
    for i in range(len(sent) - 10):
        assert sent[i + 10] - sent[i] >= 62.0 - 1e-9, i
    # ... and it does not over-throttle: some call went exactly when its window allowed.
    assert any(abs(sent[i + 10] - sent[i] - 62.0) < 1e-9 for i in range(len(sent) - 10))


def test_concurrent_callers_queue_for_distinct_slots() -> None:
    t = FakeTime()
    limiter = RateLimiter(5, 60.0, margin=0.0, clock=t.clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            wait = limiter.reserve()  # reserve without sleeping: every thread sees the same frozen clock
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == [0.0] * 5 + [60.0] * 5 + [120.0] * 5


def test_the_callers_sleep_is_used_unless_the_limiter_has_its_own() -> None:
    t = FakeTime()
    limiter = RateLimiter(1, 60.0, margin=0.0, clock=t.clock)
    mine: list[float] = []
    limiter.acquire(mine.append)
    limiter.acquire(mine.append)
    assert mine == [60.0]
    own = RateLimiter(1, 60.0, margin=0.0, clock=t.clock, sleep=t.sleep)
    own.acquire(mine.append)
    own.acquire(mine.append)
    assert (mine, t.slept) == ([60.0], [60.0])


@pytest.mark.parametrize("calls", [0, -1, True, 1.5])
def test_bad_limits_are_refused(calls: Any) -> None:
    with pytest.raises(ValueError):
        RateLimiter(calls)


def test_one_limiter_per_account_and_the_smaller_limit_wins() -> None:
    a = rate_limit.shared_limiter("acct-a", 100)
    assert rate_limit.shared_limiter("acct-a", 100) is a
    assert rate_limit.shared_limiter("acct-b", 100) is not a
    rate_limit.shared_limiter("acct-a", 40)
    assert a.calls == 40
    rate_limit.shared_limiter("acct-a", 100)
    assert a.calls == 40


def test_lowering_keeps_the_most_recent_sends() -> None:
    t = FakeTime()
    limiter = RateLimiter(4, 60.0, margin=0.0, clock=t.clock, sleep=t.sleep)
    for step in (0.0, 10.0, 20.0, 30.0):
        t.now = 1_000.0 + step
        limiter.acquire()
    limiter.lower_to(2)
    assert limiter.reserve() == pytest.approx(60.0 - 10.0)  # the 2 latest went at +20 and +30


# -- the client --------------------------------------------------------------------------------------------
def make_client(
    emu: TrafficStarsEmulator, key: str, store: dict[str, Any] | None = None, **config: Any
) -> TrafficStarsClient:
    return TrafficStarsClient(
        ClientConfig(base_url=emu.url, api_key=key, backoff_base=0.01, **config),
        MemoryTokenCache(f"rl-{key}", store={} if store is None else store),
        sleep=lambda s: None,
    )


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def limited_emulator(fake_time: FakeTime) -> Any:
    """An emulator on the fake clock that answers 429 beyond 5 calls per 60 s."""
    with TrafficStarsEmulator(api_keys=["k1", "k2"], clock=fake_time.clock, rate_limit=(5, 60.0)) as emu:
        yield emu


def statuses(emu: TrafficStarsEmulator) -> list[int]:
    return [r.status for r in emu.request_log()]


def test_a_client_never_earns_a_429_from_a_server_enforcing_the_same_limit(
    limited_emulator: TrafficStarsEmulator, fake_time: FakeTime
) -> None:
    emu = limited_emulator
    rate_limit.install(fingerprint(emu.url, "k1"), RateLimiter(5, clock=fake_time.clock, sleep=fake_time.sleep))
    client = make_client(emu, "k1", rate_limit=5)
    for _ in range(16):
        client.request("GET", REPORT, params=QUERY)
    assert statuses(emu) == [200] * 17  # the token request counted too: 1 + 16 calls
    assert emu.token_requests == 1
    # 17 calls at 5 per window: three full windows waited, each 60 s + the margin.
    assert fake_time.now - 1_000.0 == pytest.approx(3 * (60.0 + DEFAULT_MARGIN))


def test_without_the_limiter_the_same_calls_earn_429s(
    limited_emulator: TrafficStarsEmulator, fake_time: FakeTime
) -> None:
    """The control experiment: the emulator does refuse what the limiter avoids."""
    client = make_client(limited_emulator, "k1", rate_limit=0, max_retries=0)
    with pytest.raises(TrafficStarsApiError) as info:
        for _ in range(16):
            client.request("GET", REPORT, params=QUERY)
    assert info.value.status_code == 429
    assert statuses(limited_emulator).count(200) == 5


def test_every_attempt_takes_a_slot_retries_included(
    limited_emulator: TrafficStarsEmulator, fake_time: FakeTime
) -> None:
    emu = limited_emulator
    limiter = RateLimiter(5, clock=fake_time.clock, sleep=fake_time.sleep)
    rate_limit.install(fingerprint(emu.url, "k1"), limiter)
    client = make_client(emu, "k1", rate_limit=5)
    emu.fail_next(2, 503, path=REPORT)
    for _ in range(4):
        client.request("GET", REPORT, params=QUERY)
    # token + 2 failed attempts + 4 answered calls = 7 sends: the 6th and 7th waited for the window.
    assert statuses(emu) == [200, 503, 503, 200, 200, 200, 200]
    assert 429 not in statuses(emu)
    assert fake_time.now - 1_000.0 == pytest.approx(60.0 + DEFAULT_MARGIN)


def test_two_clients_of_one_account_share_the_limit_other_accounts_do_not(
    limited_emulator: TrafficStarsEmulator, fake_time: FakeTime
) -> None:
    emu = limited_emulator
    emu.set_rate_limit(None)
    for key in ("k1", "k2"):
        rate_limit.install(fingerprint(emu.url, key), RateLimiter(3, clock=fake_time.clock, sleep=fake_time.sleep))
    shared_cache: dict[str, Any] = {}  # the two k1 clients share one token, as tasks do through the Variable
    first = make_client(emu, "k1", shared_cache, rate_limit=3)
    second = make_client(emu, "k1", shared_cache, rate_limit=3)
    other = make_client(emu, "k2", rate_limit=3)
    first.request("GET", REPORT, params=QUERY)  # k1: token + call
    other.request("GET", REPORT, params=QUERY)  # k2: its own token + call, counted apart
    second.request("GET", REPORT, params=QUERY)  # k1's third call: at once
    assert fake_time.now == 1_000.0
    second.request("GET", REPORT, params=QUERY)  # k1's fourth: waits for the window, whichever client sends it
    assert fake_time.now - 1_000.0 == pytest.approx(60.0 + DEFAULT_MARGIN)
    assert emu.token_requests == 2
