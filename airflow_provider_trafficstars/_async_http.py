"""Async TrafficStars calls for the deferrable sensor's trigger (httpx): token exchange and session info.

No Airflow imports and no retries: the trigger's poll loop is the retry. Errors are the same types, with
the same attributes, as the sync client raises, so that callers branch on them the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_trafficstars import _http
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsAuthError,
    TrafficStarsTransportError,
)
from airflow_provider_trafficstars.token import AccessToken, utcnow

if TYPE_CHECKING:
    from pendulum import DateTime

    from airflow_provider_trafficstars.client import ClientConfig

OnSecret = Callable[[str], Awaitable[None]]


class TokenRejected(Exception):
    """The API answered 401 to a call made with this token (revoked or expired): renew, then retry once."""


async def _no_secret(_value: str) -> None:
    return None


async def _send(http: httpx.AsyncClient, config: ClientConfig, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return await http.request(method, config.base_url + path, **kwargs)
    except httpx.TransportError as exc:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            kind, what = "connect", "could not be reached (connection refused or no route)"
        elif isinstance(exc, httpx.TimeoutException):
            kind, what = "timeout", f"did not answer within {config.timeout:g} s"
        else:
            kind, what = "reset", "closed the connection before answering"
        raise TrafficStarsTransportError(
            f"The TrafficStars API at {config.base_url} {what} for {method} {path}.",
            kind=kind,
            method=method,
            endpoint=path,
        ) from None


def _api_error(resp: httpx.Response, method: str, path: str, secrets: list[str | None]) -> TrafficStarsApiError:
    excerpt = _http.body_excerpt(resp.content[:4096], secrets)
    return TrafficStarsApiError(
        f"TrafficStars answered HTTP {resp.status_code} to {method} {path}: {excerpt}",
        status_code=resp.status_code,
        method=method,
        endpoint=path,
        body_excerpt=excerpt,
    )


async def exchange_token(
    http: httpx.AsyncClient,
    config: ClientConfig,
    *,
    on_secret: OnSecret = _no_secret,
    clock: Callable[[], DateTime] = utcnow,
) -> AccessToken:
    """Exchange the API key for a new access token (``POST /v1/auth/token``, form-encoded body).

    :raises TrafficStarsAuthError: the key was rejected (400/401/403) or the answer is unusable.
    :raises TrafficStarsApiError: any other non-2xx answer (a TrafficStarsTransportError without one).
    """
    data = {"grant_type": "refresh_token", "refresh_token": config.api_key}
    resp = await _send(http, config, "POST", _http.TOKEN_PATH, data=data)
    if resp.status_code in (400, 401, 403):
        code = _http.error_code(resp.content) or "rejected"
        raise TrafficStarsAuthError(
            f"TrafficStars rejected the API key (HTTP {resp.status_code}, {code}). Check the API key in "
            "the connection's password field; it is not retried.",
            reason="invalid_grant" if code in ("invalid_grant", "invalid_client") else code,
            status_code=resp.status_code,
        )
    if not resp.is_success:
        raise _api_error(resp, "POST", _http.TOKEN_PATH, [config.api_key])
    try:
        payload = resp.json()
    except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
        kind = resp.headers.get("Content-Type", "unknown").split(";")[0] or "unknown"
        raise TrafficStarsAuthError(
            f"The TrafficStars token answer is unusable: it is not JSON (Content-Type {kind}). Nothing "
            "was cached; check the connection's host points at the TrafficStars API.",
            reason="bad_token_response",
            status_code=resp.status_code,
        ) from None
    token = AccessToken.from_token_response(payload, now=clock(), fingerprint=config.fingerprint)
    await on_secret(token.access_token)
    if isinstance(payload, dict) and isinstance(payload.get("id_token"), str):
        await on_secret(payload["id_token"])
    return token


async def session_info(
    http: httpx.AsyncClient, config: ClientConfig, token: AccessToken, *, on_secret: OnSecret = _no_secret
) -> dict[str, Any]:
    """Return the answer of ``POST /v1/auth/info``; it holds secrets, which are given to ``on_secret``.

    :raises TokenRejected: on HTTP 401 (the caller renews the token and asks once more).
    :raises TrafficStarsApiError: any other non-2xx answer, or an answer that is not a JSON object.
    """
    headers = {"Authorization": f"Bearer {token.access_token}"}
    resp = await _send(http, config, "POST", _http.INFO_PATH, headers=headers)
    if resp.status_code == 401:
        raise TokenRejected()
    if not resp.is_success:
        raise _api_error(resp, "POST", _http.INFO_PATH, [config.api_key, token.access_token])
    info, secrets = _http.parse_session_info(resp.content, resp.status_code)
    for secret in secrets:
        await on_secret(secret)
    return info
