"""One call budget per account, shared by every process that calls it. No Airflow imports.

TrafficStars allows about ``limit`` calls per ``period`` (100 per 60 s) per account, whoever sends them.
Every process of an account (tasks on any worker, sensors, triggers; token requests and retries too) takes
its calls from one shared record, but touches it per *batch*: under the single-flight lease of
:mod:`~.client.cache._lease` (Variables have no compare-and-set) it reserves a few call slots,
then spends them locally, and only comes back when they are gone.

The record (a JSON string in a store shared by every process: an Airflow Variable in a deployment) holds the
grants of the last window, each ``[holder, latest, calls]``: the holder may send ``calls`` calls, each no
later than ``latest``. A grant counts against the budget until ``latest + period + margin``. A new grant is
made only while the grants that still count leave room for it, which keeps ANY window of ``period`` seconds
(the server's, sliding or fixed) at or under ``limit``: of the calls that land in one window, the grant
made last saw every other one counted (each had a call at or after the window's start). A grant must be
spent within ``hold`` seconds, so a process killed while it holds budget strands it for at most
``hold + period + margin``; when the holder comes back for more it rewrites its previous grant to what it
really spent (the time of its last call and their number), giving the rest back at once.

Fairness: every process that asks is listed in ``claims`` with when it first and last asked and how many calls
it got; those that asked within two ``hold``s are active. A grant is at most ``limit / (SHARES * active)`` calls (a
batch); none gets more while it is a batch ahead of the slowest active one (a newcomer counts as at most half a
window behind); within a window each active claimant has an equal share, less its lead over the claimants'
mean (what nobody behind it wants stays free for anyone); and a claimant's first window is a ramp (a first grant
of ``limit / SHARES**2``, then the account's rate), so one that reaches the record seconds before the others of
a barrier cannot take their window. N tasks thus finish within seconds of each other; one task alone sends its
first window at the account's rate (a task needing under a window's calls takes up to a window longer), and a
limit far out of reach costs nothing (the ramp starts at a sixteenth of the limit).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from airflow_provider_trafficstars.client.cache._grants import BudgetRules, Record, Spent, release, reserve
from airflow_provider_trafficstars.client.errors import TrafficStarsBudgetError

log = logging.getLogger(__name__)

#: The Variable that holds an account's budget: this prefix and the first 16 hex digits of its fingerprint.
VARIABLE_PREFIX = "trafficstars_call_budget_"


class BudgetStore(Protocol):
    """Where the record lives: ``load``/``save`` of one JSON string (a token cache's interface).

    A store that also keeps a lease (:class:`~.client.cache._lease.LeaseCache`, e.g. the Variable
    store) gets the cross-process lease around every read-modify-write; any other store is process-local.
    """

    key: str

    def load(self) -> str | None: ...

    def save(self, record: str) -> None: ...


class BudgetWait(Exception):
    """A call needs to wait ``seconds`` for the account's budget, longer than its caller allows.

    Raised by :meth:`AccountBudget.acquire`; the client turns it into a typed, transient
    :class:`~airflow_provider_trafficstars.exceptions.TrafficStarsBudgetError` carrying the wait.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"wait {seconds:.1f} s for the call budget")
        self.seconds = seconds


Exclusive = Callable[[Callable[[], Any]], Any]


