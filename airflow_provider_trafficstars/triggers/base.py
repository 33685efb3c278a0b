"""The one polling loop of every TrafficStars trigger: it runs the hook's own code in a worker thread.

A trigger never exchanges the API key or calls the API by itself: its :meth:`check` gets a
:class:`~airflow_provider_trafficstars.hooks.trafficstars.TrafficStarsHook` and uses it exactly as a poke
of the matching sensor does (the sensor calls the very same :meth:`check`), so a token is obtained by the
one token policy of the client (memory, shared Variable, lease, exchange), and errors are mapped, redacted
and classified by the same code. The trigger differs from the sensor only in how it waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async
from pendulum import DateTime

from airflow_provider_trafficstars.exceptions import (
    TrafficStarsAuthError,
    TrafficStarsBudgetError,
    TrafficStarsConfigError,
    TrafficStarsError,
    is_transient,
)
from airflow_provider_trafficstars.token import utcnow
from airflow_provider_trafficstars.waits import next_poll_delay

if TYPE_CHECKING:
    from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook


def parse_deadline(value: str | float | DateTime | None) -> DateTime | None:
    """Return a deadline given as an ISO 8601 string, epoch seconds or a datetime, in UTC (None: no deadline)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TrafficStarsConfigError("timeout_at must be an ISO 8601 time or epoch seconds, not a boolean.")
    if isinstance(value, (int, float)):
        return pendulum.from_timestamp(float(value), tz="UTC")
    if isinstance(value, DateTime):
        return value.in_timezone("UTC")
    try:
        parsed = pendulum.parse(str(value))
    except Exception:  # pendulum raises several types for garbage
        parsed = None
    if not isinstance(parsed, DateTime):
        raise TrafficStarsConfigError(f"timeout_at must be an ISO 8601 time or epoch seconds, got {value!r}.")
    return parsed.in_timezone("UTC")


def error_event(exc: TrafficStarsError) -> dict[str, Any]:
    """Return the event of a failure that will not pass by itself (no secret: our messages hold none)."""
    kind = (
        "auth"
        if isinstance(exc, TrafficStarsAuthError)
        else "config"
        if isinstance(exc, TrafficStarsConfigError)
        else "api"
    )
    return {
        "status": "error",
        "kind": kind,
        "reason": getattr(exc, "reason", None) or type(exc).__name__,
        "status_code": getattr(exc, "status_code", None),
        "method": getattr(exc, "method", None),
        "endpoint": getattr(exc, "endpoint", None),
        "message": str(exc),
    }


class TrafficStarsPollingTrigger(BaseTrigger):
    """Poll :meth:`check` in a worker thread until it returns a result, fails for good, or time runs out.

    Events: ``{"status": "success", "result": ...}``; ``{"status": "error", "kind", "reason", "status_code",
    "message", ...}`` for trouble that will not pass by itself; ``{"status": "timeout", "message"}`` at
    ``timeout_at``. HTTP 429, 5xx and network errors mean "not yet"; the next poll waits what
    :func:`~airflow_provider_trafficstars.waits.next_poll_delay` says (the sensors' rule too).

    :param conn_id: the Airflow connection id (conn type ``trafficstars``).
    :param poke_interval: seconds between polls.
    :param timeout_at: when to give up (ISO 8601 or epoch seconds); None waits forever.
    """

    #: What a poll waits for, for log lines ("TrafficStars accepted the credentials", ...).
    waiting_for = "the condition"

    def __init__(
        self,
        conn_id: str = "trafficstars_default",
        poke_interval: float = 60.0,
        timeout_at: str | float | DateTime | None = None,
    ) -> None:
        super().__init__()
        from airflow_provider_trafficstars.session_check import check_seconds

        self.conn_id = conn_id
        self.poke_interval = check_seconds(poke_interval, "poke_interval")
        self.timeout_at = parse_deadline(timeout_at)

    # -- what subclasses give ---------------------------------------------------------------------
    def check(self, hook: TrafficStarsHook) -> Any:
        """Return the JSON-safe result once the condition holds, else None (runs in a worker thread).

        :raises TrafficStarsError: transient trouble (retried) or lasting trouble (an error event).
        """
        raise NotImplementedError

    def check_kwargs(self) -> dict[str, Any]:
        """Return the subclass's own serialized arguments."""
        return {}

    # -- the loop ---------------------------------------------------------------------------------
    def serialize(self) -> tuple[str, dict[str, Any]]:
        path = f"{type(self).__module__}.{type(self).__qualname__}"
        return (
            path,
            {
                "conn_id": self.conn_id,
                "poke_interval": self.poke_interval,
                "timeout_at": self.timeout_at.isoformat() if self.timeout_at is not None else None,
                **self.check_kwargs(),
            },
        )

    def make_hook(self) -> TrafficStarsHook:
        """Return the hook of the polls: no retries inside a poll, the next poll is the retry.

        It never waits for the account's call budget in its worker thread (the triggerer's threads are shared
        by every trigger): a poll without budget raises a transient error carrying the wait, and the loop
        awaits it (:func:`~airflow_provider_trafficstars.waits.next_poll_delay` honours its ``retry_after``).
        """
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        return TrafficStarsHook(self.conn_id, max_retries=0, wait_for_budget=False)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self.make_hook()
        # Not thread-sensitive: several triggers poll at once; the client's process lock and the lease
        # make them share one renewal, exactly as tasks in worker threads do.
        check = sync_to_async(self.check, thread_sensitive=False)
        last_problem = "no answer yet"
        polls = troubled = 0
        try:
            while True:
                polls += 1
                problem: BaseException | None = None
                try:
                    result = await check(hook)
                except AirflowNotFoundException:
                    missing = TrafficStarsConfigError(f"The connection {self.conn_id!r} is not defined.")
                    yield TriggerEvent(error_event(missing))
                    return
                except TrafficStarsBudgetError as exc:
                    # Not trouble: the account's budget is in use by others. Waited below, asynchronously.
                    problem, last_problem = exc, f"waiting {exc.wait:.1f} s for the account's call budget"
                    self.log.info("TrafficStars: %s (poll %d).", last_problem, polls)
                except TrafficStarsError as exc:
                    if not is_transient(exc):
                        yield TriggerEvent(error_event(exc))
                        return
                    problem, last_problem, troubled = exc, str(exc), troubled + 1
                    self.log.warning("TrafficStars is not ready yet (poll %d): %s", polls, last_problem)
                else:
                    if result is not None:
                        self.log.info("TrafficStars: %s holds (poll %d).", self.waiting_for, polls)
                        yield TriggerEvent({"status": "success", "result": result})
                        return
                    last_problem, troubled = f"{self.waiting_for} does not hold yet", 0
                now = utcnow()
                if self.timeout_at is not None and now >= self.timeout_at:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "message": f"TrafficStars: {self.waiting_for} did not hold for {self.conn_id!r} by "
                            f"{self.timeout_at.isoformat()} ({polls} polls; last: {last_problem})",
                        }
                    )
                    return
                time_left = None if self.timeout_at is None else (self.timeout_at - now).total_seconds()
                await asyncio.sleep(next_poll_delay(self.poke_interval, problem, attempt=troubled, time_left=time_left))
        finally:
            hook.close()
