"""Where the token record lives between tasks: the TokenCache protocol and its two implementations.

``VariableTokenCache`` keeps the record in an Airflow Variable (shared by every task and worker) through a
small ``VariableStore`` given to it by the hook, so this module imports nothing from Airflow.
``MemoryTokenCache`` keeps it in the process (tests, and the fallback when no Variable store is reachable).
:class:`SingleFlight` lets one process renew an expired token while the others wait for it, through a
lease record in a second Variable next to the token's (see its docstring).
"""

from __future__ import annotations

import json
import logging
import math
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

import pendulum
from pendulum import DateTime

log = logging.getLogger(__name__)

#: The renewal lease of a token Variable lives in the Variable ``<token variable><LEASE_SUFFIX>``.
LEASE_SUFFIX = "_lease"
T = TypeVar("T")


@runtime_checkable
class TokenCache(Protocol):
    """Stores one raw token record (a JSON string) under one key."""

    key: str

    def load(self) -> str | None:
        """Return the stored record, or None when there is none (or it cannot be read)."""

    def save(self, record: str) -> None:
        """Store the record; failures are logged, never raised."""

    def clear(self) -> None:
        """Remove the record; failures are logged, never raised."""


class VariableStore(Protocol):
    """The three Variable operations the cache needs (see ``_compat.get_variable_store``)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


@runtime_checkable
class LeaseCache(Protocol):
    """Optional part of a TokenCache: a renewal lease record stored next to the token record.

    A cache without these methods (``MemoryTokenCache``) needs no lease: the process lock is enough.
    """

    key: str

    @property
    def available(self) -> bool:
        """Return False once the store has failed; the lease is then skipped."""

    def load_lease(self) -> str | None:
        """Return the stored lease record, or None; failures are logged, never raised."""

    def save_lease(self, record: str) -> None:
        """Store the lease record; failures are logged, never raised."""

    def clear_lease(self) -> None:
        """Remove the lease record; failures are logged, never raised."""


_MEMORY: dict[str, str] = {}
_MEMORY_LOCK = threading.Lock()


class MemoryTokenCache:
    """Keep the record in this process only.

    :param key: the record's key.
    :param store: where to keep it; by default one dict shared by the whole process.
    """

    def __init__(self, key: str, store: dict[str, str] | None = None) -> None:
        self.key = key
        self._store = _MEMORY if store is None else store

    def __repr__(self) -> str:
        return f"MemoryTokenCache(key={self.key!r})"

    def load(self) -> str | None:
        with _MEMORY_LOCK:
            return self._store.get(self.key)

    def save(self, record: str) -> None:
        with _MEMORY_LOCK:
            self._store[self.key] = record

    def clear(self) -> None:
        with _MEMORY_LOCK:
            self._store.pop(self.key, None)


class VariableTokenCache:
    """Keep the record in an Airflow Variable shared by every task and worker.

    Any store failure is logged once as a warning and the cache then stays out of the way: the client
    keeps its token in memory and the task goes on. After each write the value is read back, so that a
    Variable shadowed by an ``AIRFLOW_VAR_...`` environment variable or a secrets backend is reported
    instead of silently costing a new token in every task. (Not when the read just before found no
    value at all: a shadowed Variable always has one, so that read already proved there is no shadow.)

    The renewal lease of :class:`SingleFlight` lives in the Variable ``<key>_lease``.

    :param key: the Variable key.
    :param store: the Variable operations for the current context.
    """

    def __init__(self, key: str, store: VariableStore) -> None:
        self.key = key
        self.lease_key = key + LEASE_SUFFIX
        self._store = store
        self._broken = False
        self._warned_shadow = False
        self._last_read_empty = False
        self.reads = 0
        self.writes = 0
        self.lease_reads = 0
        self.lease_writes = 0

    def __repr__(self) -> str:
        return f"VariableTokenCache(key={self.key!r})"

    @property
    def available(self) -> bool:
        """Return False once the Variable store has failed (the client then keeps the token in memory)."""
        return not self._broken

    def _fail(self, action: str, exc: BaseException) -> None:
        if not self._broken:
            # The exception type says enough; its text could echo the value we tried to write.
            log.warning(
                "Could not %s the token cache Variable %r (%s); keeping the TrafficStars token in memory "
                "for this task only. Other tasks will renew their own token until the Variable store "
                "is reachable again.",
                action,
                self.key,
                type(exc).__name__,
            )
        self._broken = True

    def load(self) -> str | None:
        if self._broken:
            return None
        self.reads += 1
        try:
            value = self._store.get(self.key)
        except Exception as exc:
            self._fail("read", exc)
            return None
        self._last_read_empty = value is None
        return value if isinstance(value, str) else None

    def save(self, record: str) -> None:
        if self._broken:
            return
        self.writes += 1
        try:
            self._store.set(self.key, record)
        except Exception as exc:
            self._fail("write", exc)
            return
        if self._last_read_empty:
            self._last_read_empty = False
            return
        self.reads += 1
        try:
            seen = self._store.get(self.key)
        except Exception as exc:
            self._fail("read back", exc)
            return
        if seen != record and not self._warned_shadow:
            self._warned_shadow = True
            log.warning(
                "The token cache Variable %r was written but reads back a different value: an "
                "AIRFLOW_VAR_%s environment variable or a secrets backend shadows it. Remove that "
                "definition (or set the connection extra 'token_variable' to another key), otherwise "
                "every task renews its own token.",
                self.key,
                self.key.upper(),
            )

    def clear(self) -> None:
        if self._broken:
            return
        self.writes += 1
        try:
            self._store.delete(self.key)
        except Exception as exc:
            self._fail("delete", exc)

    # -- the renewal lease (see SingleFlight) -----------------------------------------------------
    def load_lease(self) -> str | None:
        if self._broken:
            return None
        self.lease_reads += 1
        try:
            value = self._store.get(self.lease_key)
        except Exception as exc:
            self._fail("read the renewal lease of", exc)
            return None
        return value if isinstance(value, str) else None

    def save_lease(self, record: str) -> None:
        if self._broken:
            return
        self.lease_writes += 1
        try:
            self._store.set(self.lease_key, record)
        except Exception as exc:
            self._fail("write the renewal lease of", exc)

    def clear_lease(self) -> None:
        if self._broken:
            return
        self.lease_writes += 1
        try:
            self._store.delete(self.lease_key)
        except Exception as exc:
            self._fail("delete the renewal lease of", exc)


# -- single-flight renewal across processes -------------------------------------------------------
@dataclass(frozen=True)
class LeaseTimings:
    """The delays of the renewal lease, in seconds (how they were tuned: ``benchmarks/RESULTS.md``).

    :param jitter: a process waits a random time up to this long before it looks for a lease, so that of
        many processes that found the token stale at the same instant, most see the first one's lease
        and wait, instead of all writing their own at once.
    :param settle_min: shortest wait between writing the lease and reading it back.
    :param settle_factor: the settle wait is this many times as long as the lease write took: a slow,
        contended store also delays the competing writes that must land before the read-back.
    :param settle_max: longest settle wait.
    :param ttl: a lease is dead this long after it was written (its holder crashed or hangs).
    :param poll: the first wait of a waiting process before it re-reads the token Variable; each further
        wait is 1.5 times longer, up to ``poll_max``, so a slow renewal is not met with a storm of reads.
    :param poll_max: the longest wait between two reads of the token Variable.
    :param rounds: how many leases a process waits for, or contends for, before renewing unconditionally.
    """

    jitter: float = 0.1
    settle_min: float = 0.1
    settle_factor: float = 3.0
    settle_max: float = 1.0
    ttl: float = 5.0
    poll: float = 0.05
    poll_max: float = 0.8
    rounds: int = 4


@dataclass(frozen=True)
class Lease:
    """A lease record: who renews, until when, and whether it is done. It never holds a secret.

    :param holder: the random id of the process that took the lease.
    :param expires_at: when the lease is dead even if its holder never finished.
    :param done: True once the holder stored the new token.
    """

    holder: str
    expires_at: DateTime
    done: bool = False

    def live(self, now: DateTime) -> bool:
        return now < self.expires_at

    def to_record(self) -> str:
        return json.dumps({"holder": self.holder, "expires_at": self.expires_at.isoformat(), "done": self.done})

    @classmethod
    def from_record(cls, raw: object) -> Lease | None:
        """Parse a lease record; return None for anything unusable (a dead lease), never raise."""
        if not isinstance(raw, str):
            return None
        try:
            data = json.loads(raw)
            holder, when, done = data["holder"], data["expires_at"], data.get("done", False)
            parsed = datetime.fromisoformat(when)
        except (ValueError, TypeError, KeyError, RecursionError):
            return None
        if not isinstance(holder, str) or not isinstance(done, bool) or parsed.tzinfo is None:
            return None
        return cls(holder, pendulum.instance(parsed).in_timezone("UTC"), done)


class SingleFlight:
    """Let one process renew an expired token while the others wait for the token it stores.

    Variables have no compare-and-set (the last write wins), so a lease is taken like this: a process
    that finds the token stale reads the lease Variable; if a live lease is there, it waits for the new
    token instead. Otherwise it writes a lease with its own random id, waits a settle delay long enough
    for every competing write to land, and reads it back: the last writer wins and renews, the others
    poll the token Variable until the winner stores the new token. A lease dies ``ttl`` seconds after it
    was written, so a holder that crashed delays the others by at most that long, after which they
    contend again; after ``rounds`` leases without a token a process renews by itself. A cache that keeps
    no lease (``MemoryTokenCache``) or a Variable store that fails means "renew myself" at once.

    :param cache: the token cache; a :class:`LeaseCache` gets the lease, any other cache none.
    :param clock: the current UTC time.
    :param sleep: the settle and polling wait.
    :param timings: the delays.
    """

    def __init__(
        self,
        cache: object,
        *,
        clock: Callable[[], DateTime],
        sleep: Callable[[float], None],
        timings: LeaseTimings | None = None,
    ) -> None:
        self._cache = cache if isinstance(cache, LeaseCache) else None
        self._clock = clock
        self._sleep = sleep
        self.timings = timings or LeaseTimings()

    def run(self, fresh: Callable[[], T | None], renew: Callable[[], T]) -> T:
        """Return ``fresh()`` once another process stored a usable token, else ``renew()`` (at most once).

        :param fresh: re-reads the token cache; returns a usable token or None.
        :param renew: obtains and stores a new token.
        """
        cache = self._cache
        if cache is None or not cache.available:
            return renew()
        me = secrets.token_hex(8)
        for _ in range(self.timings.rounds):
            if self.timings.jitter > 0:
                self._sleep(random.uniform(0, self.timings.jitter))
            lease = Lease.from_record(cache.load_lease())
            if not cache.available:
                return renew()
            if lease is not None and lease.live(self._clock()) and not lease.done:
                waiting_on: Lease | None = lease  # someone else renews: wait for their token
            else:
                if lease is not None and lease.live(self._clock()) and lease.done:
                    # A renewal finished moments ago: its token is probably what we need.
                    token = fresh()
                    if token is not None:
                        return token
                waiting_on = self._contend(cache, me)
                if not cache.available:
                    return renew()
                if waiting_on is not None and waiting_on.holder == me:
                    return self._renew_holding(cache, me, renew)
            token = self._wait(fresh, waiting_on)
            if token is not None:
                return token
        log.info(
            "No new TrafficStars token appeared in %r after %d renewal leases; renewing it here.",
            cache.key,
            self.timings.rounds,
        )
        return renew()

    def _contend(self, cache: LeaseCache, me: str) -> Lease | None:
        """Write our lease, let competing writes land, and return the lease that won."""
        t = self.timings
        started = self._clock()
        cache.save_lease(Lease(me, started.add(seconds=t.ttl)).to_record())
        took = max(0.0, (self._clock() - started).total_seconds())
        self._sleep(min(max(t.settle_min, t.settle_factor * took), t.settle_max))
        return Lease.from_record(cache.load_lease())

    def _renew_holding(self, cache: LeaseCache, me: str, renew: Callable[[], T]) -> T:
        try:
            token = renew()
        except BaseException:
            cache.clear_lease()  # let the waiting processes try now rather than when the lease dies
            raise
        # Mark the lease done instead of deleting it: a process that read the stale token just before the
        # new one was stored then re-reads the token instead of renewing again.
        cache.save_lease(Lease(me, self._clock().add(seconds=self.timings.ttl), done=True).to_record())
        return token

    def _wait(self, fresh: Callable[[], T | None], lease: Lease | None) -> T | None:
        """Poll the token cache until a usable token appears or ``lease`` dies; None if it does not."""
        t = self.timings
        now = self._clock()
        if lease is None or lease.done:  # vanished (its holder failed) or done: one look, then contend
            return fresh()
        # Trust a lease's expiry no further than ttl from now: the writer's clock may be ahead of ours.
        until = min(lease.expires_at, now.add(seconds=t.ttl))
        log.info("Another process is renewing the TrafficStars token (lease %r); waiting for it.", lease.holder)
        wait = max(t.poll, 0.001)
        for _ in range(math.ceil(t.ttl / wait) + 1):  # a bound even if the clock stands still
            self._sleep(wait)
            token = fresh()
            if token is not None:
                return token
            if self._clock() >= until:
                break
            wait = min(wait * 1.5, max(t.poll_max, wait))
        return None
