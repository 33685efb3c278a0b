"""The account's shared call budget: the pure rule (injected clock), the local batches, and the client's use of it."""

from __future__ import annotations

import logging
import random
import re
from typing import Any

import pytest

from airflow_provider_trafficstars.client import ClientConfig, TrafficStarsClient
from airflow_provider_trafficstars.client.cache._budget import AccountBudget, BudgetWait
from airflow_provider_trafficstars.client.cache._grants import (
    DEFAULT_MARGIN,
    SHARES,
    BudgetRules,
    Record,
    Spent,
    release,
    reserve,
)
from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
from airflow_provider_trafficstars.client.http._waits import next_poll_delay
from airflow_provider_trafficstars.exceptions import TrafficStarsApiError, TrafficStarsBudgetError, is_transient
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import FakeTime

REPORT = "/v1.1/advertiser/custom/report/by-day"
QUERY = {"date_from": "2026-01-01", "date_to": "2026-01-01"}
RULES = BudgetRules(100, 60.0, 2.0)  # hold: 10 s, a call counts for 62 s


def veteran(record: Record, *names: str, now: float = 1_000.0, got: int = 0) -> Record:
    """List ``names`` as claimants that asked at ``now`` and first did a window ago (past their ramp)."""
    for name in names:
        record.claims[name] = (now, got, now - RULES.span)
    return record


def settle_in(budget: AccountBudget, now: float) -> AccountBudget:
    """Make ``budget``'s process a claimant past its first window (its ramp) in the shared record."""
    record = Record.parse(budget.store.load())
    record.claims[budget.me] = (now, 0, now - budget.rules.span)
    budget.store.save(record.to_json())
    return budget


