"""Single-flight renewal across processes: a lease Variable next to the token's. No Airflow imports.

Variables have no compare-and-set (the last write wins), so a lease is taken like this: a process that
finds the token stale reads the lease; if a live one is there it waits for the token instead. Otherwise it
writes a lease with its own random id, waits a settle delay long enough for competing writes to land, and
reads it back: the last writer renews, the others wait.

While the holder renews, it rewrites its lease every ``beat`` seconds (the HTTP exchange runs in a helper
thread, the Variable writes stay in the caller's thread), so a slow token endpoint never lets the lease
lapse. A waiter never trusts a time written by another machine: it watches the record change, and a
lease unchanged for ``ttl`` seconds *on the waiter's own clock* is dead (its holder crashed); the waiter
then takes it over by writing its own. A crashed holder therefore costs the others at most ``ttl`` plus a
settle delay, whatever its clock said.

The same lease guards any other record that several processes read, change and write back:
:meth:`SingleFlight.exclusive` runs such a section (the account's call budget, :mod:`.budget`) while holding it.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from pendulum import DateTime

from airflow_provider_trafficstars.client.cache._lease_record import Lease, LeaseCache, LeaseTimings, process_lock

log = logging.getLogger(__name__)
T = TypeVar("T")


class SingleFlight:
    """Let one process renew an expired token while the others wait for the token it stores.

    :param cache: the token cache; a :class:`LeaseCache` gets the lease, any other cache none.
    :param clock: the current UTC time of this process (only differences of it are used).
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

    def _seconds_since(self, moment: DateTime) -> float:
        return (self._clock() - moment).total_seconds()

    def run(self, fresh: Callable[[], T | None], fetch: Callable[[], T], store: Callable[[T], object]) -> T:
        """Return ``fresh()`` once another process stored a usable token, else renew here (at most once).

        :param fresh: re-reads the token cache; returns a usable token or None.
        :param fetch: obtains a new token (only I/O to the API: it may run in a helper thread).
        :param store: keeps and stores a fetched token (in the caller's thread).
        """
        cache = self._cache
        if cache is None or not cache.available:
            return _fetch_and_store(fetch, store)
        me = secrets.token_hex(8)
        dead: Lease | None = None
        for _ in range(self.timings.rounds):
            if self.timings.jitter > 0:
                self._sleep(random.uniform(0, self.timings.jitter))
            lease = Lease.from_record(cache.load_lease())
            if lease is not None and lease.done:
                token = fresh()  # a renewal finished moments ago: its token is probably what we need
                if token is not None:
                    return token
            if lease is None or lease.done or lease == dead:
                lease = self._contend(cache, me)
                if lease is not None and lease.holder == me:
                    return self._hold(cache, me, fetch, store)
            if not cache.available:
                break
            token, dead = self._wait(cache, fresh, lease)
            if token is not None:
                return token
        log.info(
            "No new TrafficStars token appeared in %r after %d leases; renewing here.", cache.key, self.timings.rounds
        )
        return _fetch_and_store(fetch, store)

    def exclusive(self, section: Callable[[], T], *, what: str = "a shared record") -> T:
        """Run ``section`` while this process holds the lease: one writer at a time across processes.

        The read-modify-write of a record that several processes update (the account's call budget) runs
        here. Without a lease store (or once it failed) the section runs under the process lock only.

        :param section: short store I/O (no HTTP); it runs in the caller's thread.
        :param what: names the record in the log line of a wait.
        """
        cache = self._cache
        with process_lock(getattr(cache, "key", "") + "#exclusive"):
            if cache is None or not cache.available:
                return section()
            me = secrets.token_hex(8)
            dead: Lease | None = None
            for _ in range(self.timings.rounds * 8):
                if self.timings.jitter > 0:
                    self._sleep(random.uniform(0, self.timings.jitter))
                lease = Lease.from_record(cache.load_lease())
                if lease is None or lease.done or lease == dead:
                    lease = self._contend(cache, me)
                    if lease is not None and lease.holder == me:
                        try:
                            result = section()
                        except BaseException:
                            cache.clear_lease()
                            raise
                        cache.save_lease(Lease(me, 1, done=True).to_record())
                        return result
                if not cache.available:
                    break
                # Waiters look at a steady pace, faster than a returning holder's jitter: a process that
                # comes back for its next batch must not win the lease again and again (fairness).
                _, dead = self._wait(
                    cache, lambda: None, lease, what=what, steady=min(self.timings.poll, self.timings.jitter / 2)
                )
            log.warning("Could not take the lease of %r; updating %s without it.", cache.key, what)
            return section()

    def _contend(self, cache: LeaseCache, me: str) -> Lease | None:
        """Write our lease (over a dead one too), let competing writes land, and return the lease that won."""
        t = self.timings
        started = self._clock()
        cache.save_lease(Lease(me).to_record())
        took = max(0.0, self._seconds_since(started))
        self._sleep(min(max(t.settle_min, t.settle_factor * took), t.settle_max))
        return Lease.from_record(cache.load_lease())

    def _hold(self, cache: LeaseCache, me: str, fetch: Callable[[], T], store: Callable[[T], object]) -> T:
        """Renew while beating the lease; mark it done (or clear it on failure)."""
        beat = 0
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="trafficstars-renew") as pool:
                future = pool.submit(fetch)
                while True:
                    try:
                        token = future.result(timeout=self.timings.beat)
                        break
                    except FutureTimeout:
                        beat += 1
                        cache.save_lease(Lease(me, beat).to_record())
            store(token)
        except BaseException:
            cache.clear_lease()  # let the waiting processes try now rather than after ttl
            raise
        # Done, not deleted: a process that read the stale token just before the new one was stored then
        # re-reads the token instead of renewing again.
        cache.save_lease(Lease(me, beat + 1, done=True).to_record())
        return token

    def _wait(
        self,
        cache: LeaseCache,
        fresh: Callable[[], T | None],
        lease: Lease | None,
        *,
        what: str = "",
        steady: float | None = None,
    ) -> tuple[T | None, Lease | None]:
        """Poll until a usable token appears; ``(None, dead lease)`` once the lease stops changing for ttl."""
        t = self.timings
        if lease is None:  # vanished: its holder failed. One look, then contend.
            return fresh(), None
        if what:
            log.debug("Another process is updating %s (lease %r); waiting for it.", what, lease.holder)
        else:
            log.info("Another process is renewing the TrafficStars token (lease %r); waiting for it.", lease.holder)
        started = changed = self._clock()
        wait = max(steady if steady is not None else t.poll, 0.001)
        for _ in range(math.ceil(t.max_wait / wait) + 1):  # a bound even if the clock stands still
            if self._seconds_since(started) >= t.max_wait:
                break
            self._sleep(wait)
            token = fresh()
            if token is not None:
                return token, None
            current = Lease.from_record(cache.load_lease())
            if current is None or current.done:
                return fresh(), None
            if current != lease:
                lease, changed = current, self._clock()
            elif self._seconds_since(changed) >= t.ttl:
                log.warning("The TrafficStars lease %r of %r stopped beating; taking it over.", lease.holder, cache.key)
                return None, lease
            wait = max(steady, 0.001) if steady is not None else min(wait * 1.5, max(t.poll_max, wait))
        return None, lease


def _fetch_and_store(fetch: Callable[[], T], store: Callable[[T], object]) -> T:
    token = fetch()
    store(token)
    return token
