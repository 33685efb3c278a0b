"""The TrafficStars client: authenticated calls with the one token policy, under the account's budget.

Where a token comes from is :mod:`~.client.auth._policy`'s decision (memory, shared record, lease,
exchange; one more token after a 401 unless the API refused); how calls are sent (retries, deadline,
redirects) is :mod:`~.client.http._transport`'s; what each call costs of the account's shared budget is
:mod:`~.client.cache._budget`'s. The hook, the operators, every sensor poke and every trigger poll go
through here. No Airflow imports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from pendulum import DateTime

from airflow_provider_trafficstars.client._config import ClientConfig
from airflow_provider_trafficstars.client.auth._policy import TokenPolicy
from airflow_provider_trafficstars.client.auth._token import AccessToken, utcnow
from airflow_provider_trafficstars.client.cache._budget import AccountBudget, BudgetStore, budget_key
from airflow_provider_trafficstars.client.cache._grants import BudgetRules
from airflow_provider_trafficstars.client.cache._lease import SingleFlight
from airflow_provider_trafficstars.client.cache._lease_record import process_lock
from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache, TokenCache
from airflow_provider_trafficstars.client.campaigns._api import CampaignsApi
from airflow_provider_trafficstars.client.errors import (
    TrafficStarsAuthError,
    TrafficStarsConfigError,
)
from airflow_provider_trafficstars.client.http._answers import (
    IDEMPOTENT_METHODS,
    json_body,
    parse_session_info,
)
from airflow_provider_trafficstars.client.http._transport import Transport
from airflow_provider_trafficstars.client.http._urls import (
    INFO_PATH,
    LOGOUT_PATH,
    check_headers,
    encode_params,
    join_endpoint,
    refuse_auth_path,
)
from airflow_provider_trafficstars.client.reports._api import ReportsApi

log = logging.getLogger(__name__)


class TrafficStarsClient(TokenPolicy, ReportsApi, CampaignsApi):
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
            config,
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
        self.budget.take(method, path, max_wait=seconds_left if self._wait_for_budget else 0.0)

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

    def request_json(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send an authenticated call and return its parsed JSON answer, unwrapped (list endpoints wrap it as
        ``{"response": ...}``, reports answer it bare).

        :raises TrafficStarsApiError: for a non-2xx answer, or a 2xx answer whose body is not JSON.
        """
        payload = json_body(
            self.request(method, endpoint, params=params, json=json, idempotent=idempotent), method, endpoint
        )
        if isinstance(payload, dict) and isinstance(payload.get("response"), (list, dict)):
            return payload["response"]
        return payload

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
