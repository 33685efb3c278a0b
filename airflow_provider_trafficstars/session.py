"""What the task layer says about a TrafficStars session: secret-free summaries and the checks around them.

Shared by the operators, the session sensor and its trigger, so that a poke, a deferred wait and the
session-info operator return the very same XCom. No Airflow imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pendulum import DateTime

from airflow_provider_trafficstars._http import INFO_PATH
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsConfigError,
    TrafficStarsTransportError,
)
from airflow_provider_trafficstars.token import AccessToken, utcnow

#: The keys of the XCom of the session-info operator and the session sensor (no secret among them).
SUMMARY_KEYS = ("expires_in", "expires_at", "token_type")


def session_summary(info: Mapping[str, Any], *, now: DateTime | None = None) -> dict[str, Any]:
    """Return the JSON-safe, secret-free summary of a session info answer.

    ``{"expires_in": <int s>, "expires_at": "<ISO 8601 UTC>", "token_type": "Bearer"}``; the answer's
    access and refresh tokens are never copied.

    :param info: the answer of ``POST /v1/auth/info`` (or a trigger event carrying the same fields).
    :param now: when the answer arrived; ``expires_at`` is ``now + expires_in``.
    :raises TrafficStarsApiError: when ``expires_in`` is missing or not a non-negative number.
    """
    expires_in = _whole_seconds(info.get("expires_in"))
    if expires_in is None:
        raise TrafficStarsApiError(
            "The TrafficStars session info answer has no usable expires_in (a number of seconds).",
            status_code=200,
            method="POST",
            endpoint=INFO_PATH,
        )
    token_type = info.get("token_type")
    if not (isinstance(token_type, str) and token_type.isalpha() and len(token_type) <= 20):
        token_type = "Bearer"  # only a short word is echoed: never reflect an arbitrary field
    answered_at = (now or utcnow()).in_timezone("UTC")
    return {
        "expires_in": expires_in,
        "expires_at": answered_at.add(seconds=expires_in).isoformat(),
        "token_type": token_type,
    }


def _whole_seconds(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return int(number)


def is_transient(exc: BaseException) -> bool:
    """Return True for trouble that may pass by itself: no answer, HTTP 429 or HTTP 5xx."""
    if isinstance(exc, TrafficStarsTransportError):
        return True
    if isinstance(exc, TrafficStarsApiError) and exc.status_code is not None:
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def check_min_ttl(value: Any, name: str = "min_ttl") -> float:
    """Return ``value`` as seconds, or raise TrafficStarsConfigError when it is not a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TrafficStarsConfigError(f"{name} must be a number of seconds >= 0, got {value!r}.")
    return float(value)


def require_ttl(token: AccessToken, min_ttl: float, *, now: DateTime | None = None) -> None:
    """Raise TrafficStarsConfigError when ``token`` (just renewed if needed) has less than ``min_ttl`` s left.

    The caller asked for a token valid ``min_ttl`` seconds; one that falls short after a renewal means
    TrafficStars grants shorter tokens, and renewing again would not help.
    """
    left = token.seconds_left(now or utcnow())
    if left < min_ttl:
        raise TrafficStarsConfigError(
            f"min_ttl={min_ttl:g} s can never be met: TrafficStars issues tokens valid for {token.lifetime:g} s "
            f"({max(left, 0.0):.0f} s left on the current one). Use a min_ttl below the token lifetime."
        )
