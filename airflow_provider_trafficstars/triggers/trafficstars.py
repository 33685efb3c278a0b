"""TrafficStarsSessionTrigger: the async wait of the deferrable TrafficStarsSessionSensor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async
from pendulum import DateTime

from airflow_provider_trafficstars import _compat
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsAuthError,
    TrafficStarsConfigError,
    TrafficStarsError,
)
from airflow_provider_trafficstars.session import check_min_ttl, is_transient, require_ttl, session_summary
from airflow_provider_trafficstars.token import AccessToken, utcnow
from airflow_provider_trafficstars.token_cache import TokenCache, VariableTokenCache

if TYPE_CHECKING:
    from airflow_provider_trafficstars.client import ClientConfig

TRIGGER_PATH = "airflow_provider_trafficstars.triggers.trafficstars.TrafficStarsSessionTrigger"
#: Shortest wait between two polls, whatever poke_interval says: a trigger must never spin.
MIN_POLL_INTERVAL = 0.1


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


class TrafficStarsSessionTrigger(BaseTrigger):
    """Poll TrafficStars until it accepts the connection's credentials with ``min_ttl`` seconds of session left.

    Its serialized arguments (stored in the metadata DB) hold no secret: the trigger looks the connection
    up itself, reads the shared token record (or exchanges the API key with the same form body as the
    hook, and stores the new token for the tasks downstream), and masks every token it sees.

    Events: ``{"status": "success", "expires_in", "expires_at", "token_type"}``;
    ``{"status": "error", "kind": "auth" | "config" | "api", "reason", "status_code", "message"}`` for trouble
    that will not pass by itself (a rejected API key); ``{"status": "timeout", "message"}`` at ``timeout_at``.
    HTTP 429, 5xx and network errors mean "not yet": it polls again after ``poke_interval`` seconds.

    :param conn_id: the Airflow connection id (conn type ``trafficstars``).
    :param min_ttl: seconds the session must stay valid for; the token is renewed if it has less.
    :param poke_interval: seconds between polls.
    :param timeout_at: when to give up (ISO 8601 or epoch seconds); None waits forever.
    """

    def __init__(
        self,
        conn_id: str = "trafficstars_default",
        min_ttl: float = 0.0,
        poke_interval: float = 60.0,
        timeout_at: str | float | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.min_ttl = check_min_ttl(min_ttl)
        self.poke_interval = check_min_ttl(poke_interval, "poke_interval")
        self.timeout_at = parse_deadline(timeout_at)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            TRIGGER_PATH,
            {
                "conn_id": self.conn_id,
                "min_ttl": self.min_ttl,
                "poke_interval": self.poke_interval,
                "timeout_at": self.timeout_at.isoformat() if self.timeout_at is not None else None,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import httpx

        from airflow_provider_trafficstars.hooks.trafficstars import connection_config

        try:
            conn = await _compat.aget_connection(self.conn_id)
            config, variable = connection_config(conn, self.conn_id)
        except _compat.AirflowNotFoundException:
            missing = TrafficStarsConfigError(f"The connection {self.conn_id!r} is not defined.")
            yield TriggerEvent(_error_event(missing))
            return
        except TrafficStarsError as exc:
            yield TriggerEvent(_error_event(exc))
            return
        await _compat.amask_secret(config.api_key)
        poller = _SessionPoller(config, VariableTokenCache(variable, _compat.get_variable_store()), self.min_ttl)
        last_problem = "no answer yet"
        polls = 0
        async with httpx.AsyncClient(timeout=config.timeout) as http:
            while True:
                polls += 1
                try:
                    summary = await poller.poll(http)
                except TrafficStarsError as exc:
                    if not is_transient(exc):
                        yield TriggerEvent(_error_event(exc))
                        return
                    last_problem = str(exc)
                    self.log.warning("TrafficStars is not ready yet (poll %d): %s", polls, last_problem)
                else:
                    self.log.info("TrafficStars accepted the credentials (session valid %s s).", summary["expires_in"])
                    yield TriggerEvent({"status": "success", **summary})
                    return
                now = utcnow()
                if self.timeout_at is not None and now >= self.timeout_at:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "message": f"TrafficStars did not accept the credentials of {self.conn_id!r} by "
                            f"{self.timeout_at.isoformat()} ({polls} polls; last problem: {last_problem})",
                        }
                    )
                    return
                delay = max(self.poke_interval, MIN_POLL_INTERVAL)
                if self.timeout_at is not None:
                    delay = min(delay, (self.timeout_at - now).total_seconds())
                await asyncio.sleep(max(delay, 0.0))


def _error_event(exc: TrafficStarsError) -> dict[str, Any]:
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
        "message": str(exc),  # our exceptions never hold a secret
    }


class _SessionPoller:
    """One poll: a usable token (memory, shared record, or a new exchange), then the session info."""

    def __init__(self, config: ClientConfig, cache: TokenCache, min_ttl: float) -> None:
        self.config = config
        self.cache = cache
        self.min_ttl = min_ttl
        self._token: AccessToken | None = None

    def _usable(self, token: AccessToken | None, now: DateTime, avoid: str | None) -> bool:
        return (
            token is not None
            and token.access_token != avoid
            and not token.needs_refresh(now, self.config.refresh_margin)
            and token.seconds_left(now) >= self.min_ttl
        )

    async def _token_for_poll(self, http: Any, *, avoid: str | None = None) -> tuple[AccessToken, bool]:
        """Return ``(token, renewed)``: the one in memory, the shared record's, or a new one (then stored)."""
        now = utcnow()
        if self._usable(self._token, now, avoid):
            return self._token, False  # type: ignore[return-value]
        raw = await sync_to_async(self.cache.load)()
        cached = AccessToken.from_record(raw, expected_fingerprint=self.config.fingerprint)
        if cached is not None:
            await _compat.amask_secret(cached.access_token)
            if self._usable(cached, now, avoid):
                self._token = cached
                return cached, False
        from airflow_provider_trafficstars._async_http import exchange_token

        token = await exchange_token(http, self.config, on_secret=_compat.amask_secret)
        require_ttl(token, self.min_ttl)
        self._token = token
        await sync_to_async(self.cache.save)(token.to_record())
        return token, True

    async def _info(self, http: Any, token: AccessToken) -> tuple[dict[str, Any], AccessToken, bool]:
        """Return ``(info, token, renewed)``; after a 401 take another token once and ask again."""
        from airflow_provider_trafficstars._async_http import TokenRejected, session_info

        try:
            return await session_info(http, self.config, token, on_secret=_compat.amask_secret), token, False
        except TokenRejected:
            pass
        # Revoked or expired early: take another token once (another task may have stored one).
        self._token = None
        token, renewed = await self._token_for_poll(http, avoid=token.access_token)
        try:
            return await session_info(http, self.config, token, on_secret=_compat.amask_secret), token, renewed
        except TokenRejected:
            raise TrafficStarsAuthError(
                "TrafficStars answered 401 to POST /v1/auth/info even with a renewed token.",
                reason="unauthorized",
                status_code=401,
            ) from None

    async def poll(self, http: Any) -> dict[str, Any]:
        """Return the secret-free session summary once TrafficStars accepts a token for ``min_ttl`` s.

        :raises TrafficStarsError: transient trouble (see :func:`is_transient`) or a lasting one.
        """
        token, renewed = await self._token_for_poll(http)
        info, token, renewed_now = await self._info(http, token)
        summary = session_summary(info)
        if summary["expires_in"] < self.min_ttl and not (renewed or renewed_now):
            # The server counts less time left than our record says: renew once and ask again.
            self._token = None
            token, _ = await self._token_for_poll(http, avoid=token.access_token)
            info, token, _ = await self._info(http, token)
            summary = session_summary(info)
        if summary["expires_in"] < self.min_ttl:
            raise TrafficStarsConfigError(
                f"min_ttl={self.min_ttl:g} s can never be met: TrafficStars grants a new session only "
                f"{summary['expires_in']} s. Use a min_ttl below the token lifetime."
            )
        return summary
