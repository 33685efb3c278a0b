"""The TrafficStars client and its token policy: the ONE place a token is obtained. No Airflow imports.

Policy: a token in memory if it is usable, else the shared record's, else a renewal under the process
lock and the cross-process lease (:mod:`~airflow_provider_trafficstars.lease`), stored for every task.
A call answered 401 takes another token once (one another task stored, else a new one) and is sent once
more, unless it was just obtained and is still the shared one: then the API refuses the call, and a new
token cannot help (:meth:`TrafficStarsClient._token_after_401`). The hook, the operators, every sensor poke
and every trigger poll go through here; how calls are
sent (retries, deadline, redirects) is :mod:`~airflow_provider_trafficstars.transport`'s business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from pendulum import DateTime

from airflow_provider_trafficstars._http import IDEMPOTENT_METHODS, error_code, parse_session_info
from airflow_provider_trafficstars.budget import AccountBudget, BudgetRules, BudgetStore, BudgetWait, budget_key
from airflow_provider_trafficstars.config import ClientConfig
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsAuthError,
    TrafficStarsBudgetError,
    TrafficStarsConfigError,
)
from airflow_provider_trafficstars.lease import SingleFlight, process_lock
from airflow_provider_trafficstars.token import AccessToken, utcnow
from airflow_provider_trafficstars.token_cache import MemoryTokenCache, TokenCache
from airflow_provider_trafficstars.transport import Transport
from airflow_provider_trafficstars.urls import (
    INFO_PATH,
    LOGOUT_PATH,
    TOKEN_PATH,
    check_headers,
    encode_params,
    join_endpoint,
    refuse_auth_path,
)

log = logging.getLogger(__name__)


class TrafficStarsClient:
    """Talk to the TrafficStars API with one shared, cached access token.

    :param config: connection settings.
    :param cache: where the token record is shared between tasks.
    :param clock: returns the current UTC time (injected in tests).
    :param sleep: waits between retries and lease polls (injected in tests).
    :param on_secret: called with every token the moment it is obtained or loaded (the secrets masker).
    :param session: the HTTP session; one per client, for keep-alive.
    :param budget_store: where the account's call budget is shared (the hook gives a Variable); None keeps
        it in this client only.
    :param wait_for_budget: wait for the call budget within each call's ``backoff_budget``; False (a trigger):
        never wait, raise :class:`~airflow_provider_trafficstars.exceptions.TrafficStarsBudgetError` with the wait.
    """

    def __init__(
        self,
        config: ClientConfig,
        cache: TokenCache,
        *,
        clock: Callable[[], DateTime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        on_secret: Callable[[str], None] | None = None,
        session: requests.Session | None = None,
        budget_store: BudgetStore | None = None,
        wait_for_budget: bool = True,
    ) -> None:
        if not config.api_key:
            raise TrafficStarsAuthError("No TrafficStars API key was given.", reason="missing_api_key")
        self.config = config
        self.cache = cache
        self._clock = clock
        self._on_secret = on_secret or (lambda _s: None)
        self._token: AccessToken | None = None
        self._id_token: str | None = None
        self._lock = process_lock(cache.key)
        self._single_flight = SingleFlight(cache, clock=clock, sleep=sleep, timings=config.lease)
        # Every attempt of every call (token requests and retries too) takes a slot of the account's budget.
        self.budget: AccountBudget | None = None
        self._wait_for_budget = wait_for_budget
        if config.rate_limit:
            store = budget_store or MemoryTokenCache(budget_key(config.fingerprint), {})
            rules = BudgetRules(config.rate_limit, config.rate_period, config.rate_margin)
            lease = SingleFlight(store, clock=clock, sleep=sleep, timings=config.lease)
            self.budget = AccountBudget(
                store, rules, exclusive=lease.exclusive, clock=lambda: clock().timestamp(), sleep=sleep
            )
        self._transport = Transport(
            config.base_url,
            timeout=config.timeout,
            max_retries=config.max_retries,
            backoff=config.backoff,
            backoff_budget=config.backoff_budget,
            sleep=sleep,
            clock=clock,
            secrets=lambda: (config.api_key, self._token.access_token if self._token else None),
            before_attempt=None if self.budget is None else self._take_budget,
            session=session,
        )

    def __repr__(self) -> str:
        return f"TrafficStarsClient(base_url={self.config.base_url!r}, cache={self.cache!r})"

    def close(self) -> None:
        """Give back the unspent call budget and close the HTTP session."""
        try:
            if self.budget is not None:
                self.budget.close()
        except Exception as exc:  # never fail a task on its way out; the grant lapses within a window
            log.warning("Could not give back the unspent TrafficStars call budget (%s).", type(exc).__name__)
        self._transport.close()

    def _take_budget(self, method: str, path: str, seconds_left: float) -> None:
        """Take one call slot of the account's budget, waiting at most what the call's bound leaves (or not)."""
        assert self.budget is not None
        max_wait = seconds_left if self._wait_for_budget else 0.0
        try:
            self.budget.acquire(max_wait=max_wait)
        except BudgetWait as wait:
            rules = self.budget.rules
            raise TrafficStarsBudgetError(
                f"{method} {path} was not sent: the TrafficStars account's call budget ({rules.limit} calls per "
                f"{rules.period:g} s, all tasks together) has room again in about {wait.seconds:.1f} s, past what "
                f"this call may wait ({max_wait:.1f} s left of its backoff_budget). It passes by itself: retry "
                "later (a sensor or trigger polls again after the wait), raise the connection's backoff_budget, "
                "or run fewer tasks of this account at once.",
                wait=wait.seconds,
                method=method,
                endpoint=path,
            ) from None

    # -- the token policy -------------------------------------------------------------------------
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
            payload = resp.json()
        except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
            kind = resp.headers.get("Content-Type", "unknown").split(";")[0].strip()[:80] or "unknown"
            raise TrafficStarsAuthError(
                f"The TrafficStars token answer is unusable: it is not JSON (Content-Type {kind}). Nothing "
                "was cached; check the connection's host points at the TrafficStars API.",
                reason="bad_token_response",
                status_code=resp.status_code,
            ) from None
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

    # -- calls ------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send an authenticated call to any endpoint but ``/v1/auth/*`` (see :meth:`token`, :meth:`logout`).

        :raises TrafficStarsConfigError: a bad endpoint, header or body, before anything is sent.
        :raises TrafficStarsAuthError: when a second 401 follows a renewed token.
        :raises TrafficStarsApiError: for any other non-2xx answer (after bounded retries).
        """
        method = method.upper()
        url, path = join_endpoint(self.config.base_url, endpoint)
        refuse_auth_path(path)
        if method in ("GET", "HEAD") and (json is not None or data is not None):
            raise TrafficStarsConfigError(f"A {method} request cannot carry a body; use params instead.")
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        kwargs = {"params": encode_params(params), "json": json, "data": data}
        return self._authorized(method, url, path, safe, check_headers(headers), kwargs)

    def _authorized(
        self, method: str, url: str, path: str, safe: bool, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> requests.Response:
        token = self.token()
        resp = self._send(method, url, path, safe, headers, token, kwargs)
        if resp.status_code == 401:
            token = self._token_after_401(token, method, path)
            resp = self._send(method, url, path, safe, headers, token, kwargs)
            if resp.status_code == 401:
                raise TrafficStarsAuthError(
                    f"TrafficStars answered 401 to {method} {path} even with a freshly renewed token: the "
                    "API key may lack access to this endpoint.",
                    reason="unauthorized",
                    status_code=401,
                )
        if not resp.ok:
            raise self._transport.api_error(resp, method, path)
        return resp

    def _token_after_401(self, rejected: AccessToken, method: str, path: str) -> AccessToken:
        """Return the token to send a call answered 401 once more with, or raise: THE rule of a 401.

        A refusal, when the shared record still holds the rejected token and it was obtained less than
        :data:`~airflow_provider_trafficstars.token.JUST_OBTAINED` s ago (by any process): a new token would be
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

    def _send(
        self, method: str, url: str, path: str, safe: bool, headers: dict[str, str], token: AccessToken, kwargs: Any
    ) -> requests.Response:
        auth = {**headers, "Authorization": f"Bearer {token.access_token}"}
        return self._transport.send(method, url, path, idempotent=safe, headers=auth, **kwargs)

    def session_info(self) -> dict[str, Any]:
        """Return the answer of ``POST /v1/auth/info`` (it holds secrets: the caller must not log it)."""
        resp = self._authorized("POST", self.config.base_url + INFO_PATH, INFO_PATH, True, {}, {})
        info, secrets = parse_session_info(resp.content, resp.status_code)
        for secret in secrets:
            self._on_secret(secret)
        return info

    def logout(self) -> bool:
        """End the shared session (and this client's own, if it differs) and clear the shared record.

        The record is cleared unless, meanwhile, it came to hold a token this call did not end: afterwards
        it holds a token only if that token is alive.

        :return: True when a logout call was sent.
        """
        with self._lock:
            now = self._clock()
            ended = {t.access_token: t for t in (self._load_cached(), self._token) if t and not t.is_expired(now)}
            self._token = None
            try:
                for token in ended.values():
                    resp = self._send("GET", self.config.base_url + LOGOUT_PATH, LOGOUT_PATH, True, {}, token, {})
                    if resp.status_code == 401:
                        log.info("A TrafficStars token was already invalid; nothing to log out from.")
                    elif not resp.ok:
                        raise self._transport.api_error(resp, "GET", LOGOUT_PATH)
            finally:
                current = self._load_cached()
                if current is None or current.access_token in ended:
                    self.cache.clear()
            return bool(ended)
