"""The TrafficStars HTTP client: token refresh, bounded retries, one re-auth on 401, info and logout.

No Airflow imports: the hook gives it a token cache, a clock and a callback that registers tokens with
Airflow's secrets masker.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests
import tenacity
import urllib3
from pendulum import DateTime

from airflow_provider_trafficstars import _http
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsAuthError,
    TrafficStarsConfigError,
    TrafficStarsTransportError,
)
from airflow_provider_trafficstars.rate_limit import DEFAULT_CALLS, shared_limiter  # [i11 rate limit]
from airflow_provider_trafficstars.token import AccessToken, fingerprint, utcnow
from airflow_provider_trafficstars.token_cache import LeaseTimings, SingleFlight, TokenCache

log = logging.getLogger(__name__)

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(key: str) -> threading.RLock:
    """Return the one lock of this process for a cache key (every hook on that key shares it)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())


@dataclass(frozen=True)
class ClientConfig:
    """Settings of one client, usually read from an Airflow connection.

    :param base_url: e.g. ``https://api.trafficstars.com``.
    :param api_key: the TrafficStars API key (never shown by ``repr``).
    :param timeout: seconds for each HTTP call.
    :param max_retries: retries after the first attempt for 429, 5xx and connection errors.
    :param refresh_margin: renew this many seconds before expiry (at most half the token's lifetime).
    :param backoff_base: first backoff wait in seconds; doubles on each retry, with jitter.
    :param backoff_max: longest single backoff wait in seconds.
    :param retry_after_max: longest wait honoured from a ``Retry-After`` header.
    :param backoff_budget: most seconds spent waiting between attempts of one call, all retries together.
    :param single_flight: renew a stale token in one process while the others wait for it (a lease next
        to the cached token, see :class:`~airflow_provider_trafficstars.token_cache.SingleFlight`).
    :param lease: the delays of that lease.
    :param rate_limit: calls per 60 s this process may send to the account (0: no limit).  [i11]
    :param report_timezone: IANA zone in which report days start (connection extra).  [i11]
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = 30.0
    max_retries: int = 5
    refresh_margin: float = 300.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    backoff_budget: float = 120.0
    single_flight: bool = True
    lease: LeaseTimings = field(default_factory=LeaseTimings)
    rate_limit: int = DEFAULT_CALLS  # [i11 rate limit]
    report_timezone: str = "UTC"  # [i11 reports]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.base_url, self.api_key)


class _Retry(Exception):
    """One attempt failed in a way worth retrying; carries what the final error needs."""

    def __init__(self, response: requests.Response | None, exc: Exception | None, retry_after: float | None):
        super().__init__("retry")
        self.response = response
        self.exc = exc
        self.retry_after = retry_after


def _transport_kind(exc: Exception) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect"
    if isinstance(exc, requests.Timeout):
        return "timeout"
    # requests wraps urllib3's errors: walk the chain of reasons and causes and decide by type.
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or current in seen or len(seen) > 20:
            continue
        seen.append(current)
        if isinstance(current, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
            return "connect"  # nothing was sent: always safe to retry
        todo.extend([getattr(current, "reason", None), current.__cause__, current.__context__, *current.args])
    return "reset"


class TrafficStarsClient:
    """Talk to the TrafficStars API with one shared, cached access token.

    :param config: connection settings.
    :param cache: where the token record is shared between tasks.
    :param clock: returns the current UTC time (injected in tests).
    :param sleep: waits between retries (injected in tests).
    :param on_secret: called with every token the moment it is obtained or loaded (the secrets masker).
    :param session: the HTTP session; one per client, for keep-alive.
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
    ) -> None:
        if not config.api_key:
            raise TrafficStarsAuthError("No TrafficStars API key was given.", reason="missing_api_key")
        self.config = config
        self.cache = cache
        self._clock = clock
        self._sleep = sleep
        self._on_secret = on_secret or (lambda _s: None)
        self._session = session or requests.Session()
        self._token: AccessToken | None = None
        self._lock = _lock_for(cache.key)
        self.token_requests = 0
        self._single_flight = SingleFlight(cache, clock=clock, sleep=sleep, timings=config.lease)
        self._fresh_for: AccessToken | None = None
        self._fresh_before = utcnow()
        # [i11 rate limit] one limiter per account in this process; every attempt of every call takes a slot.
        self._limiter = shared_limiter(config.fingerprint, config.rate_limit) if config.rate_limit else None

    def __repr__(self) -> str:
        return f"TrafficStarsClient(base_url={self.config.base_url!r}, cache={self.cache!r})"

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    # -- tokens -----------------------------------------------------------------------------------
    def _usable(self, token: AccessToken | None, now: DateTime, min_ttl: float) -> bool:
        return (
            token is not None
            and not token.needs_refresh(now, self.config.refresh_margin)
            and token.seconds_left(now) >= min_ttl
        )

    def _fresh_until(self, token: AccessToken) -> DateTime:
        """Return a moment (1 µs early, so float rounding never errs late) before which ``token`` is usable."""
        if self._fresh_for is not token:
            margin = timedelta(seconds=token.effective_margin(self.config.refresh_margin), microseconds=1)
            self._fresh_for, self._fresh_before = token, token.expires_at - margin
        return self._fresh_before

    def _load_cached(self) -> AccessToken | None:
        token = AccessToken.from_record(self.cache.load(), expected_fingerprint=self.config.fingerprint)
        if token is not None:
            self._on_secret(token.access_token)
        return token

    def token(self, *, force_refresh: bool = False, min_ttl: float = 0.0) -> AccessToken:
        """Return a token valid for at least ``min_ttl`` more seconds (and outside the refresh margin).

        Reads the cache at most once per renewal; renews under the process lock, re-checking first, and
        across processes under a lease (unless ``force_refresh``: an explicit request renews at once).
        """
        if not force_refresh:
            token, now = self._token, self._clock()
            # The common case, once per API call: a plain time comparison (pendulum arithmetic costs more
            # than a local HTTP round trip's worth of CPU); near the threshold the exact check decides.
            if token is not None and min_ttl <= 0 and now < self._fresh_until(token):
                return token
            if self._usable(token, now, min_ttl):
                return token  # type: ignore[return-value]
        with self._lock:
            if force_refresh:
                return self._renew()
            now = self._clock()
            if self._usable(self._token, now, min_ttl):
                return self._token  # type: ignore[return-value]
            cached = self._load_cached()
            if self._usable(cached, now, min_ttl):
                self._token = cached
                return cached  # type: ignore[return-value]
            return self._renew_shared(min_ttl)

    def _replace_rejected(self, rejected: AccessToken) -> AccessToken:
        """Return a token other than ``rejected``: one another task already stored, else a new one."""
        with self._lock:
            now = self._clock()
            for candidate in (self._token, self._load_cached()):
                if (
                    candidate is not None
                    and candidate.access_token != rejected.access_token
                    and self._usable(candidate, now, 0.0)
                ):
                    self._token = candidate
                    return candidate
            return self._renew_shared(0.0, rejected=rejected.access_token)

    def _renew_shared(self, min_ttl: float, rejected: str | None = None) -> AccessToken:
        """Renew once for every process: under the lease, or take the token its holder stores (lock held)."""
        if not self.config.single_flight:
            return self._renew()

        def fresh() -> AccessToken | None:
            token = self._load_cached()
            if token is None or token.access_token == rejected or not self._usable(token, self._clock(), min_ttl):
                return None
            self._token = token
            return token

        return self._single_flight.run(fresh, self._renew)

    def _renew(self) -> AccessToken:
        """Exchange the API key for a new token, store it and keep it in memory (caller holds the lock)."""
        token = self._exchange()
        self._token = token
        self.cache.save(token.to_record())
        log.info(
            "Obtained a new TrafficStars access token (valid until %s, cached in %r).",
            token.expires_at.isoformat(),
            self.cache.key,
        )
        return token

    def _exchange(self) -> AccessToken:
        self.token_requests += 1
        data = {"grant_type": "refresh_token", "refresh_token": self.config.api_key}
        resp = self._send("POST", _http.TOKEN_PATH, data=data)
        if resp.status_code in (400, 401, 403):
            code = _http.error_code(resp.content) or "rejected"
            raise TrafficStarsAuthError(
                f"TrafficStars rejected the API key (HTTP {resp.status_code}, {code}). Check the API key in "
                "the connection's password field; it is not retried.",
                reason="invalid_grant" if code in ("invalid_grant", "invalid_client") else code,
                status_code=resp.status_code,
            )
        if not resp.ok:
            raise self._api_error(resp, "POST", _http.TOKEN_PATH)
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
        self._on_secret(token.access_token)
        if isinstance(payload, dict) and isinstance(payload.get("id_token"), str):
            self._on_secret(payload["id_token"])
        return token

    def forget_token(self) -> None:
        """Drop the token from memory and from the cache."""
        with self._lock:
            self._token = None
            self.cache.clear()

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
        """Send an authenticated call; on 401 take a new token once and send it once more.

        :raises TrafficStarsAuthError: when a second 401 follows a renewed token.
        :raises TrafficStarsApiError: for any other non-2xx answer (after bounded retries).
        """
        method = method.upper()
        _url, path = _http.join_endpoint(self.config.base_url, endpoint)
        if method in ("GET", "HEAD") and (json is not None or data is not None):
            raise TrafficStarsConfigError(f"A {method} request cannot carry a body; use params instead.")
        kwargs = {"params": _http.encode_params(params), "json": json, "data": data, "headers": headers}
        token = self.token()
        resp = self._send(method, endpoint, token=token, idempotent=idempotent, **kwargs)
        if resp.status_code == 401:
            log.info("TrafficStars answered 401 to %s %s; taking a new token and trying once more.", method, path)
            token = self._replace_rejected(token)
            resp = self._send(method, endpoint, token=token, idempotent=idempotent, **kwargs)
            if resp.status_code == 401:
                raise TrafficStarsAuthError(
                    f"TrafficStars answered 401 to {method} {path} even with a freshly renewed token: the "
                    "API key may lack access to this endpoint.",
                    reason="unauthorized",
                    status_code=401,
                )
        if not resp.ok:
            raise self._api_error(resp, method, path)
        return resp

    def session_info(self) -> dict[str, Any]:
        """Return the answer of ``POST /v1/auth/info`` (it holds secrets: the caller must not log it)."""
        resp = self.request("POST", _http.INFO_PATH)
        info, secrets = _http.parse_session_info(resp.content, resp.status_code)
        for secret in secrets:
            self._on_secret(secret)
        return info

    def logout(self) -> bool:
        """End the session of the cached token, if one is still valid, and always clear the cache.

        :return: True when a logout call was sent.
        """
        with self._lock:
            token = self._token or self._load_cached()
            self._token = None
            try:
                if token is None or token.is_expired(self._clock()):
                    return False
                resp = self._send("GET", _http.LOGOUT_PATH, token=token)
                if resp.status_code == 401:
                    log.info("The TrafficStars token was already invalid; nothing to log out from.")
                elif not resp.ok:
                    raise self._api_error(resp, "GET", _http.LOGOUT_PATH)
                return True
            finally:
                self.cache.clear()

    # -- transport --------------------------------------------------------------------------------
    def _api_error(self, resp: requests.Response, method: str, path: str) -> TrafficStarsApiError:
        excerpt = _http.body_excerpt(resp.content[:4096], self._secrets())
        return TrafficStarsApiError(
            f"TrafficStars answered HTTP {resp.status_code} to {method} {path}: {excerpt}",
            status_code=resp.status_code,
            method=method,
            endpoint=path,
            body_excerpt=excerpt,
            retry_after=_http.parse_retry_after(resp.headers.get("Retry-After"), self._clock()),
        )

    def _secrets(self) -> list[str | None]:
        return [self.config.api_key, self._token.access_token if self._token else None]

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        token: AccessToken | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one call with bounded retries; return the last answer, or raise a transport error."""
        url, path = _http.join_endpoint(self.config.base_url, endpoint)
        all_headers = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token.access_token}"
        safe = (method in _http.IDEMPOTENT_METHODS if idempotent is None else idempotent) or path in _http.AUTH_PATHS
        waited = [0.0]

        def attempt() -> requests.Response:
            if self._limiter is not None:  # [i11 rate limit]
                self._limiter.acquire(self._sleep)
            try:
                resp = self._session.request(method, url, headers=all_headers, timeout=self.config.timeout, **kwargs)
            except requests.RequestException as exc:
                kind = _transport_kind(exc)
                if kind == "connect" or safe:
                    raise _Retry(None, exc, None) from None
                raise self._transport_error(exc, method, path, 1) from None
            if resp.status_code == 429 or (resp.status_code >= 500 and safe):
                after = _http.parse_retry_after(resp.headers.get("Retry-After"), self._clock())
                raise _Retry(resp, None, after)
            return resp

        try:
            return attempt()  # the common case: no retry machinery is built (it costs ~0.1 ms a call)
        except _Retry as failed:
            first = [failed]

        def attempt_again() -> requests.Response:
            if first:  # tenacity's attempt 1 is the one that just failed: replay it, do not send it twice
                raise first.pop()
            return attempt()

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            after = exc.retry_after if isinstance(exc, _Retry) else None
            if after is not None:
                delay = min(after, self.config.retry_after_max)
            else:
                step = self.config.backoff_base * 2 ** (state.attempt_number - 1)
                delay = min(self.config.backoff_max, step) * random.uniform(0.5, 1.0)
            delay = max(0.0, min(delay, self.config.backoff_budget - waited[0]))
            waited[0] += delay
            return delay

        class budget_spent(tenacity.stop.stop_base):
            def __call__(_self, state: tenacity.RetryCallState) -> bool:
                return waited[0] >= self.config.backoff_budget

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            what = (
                f"HTTP {exc.response.status_code}"
                if isinstance(exc, _Retry) and exc.response is not None
                else type(exc.exc).__name__
                if isinstance(exc, _Retry) and exc.exc
                else "error"
            )
            log.warning(
                "TrafficStars %s %s failed (%s); retry %d of %d in %.1f s.",
                method,
                path,
                what,
                state.attempt_number,
                self.config.max_retries,
                state.upcoming_sleep,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            stop=tenacity.stop_any(tenacity.stop_after_attempt(self.config.max_retries + 1), budget_spent()),
            wait=wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt_again)
        except _Retry as final:
            attempts = int(retrying.statistics.get("attempt_number", self.config.max_retries + 1))
            if final.response is not None:
                err = self._api_error(final.response, method, path)
                err.attempts = attempts
                raise err from None
            assert final.exc is not None
            raise self._transport_error(final.exc, method, path, attempts) from None

    def _transport_error(self, exc: Exception, method: str, path: str, attempts: int) -> TrafficStarsTransportError:
        kind = _transport_kind(exc)
        what = {
            "connect": "could not be reached (connection refused or no route)",
            "timeout": f"did not answer within {self.config.timeout:g} s",
            "reset": "closed the connection before answering",
        }[kind]
        return TrafficStarsTransportError(
            f"The TrafficStars API at {self.config.base_url} {what} for {method} {path} after {attempts} attempt(s).",
            kind=kind,
            method=method,
            endpoint=path,
            attempts=attempts,
        )


def parse_json(resp: requests.Response) -> Any:
    """Return the parsed JSON body of an answer, or None for an empty body (204)."""
    if not resp.content:
        return None
    return jsonlib.loads(resp.content)