# -- the pure rule -------------------------------------------------------------------------------------------
def test_a_new_claimant_ramps_up_over_its_first_window() -> None:
    record = Record()
    first = -(-100 // SHARES**2)  # 7
    assert reserve(record, RULES, "a", 1_000.0, None) == (first, 0.0)
    # Then the account's rate (100 per 62 s): the next grant once the ramp allows a first grant's size again.
    granted, wait = reserve(record, RULES, "a", 1_000.5, None)
    assert granted == 0 and wait == pytest.approx((first - 100 * 0.5 / RULES.span) * RULES.span / 100)
    assert reserve(record, RULES, "a", 1_000.0 + first * RULES.span / 100, None)[0] == first
    # A window on, the ramp no longer limits: a quarter of the window per visit.
    assert reserve(record, RULES, "a", 1_000.0 + RULES.span, None)[0] == 100 // SHARES


def test_a_limit_out_of_reach_costs_one_visit_for_hundreds_of_calls() -> None:
    assert reserve(Record(), BudgetRules(100_000), "a", 1_000.0, None)[0] >= 500


def test_a_late_claim_without_its_first_visit_is_read_as_starting_when_it_last_asked() -> None:
    record = Record.parse('{"grants": [], "claims": {"a": [5.0, 3]}}')
    assert record.claims == {"a": (5.0, 3, 5.0)}


def test_a_lone_claimant_gets_a_quarter_of_the_window_per_visit_then_waits_for_the_oldest_grant() -> None:
    record = veteran(Record(), "a")
    grants = [reserve(record, RULES, "a", 1_000.0 + i, None)[0] for i in range(SHARES)]
    assert grants == [100 // SHARES] * SHARES
    granted, wait = reserve(record, RULES, "a", 1_005.0, None)
    # The first grant (made at 1000, spendable until 1010) counts until 1010 + 62; the wait is capped at hold.
    assert granted == 0 and wait == pytest.approx(1_072.0 - 1_005.0)
    granted, wait = reserve(record, RULES, "a", 1_068.0, None)
    assert granted == 0 and wait == pytest.approx(1_072.0 - 1_068.0)
    assert reserve(record, RULES, "a", 1_072.0, None)[0] == 25


def test_settling_a_grant_gives_back_what_was_not_spent_at_once() -> None:
    record = veteran(Record(), "a", "b")
    reserve(record, RULES, "a", 1_000.0, None)
    for _ in range(50):
        reserve(record, RULES, "a", 1_000.0, None)
        reserve(record, RULES, "b", 1_000.0, None)
    assert sum(g[2] for g in record.grants) == 100 and reserve(record, RULES, "c", 1_001.0, None)[0] == 0
    # "a" spent 5 of its first grant, the last at 1002: the rest comes back at once, its 5 count from 1002 on.
    reserve(record, RULES, "a", 1_003.0, Spent(1_010.0, 5, 1_002.0))
    assert ("a", 1_002.0, 5) in record.grants
    assert reserve(record, RULES, "c", 1_003.0, None)[0] >= 1


def test_no_claimant_runs_ahead_of_the_slowest_while_it_asks() -> None:
    record = veteran(Record(), "a", "b", now=1_000.0 - 2 * RULES.hold_for - 1)  # known, neither asking now
    first = reserve(record, RULES, "b", 1_000.0, None)[0]
    taken = 0
    while (granted := reserve(record, RULES, "a", 1_000.0, None)[0]) > 0:
        taken += granted
    batch = -(-100 // (SHARES * 2))
    assert first == 25 and taken <= first + 2 * batch  # "a" stops a batch ahead of "b" (25 + 13 + 13 at most)
    granted, wait = reserve(record, RULES, "a", 1_000.0, None)
    assert granted == 0 and wait <= RULES.hold_for  # it asks again soon: "b" is about to catch up
    assert reserve(record, RULES, "b", 1_001.0, None)[0] >= 1  # the slowest gets its turn


def test_a_newcomer_starts_at_most_one_window_behind() -> None:
    record = veteran(Record(), "old", got=5_000)
    assert reserve(record, RULES, "new", 1_000.0, None)[0] >= 1
    assert record.claims["new"][1] >= 5_000 - 100  # it does not stall "old" for 49 windows


def test_grants_shrink_with_the_number_of_claimants() -> None:
    record = veteran(Record(), *"abcde")
    for name in "abcd":
        reserve(record, RULES, name, 1_000.0, None)
    assert reserve(record, RULES, "e", 1_000.0, None)[0] == -(-100 // (SHARES * 5))  # ceil(100 / 20) = 5


def test_a_garbage_record_is_an_empty_one() -> None:
    for raw in (None, "", "{", "[]", '{"grants": [["a", "x", 1]]}', '{"grants": 3}', '{"claims": [1]}'):
        assert Record.parse(raw) == Record()
    record = Record()
    reserve(record, RULES, "a", 5.0, None)
    assert Record.parse(record.to_json()) == record


def test_release_gives_back_the_rest_and_leaves_the_claimants() -> None:
    record = Record()
    reserve(record, RULES, "a", 1_000.0, None)
    release(record, "a", Spent(1_010.0, 0, 1_000.0))
    assert record == Record()


def simulate(
    holders: int, calls_each: int, rules: BudgetRules, rnd: random.Random
) -> tuple[list[float], dict[int, float]]:
    """Holders that each send ``calls_each`` calls, visiting the record as a real process does.

    A discrete-event loop on a shared clock: each holder spends its grant one call at a time with random gaps
    (sometimes longer than its hold: the rest then lapses), or waits what ``reserve`` says. Returns every send
    time and each holder's finish time.
    """
    record = Record()
    sends: list[float] = []
    finished: dict[int, float] = {}
    state: dict[int, dict[str, Any]] = {
        h: {"left": 0, "latest": 0.0, "spent": None, "todo": calls_each, "at": 0.0} for h in range(holders)
    }
    while len(finished) < holders:
        h = min((h for h in state if h not in finished), key=lambda h: state[h]["at"])
        s = state[h]
        now = s["at"]
        if s["left"] > 0 and now <= s["latest"]:
            s["left"] -= 1
            sent = s["spent"]
            s["spent"] = Spent(sent.latest, sent.calls + 1, now)
            sends.append(now)
            s["todo"] -= 1
            if s["todo"] == 0:
                finished[h] = now
                release(record, str(h), s["spent"])
                s["at"] = float("inf")
            else:
                s["at"] = now + rnd.choice([0.01, 0.05, 0.3, 2.0, 12.0])
            continue
        granted, wait = reserve(record, rules, str(h), now, s["spent"])
        if granted:
            s["left"], s["latest"], s["spent"] = granted, now + rules.hold_for, Spent(now + rules.hold_for, 0, now)
        else:
            s["left"], s["spent"] = 0, None
            s["at"] = now + wait + rnd.uniform(0, 0.2)
    return sends, finished


@pytest.mark.parametrize("seed", range(5))
def test_no_window_ever_holds_more_than_the_limit(seed: int) -> None:
    """The server's window may start anywhere (sliding): any ``period`` seconds hold at most ``limit`` sends."""
    rules = BudgetRules(20, 60.0, 0.0)
    sends, _ = simulate(6, 40, rules, random.Random(seed))
    sends.sort()
    assert len(sends) == 240
    for i in range(len(sends) - rules.limit):
        assert sends[i + rules.limit] - sends[i] >= rules.period, (i, sends[i], sends[i + rules.limit])


@pytest.mark.parametrize("early", [0.0, 2.0, 5.0])
@pytest.mark.parametrize("seed", range(4))
def test_holders_progress_together_and_at_the_accounts_rate(early: float, seed: int) -> None:
    rules = BudgetRules(100, 60.0, 2.0)
    rnd = random.Random(seed)
    record = Record()
    # 8 holders that send as fast as they may (the 8-process barrier of the benchmark, 40 calls each), one of
    # them reaching the record ``early`` seconds before the others (their first lease round, on a loaded machine).
    sends, finished = simulate_fast(8, 40, rules, rnd, record, early=early)
    floor = (320 // rules.limit) * rules.span  # three full windows have to roll over before the last 20 calls
    assert max(finished.values()) <= floor + early + rules.hold_for + 1
    assert len(sends) == 320 and all(sum(1 for x in sends if t <= x < t + 60.0) <= 100 for t in sends)
    # Together: the first lone one ramps up instead of taking the window, and every window is shared equally
    # (less a lead), so nobody's last call comes a window before the others' (the issue's bound: 10 s).
    assert max(finished.values()) - min(finished.values()) <= 10.0, finished


def simulate_fast(
    holders: int, calls_each: int, rules: BudgetRules, rnd: random.Random, record: Record, early: float = 0.0
) -> tuple[list[float], dict[int, float]]:
    sends: list[float] = []
    finished: dict[int, float] = {}
    at = {h: rnd.uniform(0, 0.1) + (early if h else 0.0) for h in range(holders)}
    todo = dict.fromkeys(range(holders), calls_each)
    spent: dict[int, Spent | None] = dict.fromkeys(range(holders))
    while at:
        h = min(at, key=at.__getitem__)
        now = at[h]
        granted, wait = reserve(record, rules, str(h), now, spent[h])
        if not granted:
            spent[h] = None
            at[h] = now + min(wait, rules.hold_for) + rnd.uniform(0, 0.3)  # a waiter asks again within a hold
            continue
        n = min(granted, todo[h])
        sends += [now] * n
        todo[h] -= n
        spent[h] = Spent(now + rules.hold_for, n, now)
        if todo[h] == 0:
            release(record, str(h), spent[h])
            finished[h] = now
            del at[h]
        else:
            at[h] = now + 0.2  # the next visit: one lease round later
    return sends, finished


def test_a_holder_killed_with_budget_strands_it_for_at_most_hold_plus_a_window() -> None:
    rules = BudgetRules(100, 60.0, 2.0)
    record = veteran(Record(), "dead", "alive", now=-2 * rules.hold_for - 1)
    assert reserve(record, rules, "dead", 0.0, None)[0] == 25  # then it is killed
    for _ in range(10):
        reserve(record, rules, "alive", 0.0, None)
    granted, wait = reserve(record, rules, "alive", 1.0, None)
    assert granted == 0
    t = 1.0
    while not granted:
        t += wait
        granted, wait = reserve(record, rules, "alive", t, None)
    assert t <= rules.hold_for + rules.span


# -- the local batches ----------------------------------------------------------------------------------------
def make_budget(t: FakeTime, limit: int = 4, store: dict[str, str] | None = None) -> AccountBudget:
    cache = MemoryTokenCache("budget", {} if store is None else store)
    return AccountBudget(cache, BudgetRules(limit, 60.0, 2.0), clock=t.clock, sleep=t.sleep)


def test_one_visit_of_the_store_per_batch_not_per_call() -> None:
    t = FakeTime()
    budget = settle_in(make_budget(t, limit=100), t.now)
    for _ in range(100):
        budget.acquire()
    assert budget.visits == SHARES and t.slept == []
    budget.acquire()
    assert t.now > 1_000.0 + 60.0


def test_a_wait_is_logged_once_with_its_length_and_never_as_zero(caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime()
    budget = settle_in(make_budget(t, limit=4), t.now)
    caplog.set_level(logging.INFO, logger="airflow_provider_trafficstars.client.cache._budget")
    for _ in range(4):
        budget.acquire()
    assert caplog.records == []
    waited = budget.acquire()  # the 5th waits: hold-capped steps until the first grant leaves the window
    assert len(t.slept) > 1 and waited == pytest.approx(sum(t.slept))
    waits = [r.getMessage() for r in caplog.records if "waiting about" in r.getMessage()]
    assert len(waits) == 1 and "waiting about 62.0 s" in waits[0]
    assert not any(re.search(r"\b0\.0 s", r.getMessage()) for r in caplog.records)


def test_a_wait_past_the_callers_bound_raises_with_the_wait_and_takes_nothing() -> None:
    t = FakeTime()
    budget = settle_in(make_budget(t, limit=1), t.now)
    budget.acquire()
    with pytest.raises(BudgetWait) as info:
        budget.acquire(max_wait=0.0)
    assert info.value.seconds == pytest.approx(62.0) and t.slept == []
    assert budget.try_acquire() > 0  # still nothing to take: the failed acquire did not reserve a slot


# -- the client ----------------------------------------------------------------------------------------------
def make_client(
    emu: TrafficStarsEmulator, key: str, t: FakeTime, budget: dict[str, Any] | None = None, **config: Any
) -> TrafficStarsClient:
    return TrafficStarsClient(
        ClientConfig(base_url=emu.url, api_key=key, backoff_base=0.01, **config),
        MemoryTokenCache(f"rl-{key}", store={}),
        clock=t.utc,
        sleep=t.sleep,
        budget_store=None if budget is None else MemoryTokenCache("budget", budget),
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
    client = make_client(limited_emulator, "k1", fake_time, rate_limit=5, backoff_budget=1000.0)
    for _ in range(16):
        client.request("GET", REPORT, params=QUERY)
    assert statuses(limited_emulator) == [200] * 17  # the token request counted too: 1 + 16 calls
    # 17 calls at 5 per window: at least three windows rolled over.
    assert fake_time.now - 1_000.0 >= 3 * (60.0 + DEFAULT_MARGIN)


def test_without_the_budget_the_same_calls_earn_429s(
    limited_emulator: TrafficStarsEmulator, fake_time: FakeTime
) -> None:
    """The control experiment: the emulator does refuse what the budget avoids."""
    client = make_client(limited_emulator, "k1", fake_time, rate_limit=0, max_retries=0)
    with pytest.raises(TrafficStarsApiError) as info:
        for _ in range(16):
            client.request("GET", REPORT, params=QUERY)
    assert info.value.status_code == 429
    assert statuses(limited_emulator).count(200) == 5


def test_every_attempt_takes_a_slot_retries_included(
    limited_emulator: TrafficStarsEmulator, fake_time: FakeTime
) -> None:
    client = make_client(limited_emulator, "k1", fake_time, rate_limit=5)
    limited_emulator.fail_next(2, 503, path=REPORT)
    for _ in range(4):
        client.request("GET", REPORT, params=QUERY)
    # token + 2 failed attempts + 4 answered calls = 7 sends: the 6th and 7th waited for the window.
    assert statuses(limited_emulator) == [200, 503, 503, 200, 200, 200, 200]
    assert fake_time.now - 1_000.0 >= 60.0


def test_a_budget_wait_past_the_calls_bound_is_a_transient_typed_error(
    limited_emulator: TrafficStarsEmulator, fake_time: FakeTime
) -> None:
    client = make_client(limited_emulator, "k1", fake_time, {}, rate_limit=2, backoff_budget=5.0)
    assert client.budget is not None
    settle_in(client.budget, fake_time.now)  # past its ramp: the token and one call may go at once
    client.request("GET", REPORT, params=QUERY)  # token + call: the budget is spent
    with pytest.raises(TrafficStarsBudgetError) as info:
        client.request("GET", REPORT, params=QUERY)
    err = info.value
    assert is_transient(err) and err.status_code is None and err.endpoint == REPORT
    assert err.wait > 5.0 and err.retry_after == err.wait
    assert next_poll_delay(60.0, err) == pytest.approx(err.wait)  # a sensor polls again once there is room
    assert len(statuses(limited_emulator)) == 2  # nothing was sent


def test_two_clients_of_one_account_share_the_budget_other_accounts_do_not(
    limited_emulator: TrafficStarsEmulator, fake_time: FakeTime
) -> None:
    emu = limited_emulator
    emu.set_rate_limit(None)
    shared: dict[str, Any] = {}  # the record of k1's budget, as the Variable is for every process
    first = make_client(emu, "k1", fake_time, shared, rate_limit=3)
    second = make_client(emu, "k1", fake_time, shared, rate_limit=3)
    other = make_client(emu, "k2", fake_time, rate_limit=3)
    first.request("GET", REPORT, params=QUERY)  # k1: token + call (a batch of 1: two claimants... or one)
    first.close()  # gives back what it did not spend
    other.request("GET", REPORT, params=QUERY)  # k2: its own budget
    second.request("GET", REPORT, params=QUERY)  # k1: its own token and call (no shared token here): 4 > 3
    assert fake_time.now - 1_000.0 >= 60.0  # the second client waited for the first client's calls
