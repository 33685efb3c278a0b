"""The one polling loop of every TrafficStars trigger: it runs the hook's own code in a worker thread.

A trigger never exchanges the API key or calls the API by itself: it runs its
:class:`~airflow_provider_trafficstars.client._checks.Check` on a
:class:`~airflow_provider_trafficstars.hooks.trafficstars.TrafficStarsHook` exactly as a poke of the
matching sensor does (the same check, the same :func:`~.client._checks.classify`), so a token is obtained
by the one token policy of the client (memory, shared Variable, lease, exchange). The trigger differs from
the sensor only in how it waits. Triggers never import sensors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pendulum
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async
from pendulum import DateTime

from airflow_provider_trafficstars.client._checks import Check, check_seconds, classify, to_event
from airflow_provider_trafficstars.client.auth._token import utcnow
from airflow_provider_trafficstars.client.http._waits import next_poll_delay
from airflow_provider_trafficstars.exceptions import TrafficStarsBudgetError, TrafficStarsConfigError, TrafficStarsError


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


class TrafficStarsPollingTrigger(BaseTrigger):
    """Poll :attr:`check` in a worker thread until it returns a result, fails for good, or time runs out.

    Events: ``{"status": "success", "result": ...}``; ``{"status": "error", "error": {"type", "message",
    "attributes"}}`` (:func:`~.client._checks.to_event`) for trouble that will not pass by itself;
    ``{"status": "timeout", "message"}`` at ``timeout_at``. HTTP 429, 5xx and network errors mean "not yet";
    the next poll waits what :func:`~.client.http._waits.next_poll_delay` says (the sensors' rule too).

    :param conn_id: the Airflow connection id (conn type ``trafficstars``).
    :param poke_interval: seconds between polls.
    :param timeout_at: when to give up (ISO 8601 or epoch seconds); None waits forever.
    """

    #: The condition (shared with the sensor).
    check: ClassVar[Check]

    def __init__(
        self,
        conn_id: str = "trafficstars_default",
        poke_interval: float = 60.0,
        timeout_at: str | float | DateTime | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.poke_interval = check_seconds(poke_interval, "poke_interval")
        self.timeout_at = parse_deadline(timeout_at)

    def check_kwargs(self) -> dict[str, Any]:
        """Return the subclass's own serialized arguments (those of its check)."""
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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook  # not at the triggerer's start

        hook = TrafficStarsHook.for_polls(self.conn_id, wait_for_budget=False)
        # Not thread-sensitive: several triggers poll at once; the client's process lock and the lease
        # make them share one renewal, exactly as tasks in worker threads do.
        check = sync_to_async(self.check.run, thread_sensitive=False)
        last_problem = "no answer yet"
        polls = troubled = 0
        try:
            while True:
                polls += 1
                problem: BaseException | None = None
                try:
                    result = await check(hook, **self.check_kwargs())
                except AirflowNotFoundException:
                    missing = TrafficStarsConfigError(f"The connection {self.conn_id!r} is not defined.")
                    yield TriggerEvent({"status": "error", "error": to_event(missing)})
                    return
                except TrafficStarsBudgetError as exc:
                    # Not trouble: the account's budget is in use by others. Waited below, asynchronously.
                    problem, last_problem = exc, f"waiting {exc.wait:.1f} s for the account's call budget"
                    self.log.info("TrafficStars: %s (poll %d).", last_problem, polls)
                except TrafficStarsError as exc:
                    if classify(exc) != "not_yet":
                        yield TriggerEvent({"status": "error", "error": to_event(exc)})
                        return
                    problem, last_problem, troubled = exc, str(exc), troubled + 1
                    self.log.warning("TrafficStars is not ready yet (poll %d): %s", polls, last_problem)
                else:
                    if result is not None:
                        self.log.info("TrafficStars: %s holds (poll %d).", self.check.waiting_for, polls)
                        yield TriggerEvent({"status": "success", "result": result})
                        return
                    last_problem, troubled = f"{self.check.waiting_for} does not hold yet", 0
                now = utcnow()
                if self.timeout_at is not None and now >= self.timeout_at:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "message": f"TrafficStars: {self.check.waiting_for} did not hold for {self.conn_id!r} by "
                            f"{self.timeout_at.isoformat()} ({polls} polls; last: {last_problem})",
                        }
                    )
                    return
                time_left = None if self.timeout_at is None else (self.timeout_at - now).total_seconds()
                await asyncio.sleep(next_poll_delay(self.poke_interval, problem, attempt=troubled, time_left=time_left))
        finally:
            hook.close()
