"""How long to wait: the one rule for a call's retries and for the next poll of a sensor or trigger. No Airflow.

Every wait of the provider after trouble is decided here, by :meth:`Backoff.wait` (the transport's retries,
every sensor poke in poke and reschedule mode, every trigger poll):

- the server said ``Retry-After`` (seconds or an HTTP date, on a 429 or a 503): exactly that, at most
  :data:`RETRY_AFTER_MAX`. A call never retries earlier than the server asked; when the wait does not fit its
  ``backoff_budget``, the call fails at once with ``retry_after`` on the error;
- a 429 without ``Retry-After``: the server's window is full and nobody said for how long, so the retries
  of one call are spread over the whole window: exponential waits whose first step is chosen so that the
  ``max_retries`` waits together reach past :attr:`Backoff.window` (the server's 60 s plus a margin).
  With the defaults: 2, 4, 8, 16, 32 s (each plus up to ``base`` of jitter), the last retry more than 62 s
  after the first 429. The old 1, 2, 4, 8, 16 s put all five retries inside one window: under a full window
  the call failed although its budget had time left;
- anything else worth a retry (5xx, no answer): exponential backoff with jitter, ``base * 2**(n-1)`` plus up
  to ``base``, at most ``cap``.

A poll (:func:`next_poll_delay`) waits ``poke_interval``, or longer when the rule above asks for more after a
429 or a ``Retry-After``, never below :data:`MIN_POLL_INTERVAL` and never past its deadline. A poll that was not
sent because the account's call budget had no room (its error carries ``wait``) runs again after that wait.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_trafficstars.client.cache._grants import DEFAULT_MARGIN, PERIOD

#: Longest wait honoured from a ``Retry-After`` (a garbage or far-future value must not park a task for days).
#: One cap for calls and polls alike.
RETRY_AFTER_MAX = 300.0
#: Shortest wait between two polls, whatever poke_interval says: a sensor or trigger must never spin.
MIN_POLL_INTERVAL = 0.1
#: The server's rate-limit window (about 100 calls per 60 s) plus the rate limiter's margin (2 s): the server
#: counts arrival times, in whole seconds perhaps, and a retry sent 60.4 s later can still fall inside the window.
RATE_WINDOW = PERIOD + DEFAULT_MARGIN


@dataclass(frozen=True)
class Backoff:
    """How long to wait before the next attempt after a failed one (see the module docstring).

    :param base: the first exponential step in seconds, and the most jitter added to a step.
    :param cap: the longest single step after a 5xx or a transport error.
    :param retries: retries a call may make; a 429 without Retry-After spreads them over ``window``.
    :param window: seconds after which a full rate-limit window has surely rolled over.
    :param jitter: returns a random float in ``[0, upper)`` (tests inject a fixed one).
    """

    base: float = 1.0
    cap: float = 30.0
    retries: int = 5
    window: float = RATE_WINDOW
    jitter: Callable[[float], float] = field(default=lambda upper: random.uniform(0, upper), compare=False)

    def wait(self, attempt: int, *, status: int | None, retry_after: float | None) -> float:
        """Return the seconds to wait after failed attempt ``attempt`` (1-based) before the next.

        :param attempt: how many attempts (or polls in a row) have failed so far.
        :param status: the HTTP status of the failure, None when no answer arrived.
        :param retry_after: what the server's ``Retry-After`` said, in seconds, if it said.
        """
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), RETRY_AFTER_MAX)
        steps = 2.0 ** (max(attempt, 1) - 1)
        if status == 429:
            return min(self.rate_limited_step() * steps, self.window) + self.jitter(self.base)
        return min(self.base * steps + self.jitter(self.base), self.cap)

    def rate_limited_step(self) -> float:
        """Return the first wait after a 429 without Retry-After: the retries' waits together reach ``window``."""
        if self.retries < 1:
            return max(self.base, self.window)
        return max(self.base, self.window / (2.0**self.retries - 1))


#: The rule of polls: a poll is one attempt, its retry is the next poll (the defaults of ``ClientConfig``).
POLL_BACKOFF = Backoff()


def next_poll_delay(
    poke_interval: float,
    error: BaseException | None,
    *,
    attempt: int = 1,
    time_left: float | None = None,
    backoff: Backoff = POLL_BACKOFF,
) -> float:
    """Return the seconds to wait before the next poll: ``poke_interval``, or longer when the API said so.

    The one rule of sensors (poke and reschedule mode) and triggers: never below :data:`MIN_POLL_INTERVAL`;
    after a 429 or an answer with ``Retry-After``, never below :meth:`Backoff.wait`; never past the deadline.

    :param poke_interval: the sensor's or trigger's interval.
    :param error: the trouble of the last poll (None: it answered, the condition just did not hold).
    :param attempt: how many polls in a row have met trouble.
    :param time_left: seconds until the deadline (None: no deadline).
    :param backoff: the rule's settings.
    """
    budget_wait = getattr(error, "wait", None)
    if isinstance(budget_wait, (int, float)) and not isinstance(budget_wait, bool):
        # The poll was not sent (the account's call budget had no room): poll again as soon as it has.
        delay = min(max(float(budget_wait), MIN_POLL_INTERVAL), RETRY_AFTER_MAX)
        return delay if time_left is None else min(delay, max(float(time_left), 0.0))
    delay = max(float(poke_interval), MIN_POLL_INTERVAL)
    status = getattr(error, "status_code", None)
    retry_after = getattr(error, "retry_after", None)
    if not isinstance(retry_after, (int, float)) or isinstance(retry_after, bool):
        retry_after = None
    if error is not None and (retry_after is not None or status == 429):
        delay = max(delay, backoff.wait(attempt, status=status, retry_after=retry_after))
    if time_left is not None:
        delay = min(delay, max(float(time_left), 0.0))
    return delay