class AccountBudget:
    """This process's view of one account's shared budget: a local batch, refilled from the shared record.

    Thread-safe; one per client (each is a claimant of its own: the record keeps them fair).

    :param store: the shared record's store.
    :param rules: the account's limit.
    :param exclusive: runs a function while holding the store's lease (``SingleFlight.exclusive``).
    :param clock: wall-clock seconds (shared between machines; injected in tests).
    :param sleep: the wait for budget (injected in tests).
    """

    def __init__(
        self,
        store: BudgetStore,
        rules: BudgetRules,
        *,
        exclusive: Exclusive | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.rules = rules
        self.me = secrets.token_hex(6)
        self._exclusive: Exclusive = exclusive or (lambda section: section())
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._left = 0
        self._latest = 0.0
        self._spent: Spent | None = None
        self.visits = 0  # store round-trips (for benchmarks)
        self.waited = 0.0  # seconds spent waiting for budget

    def __repr__(self) -> str:
        return f"AccountBudget({self.rules.limit} calls per {self.rules.period:g} s, store {self.store.key!r})"

    def _visit(self) -> tuple[int, float]:
        """Settle the last grant and ask for a new one, under the lease (one store round-trip)."""

        def section() -> tuple[int, float]:
            record = Record.parse(self.store.load())
            now = self._clock()
            granted, wait = reserve(record, self.rules, self.me, now, self._spent)
            self.store.save(record.to_json())
            if granted:
                self._left, self._latest = granted, now + self.rules.hold_for
                self._spent = Spent(self._latest, 0, now)
            else:
                self._left, self._spent = 0, None
            return granted, wait

        self.visits += 1
        result: tuple[int, float] = self._exclusive(section)
        return result

    def try_acquire(self) -> float:
        """Take one call slot if one can be had now; return 0.0, else the seconds to wait (nothing taken)."""
        with self._lock:
            now = self._clock()
            if self._left <= 0 or now > self._latest:
                granted, wait = self._visit()
                if not granted:
                    return wait
                now = self._clock()
            self._left -= 1
            assert self._spent is not None
            self._spent = Spent(self._spent.latest, self._spent.calls + 1, now)
            return 0.0

    def acquire(self, max_wait: float | None = None) -> float:
        """Take one call slot, waiting for it up to ``max_wait`` seconds (None: as long as it takes).

        Logs once per wait, with its expected length. Returns the seconds waited.

        :raises BudgetWait: when the next step of the wait (at most a hold) would end past ``max_wait`` (0: never
            wait), with the expected wait; nothing is taken.
        """
        waited = 0.0
        logged = False
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                if logged:
                    log.info("Got TrafficStars call budget after %.1f s.", waited)
                return waited
            step = min(wait, self.rules.hold_for)
            # The estimate counts grants not yet settled as spent until their hold ends: it is an upper
            # bound. So a call gives up only when its next step would really pass its bound.
            if max_wait is not None and waited + step > max_wait:
                raise BudgetWait(wait)
            if not logged:
                logged = True
                log.info(
                    "The TrafficStars account's call budget (%d calls per %g s, all tasks together) is used up; "
                    "waiting about %.1f s for it.",
                    self.rules.limit,
                    self.rules.period,
                    wait,
                )
            self._sleep(step)
            waited += step
            with self._lock:
                self.waited += step

    def take(self, method: str, path: str, *, max_wait: float) -> None:
        """Take one call slot for ``method path``, waiting at most ``max_wait`` s (the call's bound).

        :raises TrafficStarsBudgetError: when the budget has no room within ``max_wait`` (transient; it
            carries the wait).
        """
        try:
            self.acquire(max_wait=max_wait)
        except BudgetWait as wait:
            rules = self.rules
            raise TrafficStarsBudgetError(
                f"{method} {path} was not sent: the TrafficStars account's call budget ({rules.limit} calls per "
                f"{rules.period:g} s, all tasks together) has room again in about {wait.seconds:.1f} s, past what "
                f"this call may wait ({max_wait:.1f} s left of its backoff_budget). It passes by itself: retry "
                "later (a sensor or trigger polls again after the wait), raise the connection's backoff_budget, "
                "or run fewer tasks of this account at once.",
                wait=wait.seconds,
                method=method,
                endpoint=path,
            ) from None

    def close(self) -> None:
        """Give back the unspent part of the current grant (other processes may use it at once)."""
        with self._lock:
            if self._spent is None:
                return
            spent = self._spent

            def section() -> None:
                record = Record.parse(self.store.load())
                release(record, self.me, spent)
                self.store.save(record.to_json())

            self._exclusive(section)
            self._left, self._spent = 0, None


def budget_key(fingerprint: str) -> str:
    """Return the store key of an account's budget (the fingerprint's prefix: no secret, one per account)."""
    return VARIABLE_PREFIX + fingerprint[:16]
