"""Single-flight token renewal: the lease logic on a simulated clock, then real processes on a real DB.

The first tests drive :class:`SingleFlight` through the client with a fake Variable store and a clock
that only moves when the code sleeps; "other processes" are events scheduled on that clock. The last
tests release 16 OS processes at once on a cold cache (SQLite, and PostgreSQL when reachable).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest
import requests_mock as rm

from airflow_provider_trafficstars.client._client import ClientConfig, TrafficStarsClient
from airflow_provider_trafficstars.client.auth._token import AccessToken
from airflow_provider_trafficstars.client.cache._lease import SingleFlight
from airflow_provider_trafficstars.client.cache._lease_record import Lease, LeaseTimings
from airflow_provider_trafficstars.client.cache._record import LEASE_SUFFIX, MemoryTokenCache, VariableTokenCache
from airflow_provider_trafficstars.exceptions import TrafficStarsAuthError, TrafficStarsConfigError
from airflow_provider_trafficstars.hooks.trafficstars import default_token_variable
from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
from benchmarks.common import EmulatorProcess
from benchmarks.contention import LEASE_CONN, ContentionPool
from tests.helpers import HOME, TOKEN_VAR, DictStore, World, cold_cache_rounds, new_api_key, obtained_earlier

BASE = "https://api.example.test"
KEY = "tsk-single-flight-test-key-0123"
TOKEN_URL = f"{BASE}/v1/auth/token"
VAR = default_token_variable("sf")
LEASE_VAR = VAR + LEASE_SUFFIX
TIMINGS = LeaseTimings(jitter=0)  # the jitter is random: tests that count sleeps turn it off


@pytest.fixture
def token_api(requests_mock: rm.Mocker) -> rm.Mocker:
    counter = itertools.count(1)
    requests_mock.post(
        TOKEN_URL,
        json=lambda req, ctx: {
            "access_token": f"tok-{next(counter):04d}-abc",
            "expires_in": 36000,
            "token_type": "Bearer",
        },
    )
    return requests_mock


def make_client(world: World, cache: Any, **config: Any) -> TrafficStarsClient:
    config.setdefault("lease", TIMINGS)
    return TrafficStarsClient(ClientConfig(base_url=BASE, api_key=KEY, **config), cache, clock=world, sleep=world.sleep)


def other_token(world: World, value: str = "tok-other-0001") -> str:
    """Return the record another process stores after its renewal."""
    cfg = ClientConfig(base_url=BASE, api_key=KEY)
    return AccessToken(value, "Bearer", world.now, world.now.add(hours=10), cfg.fingerprint).to_record()


def other_lease(holder: str = "0ther0ther0ther0", *, beat: int = 0, done: bool = False) -> str:
    """Return a lease record of another process (it holds no time: a reader trusts only its own clock)."""
    return Lease(holder, beat, done).to_record()


# -- the lease on a simulated clock ---------------------------------------------------------------
def test_lease_granted_renews_once_after_the_settle_delay(world: World, store: DictStore, token_api: rm.Mocker):
    client = make_client(world, VariableTokenCache(VAR, store))
    token = client.token()
    assert token_api.call_count == 1
    assert world.sleeps == [TIMINGS.settle_min]  # the lease write took no time on this clock
    # token read, lease read, lease write, settle, lease read-back, renew, token write, lease marked done
    assert store.log == [
        ("get", VAR),
        ("get", LEASE_VAR),
        ("set", LEASE_VAR),
        ("get", LEASE_VAR),
        ("set", VAR),
        ("set", LEASE_VAR),
    ]
    lease = json.loads(store.values[LEASE_VAR])
    assert set(lease) == {"holder", "beat", "done"} and lease["done"] is True
    assert len(lease["holder"]) == 16 and int(lease["holder"], 16) >= 0
    # A lease record never holds a secret.
    assert KEY not in store.values[LEASE_VAR] and token.access_token not in store.values[LEASE_VAR]


def test_jitter_comes_before_the_first_lease_read(world: World, store: DictStore, token_api: rm.Mocker):
    make_client(world, VariableTokenCache(VAR, store), lease=LeaseTimings()).token()
    jitter, settle = world.sleeps
    assert 0 <= jitter <= LeaseTimings().jitter and settle == TIMINGS.settle_min
    assert token_api.call_count == 1


def test_settle_delay_grows_with_a_slow_lease_write(world: World, store: DictStore, token_api: rm.Mocker):
    slow_set = store.set

    def set_taking_80ms(key: str, value: str) -> None:
        world.now = world.now.add(microseconds=80_000)
        slow_set(key, value)

    store.set = set_taking_80ms  # type: ignore[method-assign]
    make_client(world, VariableTokenCache(VAR, store)).token()
    assert world.sleeps == [pytest.approx(TIMINGS.settle_factor * 0.08)]


def test_lease_lost_to_another_writer_waits_for_its_token(world: World, store: DictStore, token_api: rm.Mocker):
    # Another process writes its lease during our settle delay (last write wins), then stores a token.
    world.at(0.01, lambda: store.set(LEASE_VAR, other_lease()))
    world.at(0.3, lambda: store.set(VAR, other_token(world)))
    client = make_client(world, VariableTokenCache(VAR, store))
    token = client.token()
    assert token.access_token == "tok-other-0001"
    assert token_api.call_count == 0
    assert 0.3 <= world.elapsed <= 0.3 + TIMINGS.poll_max
    # Later calls use the token in memory: no more reads.
    reads = len(store.log)
    client.token()
    assert len(store.log) == reads


def test_live_lease_found_first_means_no_lease_write(world: World, store: DictStore, token_api: rm.Mocker):
    store.values[LEASE_VAR] = other_lease()
    world.at(0.2, lambda: store.set(VAR, other_token(world)))
    token = make_client(world, VariableTokenCache(VAR, store)).token()
    assert token.access_token == "tok-other-0001"
    assert token_api.call_count == 0
    assert store.count("set", LEASE_VAR) == 0  # we saw a live lease, so we wrote none of our own


def test_dead_holder_is_taken_over_once_its_lease_stops_beating_for_ttl(
    world: World, store: DictStore, token_api: rm.Mocker
) -> None:
    store.values[LEASE_VAR] = other_lease()  # its holder crashed: the record never changes, no token comes
    client = make_client(world, VariableTokenCache(VAR, store))
    client.token()
    assert token_api.call_count == 1
    assert TIMINGS.ttl <= world.elapsed <= TIMINGS.ttl + TIMINGS.poll_max + TIMINGS.settle_max
    polls = store.count("get", VAR) - 1
    assert 0 < polls <= 12  # backed-off polling, not a storm of reads
    assert json.loads(store.values[LEASE_VAR])["done"] is True


def test_holder_that_beats_forever_costs_a_bounded_wait(world: World, store: DictStore, token_api: rm.Mocker):
    # Every lease we see is someone else's and beating, by "others" that never store a token.
    beats = itertools.count()

    def keep_a_foreign_lease() -> None:
        store.values[LEASE_VAR] = other_lease(beat=next(beats))
        world.at(world.elapsed + 0.5, keep_a_foreign_lease)

    keep_a_foreign_lease()
    make_client(world, VariableTokenCache(VAR, store)).token()
    assert token_api.call_count == 1
    assert world.elapsed <= TIMINGS.rounds * (TIMINGS.max_wait + TIMINGS.poll_max + TIMINGS.settle_max) + 1


def test_a_beating_lease_is_waited_for_beyond_ttl(world: World, store: DictStore, token_api: rm.Mocker):
    # The holder's token endpoint takes 12 s (more than ttl): its beats keep us waiting for its token.
    for second in range(12):
        world.at(second, lambda n=second: store.set(LEASE_VAR, other_lease(beat=n)))
    world.at(12, lambda: store.set(VAR, other_token(world)))
    token = make_client(world, VariableTokenCache(VAR, store)).token()
    assert token.access_token == "tok-other-0001" and token_api.call_count == 0
    assert world.elapsed >= 12


def test_a_dead_lease_with_a_far_future_time_costs_ttl_and_is_overwritten(
    world: World, store: DictStore, token_api: rm.Mocker
) -> None:
    # A lease of the old format, written by a holder whose clock ran an hour ahead, who then died.
    ahead = world.now.add(hours=1).isoformat()
    store.values[LEASE_VAR] = json.dumps({"holder": "0ther0ther0ther0", "expires_at": ahead, "done": False})
    make_client(world, VariableTokenCache(VAR, store), lease=LeaseTimings(jitter=0, rounds=2)).token()
    assert token_api.call_count == 1
    assert world.elapsed <= TIMINGS.ttl + TIMINGS.poll_max + TIMINGS.settle_max
    assert json.loads(store.values[LEASE_VAR])["holder"] != "0ther0ther0ther0"  # taken over, then done


def test_recently_finished_renewal_is_used_not_repeated(world: World, store: DictStore, token_api: rm.Mocker):
    # We read the stale token just before another process stored the new one and marked its lease done.
    stale = AccessToken(
        "tok-stale-0001",
        "Bearer",
        world.now.subtract(hours=11),
        world.now.subtract(hours=1),
        ClientConfig(BASE, KEY).fingerprint,
    )
    store.values[VAR] = stale.to_record()
    original_get = store.get

    def get_then_other_finishes(key: str) -> str | None:
        value = original_get(key)
        if key == VAR and value == stale.to_record():
            store.values[VAR] = other_token(world)
            store.values[LEASE_VAR] = other_lease(done=True)
        return value

    store.get = get_then_other_finishes  # type: ignore[method-assign]
    token = make_client(world, VariableTokenCache(VAR, store)).token()
    assert token.access_token == "tok-other-0001"
    assert token_api.call_count == 0
    assert world.sleeps == []


def test_failed_renewal_releases_the_lease(world: World, store: DictStore, requests_mock: rm.Mocker):
    requests_mock.post(TOKEN_URL, status_code=401, json={"error": "invalid_grant"})
    with pytest.raises(TrafficStarsAuthError):
        make_client(world, VariableTokenCache(VAR, store)).token()
    assert LEASE_VAR not in store.values  # the waiting processes may try at once


@pytest.mark.parametrize("broken", ["get", "set", LEASE_VAR])
def test_broken_store_means_renew_myself_with_one_warning(
    world: World, store: DictStore, token_api: rm.Mocker, caplog: pytest.LogCaptureFixture, broken: str
) -> None:
    store.broken.add(broken)
    client = make_client(world, VariableTokenCache(VAR, store))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            client.token()
    assert token_api.call_count == 1
    assert world.sleeps in ([], [TIMINGS.settle_min])  # at most one settle, never a wait for others
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_single_flight_off_writes_no_lease(world: World, store: DictStore, token_api: rm.Mocker):
    make_client(world, VariableTokenCache(VAR, store), single_flight=False).token()
    assert token_api.call_count == 1
    assert {key for _op, key in store.log} == {VAR}
    assert world.sleeps == []


def test_memory_cache_needs_no_lease(world: World, token_api: rm.Mocker):
    make_client(world, MemoryTokenCache("sf-memory", store={})).token()
    assert token_api.call_count == 1
    assert world.sleeps == []


def test_force_refresh_renews_at_once_without_a_lease(world: World, store: DictStore, token_api: rm.Mocker):
    store.values[LEASE_VAR] = other_lease()
    make_client(world, VariableTokenCache(VAR, store)).token(force_refresh=True)
    assert token_api.call_count == 1
    assert world.sleeps == []


def test_rejected_token_is_replaced_once_for_everyone(world: World, store: DictStore, requests_mock: rm.Mocker):
    # Our token is revoked; another process renews meanwhile; we take its token instead of a new one.
    client = make_client(world, VariableTokenCache(VAR, store))
    requests_mock.post(TOKEN_URL, json={"access_token": "tok-mine-0001", "expires_in": 36000, "token_type": "Bearer"})
    client.token()
    store.values[VAR] = obtained_earlier(store.values[VAR])  # revoked an hour after it was obtained
    requests_mock.get(f"{BASE}/v1.1/campaigns", [{"status_code": 401}, {"json": {"response": []}}])
    store.values[LEASE_VAR] = other_lease()
    world.at(0.2, lambda: store.set(VAR, other_token(world)))
    client.request("GET", "/v1.1/campaigns")
    assert requests_mock.request_history[-1].headers["Authorization"] == "Bearer tok-other-0001"
    assert sum(r.url == TOKEN_URL for r in requests_mock.request_history) == 1


def test_single_flight_runs_renew_directly_for_a_cache_without_lease(world: World) -> None:
    flight = SingleFlight(MemoryTokenCache("x", store={}), clock=world, sleep=world.sleep)
    stored: list[str] = []
    assert flight.run(lambda: None, lambda: "renewed", stored.append) == "renewed"
    assert stored == ["renewed"]


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, True), (True, True), (False, False), ("false", False), ("Yes", True), (0, False)]
)
def test_single_flight_extra(raw: object, expected: bool) -> None:
    from airflow_provider_trafficstars.hooks._connection import read_extras

    extra = {} if raw is None else {"single_flight": raw}
    assert read_extras(extra, "c")["single_flight"] is expected


def test_single_flight_extra_rejects_nonsense() -> None:
    from airflow_provider_trafficstars.hooks._connection import read_extras

    with pytest.raises(TrafficStarsConfigError):
        read_extras({"single_flight": "maybe"}, "c")


def test_lease_record_parsing_never_raises() -> None:
    for raw in (
        None,
        5,
        "",
        "{",
        "[]",
        '{"holder": 1}',
        '{"holder": "a", "beat": "1"}',
        '{"holder": "a", "beat": true}',
        '{"holder": "a", "done": "yes"}',
    ):
        assert Lease.from_record(raw) is None


# -- Variables written by another process are seen by the polling one ---------------------------------
@pytest.mark.integration
def test_polling_sees_a_new_value_even_with_the_secret_cache_on(airflow_db: Path, clean_variables: None, monkeypatch):
    """Airflow's SecretCache (on in DAG processors) must not hide the token another process stored."""
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import update

    from airflow_provider_trafficstars.hooks._airflow import _MetadataVariableStore
    from tests.airflow_compat import secret_cache_class

    SecretCache = secret_cache_class()
    monkeypatch.setenv("AIRFLOW__SECRETS__USE_CACHE", "True")
    SecretCache.init()
    try:
        Variable.set("sf_cache_probe", "old")
        assert Variable.get("sf_cache_probe") == "old"  # now cached
        with create_session() as session:  # "another process" writes straight to the DB
            new = {"val": "new", "is_encrypted": False}  # the test home has a Fernet key: say this one is plain
            session.execute(update(Variable).where(Variable.key == "sf_cache_probe").values(**new))
        assert Variable.get("sf_cache_probe") == "old"  # Airflow alone would keep serving the stale value
        assert _MetadataVariableStore().get("sf_cache_probe") == "new"
    finally:
        SecretCache.reset()


