"""THE token policy: the one place a token is obtained. No Airflow imports.

A token in memory if it is usable, else the shared record's, else a renewal under the process lock and the
cross-process lease (:mod:`~.client.cache._lease`), stored for every task. A call answered 401 takes
another token once (one another task stored, else a new one) and is sent once more, unless it was just
obtained and is still the shared one: then the API refuses the call, and a new token cannot help
(:meth:`TokenPolicy._token_after_401`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pendulum import DateTime

from airflow_provider_trafficstars.client._config import ClientConfig
from airflow_provider_trafficstars.client.auth._token import AccessToken
from airflow_provider_trafficstars.client.cache._lease import SingleFlight
from airflow_provider_trafficstars.client.cache._record import TokenCache
from airflow_provider_trafficstars.client.errors import TrafficStarsApiError, TrafficStarsAuthError
from airflow_provider_trafficstars.client.http._answers import error_code, json_body
from airflow_provider_trafficstars.client.http._transport import Transport
from airflow_provider_trafficstars.client.http._urls import TOKEN_PATH

log = logging.getLogger(__name__)


class TokenPolicy:
    """The token policy of :class:`~airflow_provider_trafficstars.client.TrafficStarsClient` (a mixin: the
    client builds the attributes below)."""

    config: ClientConfig
    cache: TokenCache
    _clock: Callable[[], DateTime]
    _on_secret: Callable[[str], None]
    _token: AccessToken | None
    _id_token: str | None
    _lock: threading.Lock | Any
    _single_flight: SingleFlight
    _transport: Transport

    def _usable(self, token: AccessToken | None, min_ttl: float, avoid: str | None = None) -> bool:
        now = self._clock()
        return (
            token is not None
            and token.access_token != avoid
            and not token.needs_refresh(now, self.config.refresh_margin)
            and token.seconds_left(now) >= min_ttl
        )

    def _load_cached(self) -> AccessToken | None:
        token = AccessToken.from_record(self.cache.load(), expected_fingerprint=self.config.fingerprint)
        if token is not None:
            self._on_secret(token.access_token)
        return token

    def token(self, *, force_refresh: bool = False, min_ttl: float = 0.0, avoid: str | None = None) -> AccessToken:
        """Return a token valid for ``min_ttl`` more seconds (outside the refresh margin), other than ``avoid``.

        :param force_refresh: exchange the key now, whatever is cached (no lease: an explicit request).
        :param min_ttl: seconds the token must stay valid for.
        :param avoid: a token the API just rejected (401): never return it again.
        """
        if not force_refresh and self._usable(self._token, min_ttl, avoid):
            return self._token  # type: ignore[return-value]
        with self._lock:
            if force_refresh:
                return self._store(self._fetch())
            if self._usable(self._token, min_ttl, avoid):
                return self._token  # type: ignore[return-value]

            def fresh() -> AccessToken | None:
                cached = self._load_cached()
                if not self._usable(cached, min_ttl, avoid):
                    return None
                self._token = cached
                return cached

            cached = fresh()
            if cached is not None:
                return cached
            if not self.config.single_flight:
                return self._store(self._fetch())
            return self._single_flight.run(fresh, self._fetch, self._store)

    def _fetch(self) -> AccessToken:
        """Exchange the API key for a new token (HTTP only: the lease may run it in a helper thread)."""
        data = {"grant_type": "refresh_token", "refresh_token": self.config.api_key}
        resp = self._transport.send(
            "POST", self.config.base_url + TOKEN_PATH, TOKEN_PATH, idempotent=True, headers={}, data=data
        )
        if resp.status_code in (400, 401, 403):
            code = error_code(resp.content) or "rejected"
            raise TrafficStarsAuthError(
                f"TrafficStars rejected the API key (HTTP {resp.status_code}, {code}). Check the API key in "
                "the connection's password field; it is not retried.",
                reason="invalid_grant" if code in ("invalid_grant", "invalid_client") else code,
                status_code=resp.status_code,
            )
        if not resp.ok:
            raise self._transport.api_error(resp, "POST", TOKEN_PATH)
        try:
            payload = json_body(resp, "POST", TOKEN_PATH)
            problem = None if payload is not None else "its body is empty, not JSON."
        except TrafficStarsApiError as exc:
            problem = str(exc)
        if problem is not None:
            raise TrafficStarsAuthError(
                f"The TrafficStars token answer is unusable: {problem} Nothing was cached; check the connection's "
                "host points at the TrafficStars API.",
                reason="bad_token_response",
                status_code=resp.status_code,
            )
        token = AccessToken.from_token_response(payload, now=self._clock(), fingerprint=self.config.fingerprint)
        id_token = payload.get("id_token") if isinstance(payload, dict) else None
        self._id_token = id_token if isinstance(id_token, str) else None  # masked by _store, in the caller's thread
        return token

    def _store(self, token: AccessToken) -> AccessToken:
        """Mask, keep and share a new token (in the caller's thread; lock held)."""
        self._on_secret(token.access_token)
        if self._id_token:
            self._on_secret(self._id_token)
            self._id_token = None
        self._token = token
        self.cache.save(token.to_record())
        log.info("Obtained a new TrafficStars access token (valid until %s).", token.expires_at.isoformat())
        return token

    def _token_after_401(self, rejected: AccessToken, method: str, path: str) -> AccessToken:
        """Return the token to send a call answered 401 once more with, or raise: THE rule of a 401.

        A refusal, when the shared record still holds the rejected token and it was obtained less than
        :data:`~.auth._token.JUST_OBTAINED` s ago (by any process): a new token would be
        refused too, so none is requested. Otherwise it expired or was revoked (or a logout cleared the record):
        :meth:`token` takes the one another task stored, else renews once.

        :raises TrafficStarsAuthError: ``reason="unauthorized"``, ``status_code=401``, for a refusal.
        """
        shared = self._load_cached()
        if (
            shared is not None
            and shared.access_token == rejected.access_token
            and shared.is_just_obtained(self._clock())
        ):
            raise TrafficStarsAuthError(
                f"TrafficStars answered 401 to {method} {path} with a token obtained less than a minute ago: the API "
                "key may not use this endpoint. No new token was requested (it would be refused too).",
                reason="unauthorized",
                status_code=401,
            )
        log.info("TrafficStars answered 401 to %s %s; taking another token and trying once more.", method, path)
        return self.token(avoid=rejected.access_token)
