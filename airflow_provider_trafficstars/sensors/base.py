"""The base of every TrafficStars sensor: poke, reschedule and deferrable mode run one check.

A subclass names its :class:`~.client._checks.Check` and the dotted path of its trigger; a poke runs the
check on the task's hook, and the deferrable mode hands the trigger (which runs the same check) to the
triggerer. So the three modes cannot differ in what they decide, only in how they wait; how a failure is
read is one rule (:func:`~.client._checks.classify`), and how long they wait after trouble another
(:func:`~.client.http._waits.next_poll_delay`), in all three. Sensors never import triggers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_trafficstars.client._checks import Check, classify, from_event
from airflow_provider_trafficstars.client.auth._token import utcnow
from airflow_provider_trafficstars.client.http._waits import next_poll_delay
from airflow_provider_trafficstars.exceptions import TrafficStarsError
from airflow_provider_trafficstars.hooks._airflow import AIRFLOW_VERSION
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseTrigger, Context


def _loop_asks_next_poke_interval() -> bool:
    """Return True where BaseSensorOperator's loop takes every wait from ``_get_next_poke_interval``.

    Airflow has no public way to choose when the next poke runs. Its ``execute`` asks the private
    ``_get_next_poke_interval(started_at, run_duration, poke_count)`` how long to sleep (poke mode) and when
    to reschedule (reschedule mode), with that signature on every version this package supports (2.11 and
    3.0-3.3, read in their sources). The override below exists only where that holds; on any other version
    the pokes fall back to Airflow's own interval, and ``tests/sensors/test_sensor_waits.py`` proves on
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
    """Wait until :attr:`check` holds, in a worker slot or in the triggerer (:attr:`trigger_classpath`).

    HTTP 429, 5xx and network errors mean "not yet", and the next poke waits what the trigger's next poll
    would (:func:`~.client.http._waits.next_poll_delay`: at least the ``Retry-After`` of a 429
    or 503, in poke and reschedule mode alike); a rejected API key or a bad argument fails the task at once,
    without retries (or skips it with ``soft_fail``), as it will not fix itself.

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poke_interval: seconds between pokes.
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id",)
    ui_color = "#f4e1f0"
    #: The condition (shared with the trigger).
    check: ClassVar[Check]
    #: The dotted path of the trigger that runs :attr:`check` in the triggerer.
    trigger_classpath: ClassVar[str]

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
        self._poke_trouble: TrafficStarsError | None = None
        self._troubled_pokes = 0

    def check_kwargs(self) -> dict[str, Any]:
        """Return the subclass's own arguments of its check (and trigger)."""
        return {}

    @cached_property
    def hook(self) -> TrafficStarsHook:
        """Return the hook of the pokes (built as the trigger's: no retries, the next poke is the retry)."""
        return TrafficStarsHook.for_polls(self.trafficstars_conn_id)

    @staticmethod
    def _fail(exc: TrafficStarsError) -> NoReturn:
        """Raise a failure of the check: a lasting one will not fix itself, so no retries (a skip with
        ``soft_fail``: BaseSensorOperator.execute turns AirflowFailException into one)."""
        if classify(exc) == "lasting":
            raise AirflowFailException(str(exc)) from exc
        raise exc

    # -- poke and reschedule mode -----------------------------------------------------------------
    def poke(self, context: Context) -> PokeReturnValue:
        self._poke_trouble = None
        try:
            result = self.check.run(self.hook, **self.check_kwargs())
        except TrafficStarsError as exc:
            if classify(exc) != "not_yet":
                self._fail(exc)
            self._poke_trouble, self._troubled_pokes = exc, self._troubled_pokes + 1
            self.log.warning("TrafficStars is not ready yet: %s", exc)
            return PokeReturnValue(False)
        self._troubled_pokes = 0
        if result is None:
            return PokeReturnValue(False)
        self.log.info("TrafficStars: %s holds.", self.check.waiting_for)
        return PokeReturnValue(True, result)

    if LOOP_ASKS_NEXT_POKE_INTERVAL:

        def _get_next_poke_interval(self, started_at: Any, run_duration: Callable[[], float], poke_count: int) -> float:
            """Return Airflow's interval, or longer when the last poke met a 429 or a Retry-After (one rule)."""
            interval = super()._get_next_poke_interval(started_at, run_duration, poke_count)
            return next_poll_delay(
                interval, self._poke_trouble, attempt=self._troubled_pokes, time_left=self.timeout - run_duration()
            )

    # -- deferrable mode --------------------------------------------------------------------------
    def make_trigger(self, timeout_at: str | None = None) -> BaseTrigger:
        """Return the trigger of this sensor (it validates the arguments: no I/O)."""
        module, _, name = self.trigger_classpath.rpartition(".")
        trigger_class = getattr(import_module(module), name)
        return trigger_class(
            conn_id=self.trafficstars_conn_id,
            poke_interval=self.poke_interval,
            timeout_at=timeout_at,
            **self.check_kwargs(),
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=self.make_trigger(timeout_at=utcnow().add(seconds=self.timeout).isoformat()),
            method_name="execute_complete",
            # A backstop should the trigger be lost: the trigger itself reports the timeout first.
            timeout=timedelta(seconds=self.timeout + max(60.0, self.poke_interval)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Return the trigger's result, or fail as a poke would have (skip with ``soft_fail``)."""
        status = (event or {}).get("status")
        if event is not None and status == "success" and "result" in event:
            self.log.info("TrafficStars: %s holds.", self.check.waiting_for)
            return event["result"]
        if status == "timeout":
            raise AirflowSensorTimeout(str(event.get("message") or "the trigger timed out"))  # type: ignore[union-attr]
        if event is not None and status == "error" and isinstance(event.get("error"), dict):
            self._fail(from_event(event["error"]))
        raise AirflowFailException(f"The trigger sent an unusable event (status {status!r}).")