# -- 16 OS processes released together on a cold cache -------------------------------------------
@pytest.fixture
def workdir() -> Iterator[Path]:
    """A throwaway Airflow home for the processes (their metadata DB is the session's, ``HOME.db_url``)."""
    with AirflowHome.temporary("ts-sf-") as home:
        yield home.path


@contextlib.contextmanager
def sqlite_pool(workdir: Path, n: int) -> Iterator[ContentionPool]:
    """``n`` processes on the session's SQLite metadata DB (``HOME.db_url``), and an emulator process."""
    key = new_api_key()
    with EmulatorProcess(key, workdir=workdir) as emu, ContentionPool(HOME.db_url, workdir, emu, key, n=n) as pool:
        yield pool


@pytest.mark.integration
@pytest.mark.slow
def test_sixteen_processes_on_sqlite_renew_at_most_twice(airflow_db: Path, workdir: Path) -> None:
    """16 processes on the session's SQLite metadata DB (PostgreSQL: tests/distributed)."""
    with sqlite_pool(workdir, n=16) as pool:
        rounds = cold_cache_rounds(pool)
    for got in rounds:
        assert got.renewals == got.token_requests


@pytest.mark.integration
@pytest.mark.slow
def test_six_processes_and_a_slow_token_endpoint_make_one_request_and_a_dead_holder_costs_ttl(
    airflow_db: Path, workdir: Path
) -> None:
    """Issue 10: the 5 s lease must outlive a 10 s token answer (beats), and a dead holder is taken over."""
    from airflow.models import Variable

    lease_var = default_token_variable(LEASE_CONN) + LEASE_SUFFIX
    # A holder whose clock ran an hour ahead wrote this lease (old format, with its own expiry), then died.
    ahead = pendulum.now("UTC").add(hours=1).isoformat()
    dead = json.dumps({"holder": "deaddeaddeaddead", "expires_at": ahead, "done": False})
    with sqlite_pool(workdir, n=6) as pool:
        slow = pool.round(LEASE_CONN, token_latency=10)
        taken_over = pool.round(LEASE_CONN, before_go=lambda: Variable.set(lease_var, dead))
    assert not slow.errors and not taken_over.errors
    assert slow.token_requests == 1, slow
    assert min(slow.latencies) >= 10  # every process waited for the one slow renewal
    assert taken_over.token_requests == 1, taken_over
    # The documented takeover time (ttl 5 s) plus settle delays and polls, measured on the readers' clocks;
    # the dead holder's clock (an hour ahead) changes nothing. A margin of seconds for a loaded machine.
    assert max(taken_over.latencies) < LeaseTimings().ttl + 10, taken_over.latencies


