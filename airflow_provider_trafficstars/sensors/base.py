"""The base of every TrafficStars sensor: poke, reschedule and deferrable mode run one check.

A subclass names its trigger class; a poke builds that trigger (no I/O) and calls its ``check`` on the
task's hook, and the deferrable mode hands the same trigger to the triggerer. So the three modes cannot
differ in what they decide, only in how they wait; and how long they wait after trouble is one rule,
:func:`~airflow_provider_trafficstars.waits.next_poll_delay`, in all three.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_trafficstars._compat import AIRFLOW_VERSION
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsAuthError,
    TrafficStarsConfigError,
    is_transient,
)
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.waits import next_poll_delay

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_trafficstars.triggers.base import TrafficStarsPollingTrigger


def _loop_asks_next_poke_interval() -> bool:
    """Return True where BaseSensorOperator's loop takes every wait from ``_get_next_poke_interval``.

    Airflow has no public way to choose when the next poke runs. Its ``execute`` asks the private
    ``_get_next_poke_interval(started_at, run_duration, poke_count)`` how long to sleep (poke mode) and when
    to reschedule (reschedule mode), with that signature on every version this package supports (2.11 and
    3.0-3.3, read in their sources). The override below exists only where that holds; on any other version
    the pokes fall back to Airflow's own interval, and ``tests/integration/test_sensor_waits.py`` proves on
    every leg of the version matrix that the loop follows the override.
    """
    from packaging.version import Version

    method = getattr(BaseSensorOperator, "_get_next_poke_interval", None)
    if method is None or not Version("2.11") <= Version(Version(AIRFLOW_VERSION).base_version) < Version("3.4"):
        return False
    return list(inspect.signature(method).parameters) == ["self", "started_at", "run_duration", "poke_count"]


#: See :func:`_loop_asks_next_poke_interval`.
LOOP_ASKS_NEXT_POKE_INTERVAL = _loop_asks_next_poke_interval()


class TrafficStarsPollingSensor(BaseSensorOperator):
    """Wait until the check of :attr:`trigger_class` holds, in a worker slot or in the triggerer.

    HTTP 429, 5xx and network errors mean "not yet", and the next poke waits what the trigger's next poll
    would (:func:`~airflow_provider_trafficstars.waits.next_poll_delay`: at least the ``Retry-After`` of a 429
    or 503, in poke and reschedule mode alike); a rejected API key or a bad argument fails the task at once,
    without retries (or skips it with ``soft_fail``), as it will not fix itself.

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poke_interval: seconds between pokes.
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id",)
    ui_color = "#f4e1f0"
    trigger_class: ClassVar[type[TrafficStarsPollingTrigger]]

    def __init__(
        self,
        *,
        trafficstars_conn_id: str = TrafficStarsHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: timedelta | float = 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.trafficstars_conn_id = trafficstars_conn_id
        self.deferrable = deferrable
        # The trouble of the last poke and how many pokes in a row met trouble: what the next wait depends on.
        self._poke_trouble: TrafficStarsApiError | None = None
        self._troubled_pokes = 0

    def trigger_kwargs(self) -> dict[str, Any]:
        """Return the subclass's own arguments of its trigger (besides conn_id, poke_interval, timeout_at)."""
        return {}

    def make_trigger(self, timeout_at: str | None = None) -> TrafficStarsPollingTrigger:
        """Return the trigger of this sensor (it also validates the arguments: no I/O)."""
        return self.trigger_class(
            conn_id=self.trafficstars_conn_id,
            poke_interval=self.poke_interval,
            timeout_at=timeout_at,
            **self.trigger_kwargs(),
        )

    @cached_property
    def hook(self) -> TrafficStarsHook:
        """Return the hook of the pokes (built like the trigger's: no retries, the next poke is the retry)."""
        return self.make_trigger().make_hook()

    # -- poke and reschedule mode -----------------------------------------------------------------
    def poke(self, context: Context) -> PokeReturnValue:
        self._poke_trouble = None
        try:
            result = self.make_trigger().check(self.hook)
        except (TrafficStarsAuthError, TrafficStarsConfigError) as exc:
            # soft_fail turns AirflowFailException into a skip (BaseSensorOperator.execute).
            raise AirflowFailException(str(exc)) from exc
        except TrafficStarsApiError as exc:
            if not is_transient(exc):
                raise
            self._poke_trouble, self._troubled_pokes = exc, self._troubled_pokes + 1
            self.log.warning("TrafficStars is not ready yet: %s", exc)
            return PokeReturnValue(False)
        self._troubled_pokes = 0
        if result is None:
            return PokeReturnValue(False)
        self.log.info("TrafficStars: %s holds.", self.trigger_class.waiting_for)
        return PokeReturnValue(True, result)

    if LOOP_ASKS_NEXT_POKE_INTERVAL:

        def _get_next_poke_interval(self, started_at: Any, run_duration: Callable[[], float], poke_count: int) -> float:
            """Return Airflow's interval, or longer when the last poke met a 429 or a Retry-After (one rule)."""
            interval = super()._get_next_poke_interval(started_at, run_duration, poke_count)
            return next_poll_delay(
                interval, self._poke_trouble, attempt=self._troubled_pokes, time_left=self.timeout - run_duration()
            )

    # -- deferrable mode --------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_trafficstars.token import utcnow

        self.defer(
            trigger=self.make_trigger(timeout_at=utcnow().add(seconds=self.timeout).isoformat()),
            method_name="execute_complete",
            # A backstop should the trigger be lost: the trigger itself reports the timeout first.
            timeout=timedelta(seconds=self.timeout + max(60.0, self.poke_interval)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Return the trigger's result, or fail (skip with ``soft_fail``)."""
        status = (event or {}).get("status")
        if event is not None and status == "success" and "result" in event:
            self.log.info("TrafficStars: %s holds.", self.trigger_class.waiting_for)
            return event["result"]
        message = str((event or {}).get("message") or f"the trigger sent an unusable event (status {status!r})")
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        if event is not None and event.get("kind") == "api":
            raise TrafficStarsApiError(
                message,
                status_code=event.get("status_code"),
                method=str(event.get("method") or "GET"),
                endpoint=str(event.get("endpoint") or "?"),
            )
        # A rejected key or an impossible argument will not fix itself: fail without retries.
        raise AirflowFailException(message)
