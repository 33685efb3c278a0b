"""The session check of the session sensor, its trigger and the session-info operator, and its XCom.

One function, :func:`check_session`, decides whether TrafficStars accepts the credentials for ``min_ttl``
more seconds; a poke, a deferred poll and the operator all call it, so they return the very same XCom.
No Airflow imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_trafficstars.client.auth._token import AccessToken, utcnow
from airflow_provider_trafficstars.client.http._answers import INFO_PATH, finite_number
from airflow_provider_trafficstars.exceptions import TrafficStarsApiError, TrafficStarsConfigError

if TYPE_CHECKING:
    from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

#: The keys of the XCom of the session-info operator and the session sensor (no secret among them).
SUMMARY_KEYS = ("expires_in", "expires_at", "token_type")


def session_summary(info: Mapping[str, Any], *, now: DateTime | None = None) -> dict[str, Any]:
    """Return the JSON-safe, secret-free summary of a session info answer.

    ``{"expires_in": <int s>, "expires_at": "<ISO 8601 UTC>", "token_type": "Bearer"}``; the answer's
    access and refresh tokens are never copied.

    :param info: the answer of ``POST /v1/auth/info``.
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
    number = finite_number(value)
    return None if number is None or number < 0 else int(number)


def check_seconds(value: Any, name: str = "min_ttl") -> float:
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


def check_session(hook: TrafficStarsHook, min_ttl: float = 0.0) -> dict[str, Any]:
    """Return the session summary once TrafficStars accepts the shared token for ``min_ttl`` more seconds.

    Takes the token through the hook's one token policy (renewed first when it has less than ``min_ttl``
    left), reads the session info, and when the server counts less time left than our record says, renews
    once and asks again.

    :raises TrafficStarsConfigError: when ``min_ttl`` can never be met (tokens are shorter-lived).
    :raises TrafficStarsError: any failure of the calls (see :func:`~.exceptions.is_transient`).
    """
    if min_ttl > 0:
        require_ttl(hook.get_token(min_ttl=min_ttl), min_ttl)
    summary = session_summary(hook.get_session_info())
    renewed = False
    if summary["expires_in"] < min_ttl:
        hook.get_token(force_refresh=True)
        renewed = True
        summary = session_summary(hook.get_session_info())
    if summary["expires_in"] < min_ttl:
        raise TrafficStarsConfigError(
            f"min_ttl={min_ttl:g} s can never be met: TrafficStars grants "
            f"{'a new' if renewed else 'this'} session only {summary['expires_in']} s."
        )
    return summary
