"""Sending one HTTP call: bounded retries, a deadline per attempt, no redirects, typed errors. No Airflow imports.

It knows nothing of tokens: the client hands it the headers. Every call of the provider, the token
exchange included, goes through :meth:`Transport.send`, so these rules hold everywhere:

- ``timeout`` bounds a whole attempt (connect and every read), not each read;
- a redirect is never followed (it would carry the API key or the token elsewhere): a 3xx is a
  :class:`~airflow_provider_trafficstars.client.errors.TrafficStarsRedirectError`;
- connection failures are retried always (nothing was sent), 429 always, 5xx and read timeouts only for
  idempotent calls; a TLS handshake failure never (it is configuration). How long each retry waits is
  :class:`~airflow_provider_trafficstars.client.http._waits.Backoff`'s decision (Retry-After exactly; past the server's
  window after a 429 without it), and no retry starts whose wait would end past ``backoff_budget``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import tenacity
import urllib3
from pendulum import DateTime

from airflow_provider_trafficstars.client.auth._token import utcnow
from airflow_provider_trafficstars.client.errors import (
    TrafficStarsApiError,
    TrafficStarsRedirectError,
    TrafficStarsTransportError,
)
from airflow_provider_trafficstars.client.http._answers import parse_retry_after
from airflow_provider_trafficstars.client.http._reading import DeadlineExceeded, read_within, transport_kind
from airflow_provider_trafficstars.client.http._redaction import body_excerpt
from airflow_provider_trafficstars.client.http._retry import retryable
from airflow_provider_trafficstars.client.http._waits import Backoff

if TYPE_CHECKING:
    from airflow_provider_trafficstars.client._config import ClientConfig

log = logging.getLogger(__name__)


class _Retryable(Exception):
    """One attempt failed in a way worth another: an answer (429/5xx) or a transport error."""

    def __init__(
        self,
        response: requests.Response | None = None,
        error: TrafficStarsTransportError | None = None,
        retry_after: float | None = None,
    ):
        super().__init__("retryable")
        self.response = response
        self.error = error
        self.retry_after = retry_after


class _Wait(tenacity.wait.wait_base):
    """Ask the one wait rule (:meth:`Backoff.wait`) how long to wait after the failed attempt."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        response = getattr(exc, "response", None)
        return self.backoff.wait(
            retry_state.attempt_number,
            status=None if response is None else response.status_code,
            retry_after=getattr(exc, "retry_after", None),
        )