@pytest.mark.integration
@pytest.mark.slow
def test_five_triggers_in_one_loop_and_two_workers_on_a_cold_cache_make_one_token_request(
    airflow_db: Path, workdir: Path
) -> None:
    """Issue 10: a triggerer's triggers renew through the same policy as the workers, lease included."""
    with sqlite_pool(workdir, n=3) as pool:
        rounds = [pool.round(LEASE_CONN, triggers={0: 5}) for _ in range(2)]
    for got in rounds:
        assert not got.errors, got.errors
        assert got.token_requests == 1, got


@pytest.mark.integration
@pytest.mark.parametrize("single_flight", [True, False])
def test_hook_writes_the_lease_variable_only_with_single_flight(
    airflow_db: Path, clean_variables: None, emulator: Any, api_key: str, monkeypatch, single_flight: bool
) -> None:
    from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
    from tests.helpers import conn_json, variable

    monkeypatch.setenv(
        "AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key, single_flight=single_flight)
    )
    token = TrafficStarsHook().get_token().access_token
    lease = variable(TOKEN_VAR + LEASE_SUFFIX)
    assert emulator.token_requests == 1
    if single_flight:
        assert lease is not None and json.loads(lease)["done"] is True
        assert token not in lease and api_key not in lease
    else:
        assert lease is None
