"""The fakes every test module shares: API keys, Variable names, Variable stores, clocks and recorded waits.

Import it after ``tests/conftest.py`` has set up the throwaway ``AIRFLOW_HOME`` (pytest loads the conftest
first): the default Variable name comes from the hook module, which imports Airflow.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
from collections.abc import Callable, Iterable

import pendulum

from airflow_provider_trafficstars.hooks.trafficstars import default_token_variable
from airflow_provider_trafficstars.testing.emulator_state import new_api_key

__all__ = [
    "CONN_ID",
    "T0",
    "TOKEN_VAR",
    "Clock",
    "CountingStore",
    "DictStore",
    "FakeTime",
    "Waits",
    "World",
    "new_api_key",
    "obtained_earlier",
]

#: The connection id the hook, the operators and the sensor use by default.
CONN_ID = "trafficstars_default"
#: The Variable that caches the token of ``CONN_ID`` (the package decides the name: not copied here).
TOKEN_VAR = default_token_variable(CONN_ID)
#: The start of every fake clock: a fixed, timezone-aware instant.
T0 = pendulum.datetime(2026, 11, 27, 10, tz="UTC")


class Waits(list[float]):
    """An injected ``sleep`` that records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    """An injected clock: tests move time (``clock.now = ...`` or :meth:`advance`) instead of sleeping.

    :param start: the first instant (default :data:`T0`).
    """

    def __init__(self, start: pendulum.DateTime | None = None) -> None:
        self.now = start or T0
        self.start = self.now

    def __call__(self) -> pendulum.DateTime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return (self.now - self.start).total_seconds()


class World(Clock):
    """A clock that moves only when someone sleeps, running the events scheduled on it on the way.

    Pass ``clock=world, sleep=world.sleep``; "other processes" are actions scheduled with :meth:`at`.
    """

    def __init__(self, start: pendulum.DateTime | None = None) -> None:
        super().__init__(start)
        self.sleeps: list[float] = []
        self._events: list[tuple[pendulum.DateTime, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        while self._events and self._events[0][0] <= self.now:
            heapq.heappop(self._events)[2]()

    def at(self, seconds: float, action: Callable[[], None]) -> None:
        """Run ``action`` once the clock reaches ``seconds`` after the start."""
        when = self.start.add(microseconds=int(seconds * 1_000_000))
        heapq.heappush(self._events, (when, next(self._order), action))


class FakeTime:
    """Seconds (``time.time()``-like) that move only when someone sleeps; thread-safe.

    Pass ``clock=fake.clock, sleep=fake.sleep`` (the rate limiter, the emulator's ``clock``).

    :param start: the first instant, in seconds.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    def utc(self) -> pendulum.DateTime:
        """The same instant as a UTC datetime (the client's clock)."""
        return pendulum.from_timestamp(self.clock(), tz="UTC")


class DictStore:
    """A Variable store in a dict (what Airflow's stores do, minus the DB), with a log of every operation.

    :param broken: operations (``"get"``, ``"set"``, ``"delete"``) or keys that fail with ``error``.
    :param error: what a broken operation raises (default: the store is unreachable).
    """

    def __init__(self, *, broken: Iterable[str] = (), error: Exception | None = None) -> None:
        self.values: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []
        self.broken: set[str] = set(broken)
        self.error = error or ConnectionError("store unreachable")

    def _op(self, op: str, key: str) -> None:
        self.log.append((op, key))
        if op in self.broken or key in self.broken:
            raise self.error

    def get(self, key: str) -> str | None:
        self._op("get", key)
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self._op("set", key)
        self.values[key] = value

    def delete(self, key: str) -> None:
        self._op("delete", key)
        self.values.pop(key, None)

    def count(self, op: str, key: str) -> int:
        """How many times ``op`` was called on ``key``."""
        return self.log.count((op, key))


class CountingStore(DictStore):
    """A Variable store that logs every operation (``count``, ``log``) and passes it to a real one.

    :param inner: the store that holds the values (e.g. Airflow's, from ``_compat.get_variable_store()``).
    """

    def __init__(self, inner: object) -> None:
        super().__init__()
        self.inner = inner

    def get(self, key: str) -> str | None:
        self._op("get", key)
        return self.inner.get(key)  # type: ignore[attr-defined,no-any-return]

    def set(self, key: str, value: str) -> None:
        self._op("set", key)
        self.inner.set(key, value)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        self._op("delete", key)
        self.inner.delete(key)  # type: ignore[attr-defined]


def obtained_earlier(record: str, seconds: float = 3600.0) -> str:
    """Return a token record whose token was obtained ``seconds`` earlier (same token, same expiry).

    A 401 on a token obtained less than a minute ago is the API refusing the call, and the client does not
    renew it: a test of a token revoked (or expired) later ages the shared record first, as time would.
    """
    data = json.loads(record)
    data["obtained_at"] = pendulum.parse(data["obtained_at"]).subtract(seconds=seconds).isoformat()
    return json.dumps(data)
