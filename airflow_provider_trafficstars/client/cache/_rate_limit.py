"""Keep one process under the account's rate limit: a sliding-window limiter shared per account.

TrafficStars allows about 100 calls per 60 s per account and answers 429 beyond that. Every client of one
account (base URL + API key) in a process takes a slot from the same :class:`RateLimiter` before each
attempt it sends, token requests and retries included, so that one task never earns a 429. Several
processes (workers, tasks running at once) each keep their own count: the README explains how an Airflow
pool keeps them under the account limit together, and a 429 caused by another process is still retried
after its Retry-After.

No Airflow imports; the clock and the sleep are injectable for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

#: The limit's window: the connection extra ``rate_limit`` counts calls per this many seconds.
PERIOD = 60.0
#: Default calls per :data:`PERIOD` (the documented account limit).
DEFAULT_CALLS = 100
#: Seconds added to the window before a slot is reused. The server counts arrival times and we count send
#: times: a call that waits longer in transit (connection set-up, a slow upload, a busy proxy) arrives
#: later than the call a full window after it would. One second covers that jitter for our small GETs;
#: one more covers a server that keeps whole-second timestamps (a 60.4 s gap can count as 60 s). It costs
#: at most 2/62 = 3 % of the throughput at full load, and nothing below it.
DEFAULT_MARGIN = 2.0


class RateLimiter:
    """Allow at most ``calls`` sends in any window of ``period + margin`` seconds (sliding window).

    A caller reserves the next free slot under the lock, then sleeps outside it until the slot's time, so
    concurrent callers queue in order instead of all waking at once.

    :param calls: sends allowed per window (>= 1).
    :param period: the server's window in seconds.
    :param margin: seconds added to the window (see :data:`DEFAULT_MARGIN`).
    :param clock: monotonic seconds (injected in tests).
    :param sleep: how to wait; None: the caller's sleep (see :meth:`acquire`).
    """

    def __init__(
        self,
        calls: int,
        period: float = PERIOD,
        *,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if isinstance(calls, bool) or not isinstance(calls, int) or calls < 1:
            raise ValueError("calls must be a whole number >= 1")
        if not (period > 0 and margin >= 0):
            raise ValueError("period must be > 0 and margin >= 0")
        self.period = float(period)
        self.margin = float(margin)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque(maxlen=calls)  # the last `calls` slot times, ascending
        self.waited = 0.0  # seconds spent waiting in total (for benchmarks and logs)

    @property
    def calls(self) -> int:
        return self._sent.maxlen or 0

    def __repr__(self) -> str:
        return f"RateLimiter({self.calls} calls per {self.period:g} s, margin {self.margin:g} s)"

    def lower_to(self, calls: int) -> None:
        """Lower the limit to ``calls`` if it is higher (two connections of one account: the smaller wins)."""
        with self._lock:
            if 1 <= calls < self.calls:
                self._sent = deque(self._sent, maxlen=calls)

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait before sending (0: send now)."""
        with self._lock:
            now = self._clock()
            at = now
            if len(self._sent) == self._sent.maxlen:
                at = max(now, self._sent[0] + self.period + self.margin)
            self._sent.append(at)
            return at - now

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait for a slot (the client calls this before every attempt it sends).

        :param sleep: used unless the limiter was built with its own (tests give both a fake clock).
        """
        wait = self.reserve()
        if wait > 0:
            log.info("Waiting %.1f s to stay under the TrafficStars rate limit (%s).", wait, self)
            (self._sleep or sleep)(wait)
            with self._lock:
                self.waited += wait


_LIMITERS: dict[str, RateLimiter] = {}
_GUARD = threading.Lock()


def shared_limiter(key: str, calls: int) -> RateLimiter:
    """Return the process's one limiter of an account, creating it on first use.

    :param key: identifies the account without holding a secret (the client's fingerprint of base URL and key).
    :param calls: the connection's limit; when connections of one account disagree, the smaller wins.
    """
    with _GUARD:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = RateLimiter(calls)
            return limiter
    limiter.lower_to(calls)
    return limiter


def install(key: str, limiter: RateLimiter) -> None:
    """Make ``limiter`` the process's limiter of an account (tests: one with an injected clock and sleep)."""
    with _GUARD:
        _LIMITERS[key] = limiter


def reset() -> None:
    """Forget every limiter of this process (between tests)."""
    with _GUARD:
        _LIMITERS.clear()