class Transport:
    """Send calls to one base URL with bounded retries; see the module docstring for the rules.

    :param config: the client's settings: ``base_url`` (for messages), ``timeout`` (seconds one attempt may
        take, from connect to the last byte), ``max_retries``, ``backoff`` and ``backoff_budget`` (most
        seconds one call may take, all attempts and waits together).
    :param sleep: the wait between attempts (tests inject one).
    :param clock: the current UTC time (an HTTP-date Retry-After is relative to it).
    :param secrets: returns the values to scrub from error excerpts.
    :param before_attempt: called before every attempt with its method, path and the seconds left of the call's
        ``backoff_budget`` (the account's call budget: it may wait that long, or raise), if given.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], DateTime] = utcnow,
        secrets: Callable[[], Iterable[str | None]] = lambda: (),
        before_attempt: Callable[[str, str, float], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = config.base_url
        self.timeout = config.timeout
        self.session = session or requests.Session()
        self._secrets = secrets
        self._clock = clock
        self._before_attempt = before_attempt
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=tenacity.stop_after_attempt(config.max_retries + 1)
            | tenacity.stop_before_delay(config.backoff_budget),
            wait=_Wait(config.backoff),
            sleep=sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        self._max_retries = config.max_retries
        self._backoff_budget = config.backoff_budget

    def send(
        self, method: str, url: str, path: str, *, idempotent: bool, headers: Mapping[str, str], **kwargs: Any
    ) -> requests.Response:
        """Send one call (retried within bounds); return the final answer, any status but 3xx.

        :raises TrafficStarsApiError: 429/5xx still failing after the retries.
        :raises TrafficStarsRedirectError: a 3xx answer.
        :raises TrafficStarsTransportError: no usable answer.
        """
        started = time.monotonic()
        try:
            return self._retrying(self._attempt, method, url, path, idempotent, headers, kwargs, started)
        except _Retryable as final:
            attempts = int(self._retrying.statistics.get("attempt_number", 1))
            if final.response is not None:
                raise self.api_error(final.response, method, path, attempts=attempts) from None
            assert final.error is not None
            final.error.attempts = attempts
            raise final.error from None

    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        idempotent: bool,
        headers: Mapping[str, str],
        kwargs: dict[str, Any],
        started: float,
    ) -> requests.Response:
        if self._before_attempt is not None:
            self._before_attempt(method, path, max(0.0, self._backoff_budget - (time.monotonic() - started)))
        deadline = time.monotonic() + self.timeout
        try:
            resp = self.session.request(
                method, url, headers=headers, timeout=self.timeout, allow_redirects=False, stream=True, **kwargs
            )
            read_within(resp, deadline, has_body=method != "HEAD" and resp.status_code not in (204, 304))
        except (requests.RequestException, urllib3.exceptions.HTTPError, DeadlineExceeded) as exc:
            error = self.transport_error(transport_kind(exc), method, path)
            if retryable(kind=error.kind, idempotent=idempotent):
                raise _Retryable(error=error) from None
            raise error from None
        if 300 <= resp.status_code < 400:
            target = urlsplit(resp.headers.get("Location", "")).hostname or "(no host)"
            raise TrafficStarsRedirectError(
                f"TrafficStars answered HTTP {resp.status_code} to {method} {path} with a redirect to host "
                f"{target!r}; redirects are never followed (they would carry the credentials elsewhere). Set the "
                "connection's host to the API's final base URL (check http:// versus https://).",
                status_code=resp.status_code,
                method=method,
                endpoint=path,
                location_host=target,
            )
        if retryable(status_code=resp.status_code, idempotent=idempotent):
            raise _Retryable(
                response=resp, retry_after=parse_retry_after(resp.headers.get("Retry-After"), self._clock())
            )
        return resp

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        what = "error"
        if isinstance(exc, _Retryable):
            what = f"HTTP {exc.response.status_code}" if exc.response is not None else f"{exc.error.kind}"  # type: ignore[union-attr]
        log.warning(
            "TrafficStars call failed (%s); retry %d of %d in %.1f s.",
            what,
            state.attempt_number,
            self._max_retries,
            state.upcoming_sleep,
        )

    def api_error(self, resp: requests.Response, method: str, path: str, *, attempts: int = 1) -> TrafficStarsApiError:
        """Return the typed error of a non-2xx answer; its excerpt is scrubbed of every known secret."""
        excerpt = body_excerpt(resp.content[:4096], self._secrets())
        return TrafficStarsApiError(
            f"TrafficStars answered HTTP {resp.status_code} to {method} {path}: {excerpt}",
            status_code=resp.status_code,
            method=method,
            endpoint=path,
            body_excerpt=excerpt,
            attempts=attempts,
            retry_after=parse_retry_after(resp.headers.get("Retry-After"), self._clock()),
        )

    def transport_error(self, kind: str, method: str, path: str) -> TrafficStarsTransportError:
        """Return the typed error of a call that got no usable answer."""
        what = {
            "tls": "failed the TLS handshake (is the host a plain http:// server? then write http:// in the "
            "connection's host; it is not retried)",
            "connect": "could not be reached (connection refused or no route)",
            "timeout": f"did not answer completely within {self.timeout:g} s",
            "reset": "closed the connection before answering",
        }[kind]
        return TrafficStarsTransportError(
            f"The TrafficStars API at {self.base_url} {what} for {method} {path}.",
            kind=kind,
            method=method,
            endpoint=path,
        )

    def close(self) -> None:
        self.session.close()
