"""TrafficStarsSessionSensor: wait until TrafficStars accepts the connection's credentials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_trafficstars._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsAuthError,
    TrafficStarsConfigError,
)
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.session import (
    SUMMARY_KEYS,
    check_min_ttl,
    is_transient,
    require_ttl,
    session_summary,
)

if TYPE_CHECKING:
    from airflow_provider_trafficstars._compat import Context


class TrafficStarsSessionSensor(BaseSensorOperator):
    """Wait until TrafficStars accepts our credentials with at least ``min_ttl`` seconds of session left.

    A poke reads the session info with the shared token, renewing the token first when it has less than
    ``min_ttl`` seconds left. HTTP 429, 5xx and network errors mean "not yet"; a rejected API key fails
    the task at once, without retries (or skips it with ``soft_fail``), as it will not fix itself.

    The XCom is the same secret-free dict as :class:`TrafficStarsSessionInfoOperator` returns:
    ``{"expires_in", "expires_at", "token_type"}``. Works in ``poke``, ``reschedule`` and deferrable mode
    (then :class:`~airflow_provider_trafficstars.triggers.trafficstars.TrafficStarsSessionTrigger` polls
    in the triggerer, bounded by ``timeout``).

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``).
    :param min_ttl: seconds the session must stay valid for.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poke_interval: seconds between pokes.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#f4e1f0"
    #: Retries of one call inside a poke: none, the next poke is the retry (keeps a poke short).
    poke_max_retries = 0

    def __init__(
        self,
        *,
        trafficstars_conn_id: str = TrafficStarsHook.default_conn_name,
        min_ttl: float = 0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: timedelta | float = 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.trafficstars_conn_id = trafficstars_conn_id
        self.min_ttl = check_min_ttl(min_ttl)
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> TrafficStarsHook:
        """Return the hook of this task: its calls are not retried (no I/O until it is used)."""
        return TrafficStarsHook(self.trafficstars_conn_id, max_retries=self.poke_max_retries)

    # -- poke and reschedule mode -----------------------------------------------------------------
    def poke(self, context: Context) -> PokeReturnValue:
        try:
            summary = self._check_session()
        except (TrafficStarsAuthError, TrafficStarsConfigError) as exc:
            # soft_fail turns AirflowFailException into a skip (BaseSensorOperator.execute).
            raise AirflowFailException(str(exc)) from exc
        except TrafficStarsApiError as exc:
            if not is_transient(exc):
                raise
            self.log.warning("TrafficStars is not ready yet: %s", exc)
            return PokeReturnValue(False)
        self.log.info("TrafficStars accepted the credentials (session valid %s s more).", summary["expires_in"])
        return PokeReturnValue(True, summary)

    def _check_session(self) -> dict[str, Any]:
        hook = self.hook
        renewed = False
        if self.min_ttl > 0:
            token = hook.get_token(min_ttl=self.min_ttl)
            require_ttl(token, self.min_ttl)
        summary = session_summary(hook.get_session_info())
        if summary["expires_in"] < self.min_ttl:
            # The server counts less time left than our record says: renew once and ask again.
            hook.get_token(force_refresh=True)
            renewed = True
            summary = session_summary(hook.get_session_info())
        if summary["expires_in"] < self.min_ttl:
            raise TrafficStarsConfigError(
                f"min_ttl={self.min_ttl:g} s can never be met: TrafficStars grants "
                f"{'a new' if renewed else 'this'} session only {summary['expires_in']} s."
            )
        return summary

    # -- deferrable mode --------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_trafficstars.token import utcnow
        from airflow_provider_trafficstars.triggers.trafficstars import TrafficStarsSessionTrigger

        timeout_at = utcnow().add(seconds=self.timeout)
        self.defer(
            trigger=TrafficStarsSessionTrigger(
                conn_id=self.trafficstars_conn_id,
                min_ttl=self.min_ttl,
                poke_interval=self.poke_interval,
                timeout_at=timeout_at.isoformat(),
            ),
            method_name="execute_complete",
            # A backstop should the trigger be lost: the trigger itself reports the timeout first.
            timeout=timedelta(seconds=self.timeout + max(60.0, self.poke_interval)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Turn the trigger's event into the secret-free session dict, or fail (skip with ``soft_fail``)."""
        status = (event or {}).get("status")
        if event is not None and status == "success" and all(key in event for key in SUMMARY_KEYS):
            self.log.info("TrafficStars accepted the credentials (session valid %s s more).", event["expires_in"])
            return {key: event[key] for key in SUMMARY_KEYS}
        message = str((event or {}).get("message") or f"the trigger sent an unusable event (status {status!r})")
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        if event is not None and event.get("kind") == "api":
            raise TrafficStarsApiError(
                message,
                status_code=event.get("status_code"),
                method=str(event.get("method") or "POST"),
                endpoint=str(event.get("endpoint") or "/v1/auth/info"),
            )
        # A rejected key or an impossible min_ttl will not fix itself: fail without retries.
        raise AirflowFailException(message)
