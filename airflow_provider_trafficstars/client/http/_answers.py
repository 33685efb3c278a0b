"""Reading TrafficStars answers: numbers, Retry-After, OAuth error codes, session info. No Airflow, no state."""

from __future__ import annotations

import email.utils
import json
import re
from typing import Any

import requests
from pendulum import DateTime

from airflow_provider_trafficstars.client.errors import TrafficStarsApiError
from airflow_provider_trafficstars.client.http._redaction import SECRET_FIELDS
from airflow_provider_trafficstars.client.http._urls import INFO_PATH, endpoint_path

#: Methods that are safe to send twice (RFC 9110 9.2.2); others are retried after 5xx / read timeouts only
#: when the caller says the call is idempotent (``idempotent=True``, e.g. a PATCH that sets fields).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def parse_retry_after(value: str | None, now: DateTime) -> float | None:
    """Return the seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now.timestamp())


def error_code(body: bytes | str) -> str | None:
    """Return the OAuth ``error`` code of a JSON error answer (e.g. ``invalid_grant``), if it has one."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None
    code = data.get("error") if isinstance(data, dict) else None
    if isinstance(code, str) and re.fullmatch(r"[a-z_]{1,64}", code):
        return code
    return None


def parse_session_info(body: bytes, status_code: int) -> tuple[dict[str, Any], list[str]]:
    """Return the session info object of a ``POST /v1/auth/info`` answer and the secrets it holds.

    :raises TrafficStarsApiError: when the answer is not a JSON object.
    """
    try:
        info = json.loads(body)
    except (ValueError, TypeError, RecursionError):  # RecursionError: deeply nested JSON
        info = None
    if not isinstance(info, dict):
        raise TrafficStarsApiError(
            "The TrafficStars session info answer is not a JSON object.",
            status_code=status_code,
            method="POST",
            endpoint=INFO_PATH,
        )
    return info, [info[name] for name in SECRET_FIELDS if isinstance(info.get(name), str)]


def json_body(resp: requests.Response, method: str, endpoint: str, *, hint: str = "") -> Any:
    """Return the parsed JSON of an answer (None for an empty body): the one reading for every caller.

    :param hint: what to do, appended to the error message.
    :raises TrafficStarsApiError: when the body is not JSON (its Content-Type named, never the body).
    """
    if not resp.content:
        return None
    try:
        return json.loads(resp.content)
    except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
        kind = resp.headers.get("Content-Type", "unknown").split(";")[0].strip()[:80] or "unknown"
        path = endpoint_path(endpoint)
        raise TrafficStarsApiError(
            f"TrafficStars answered {method.upper()} {path} with a body that is not JSON (Content-Type {kind}).{hint}",
            status_code=resp.status_code,
            method=method.upper(),
            endpoint=path,
        ) from None
