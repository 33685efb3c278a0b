"""The checks that sensors and triggers share, and how either reads a failure of one.

A :class:`Check` (:data:`SESSION`, :data:`BALANCE`) is what a poke, a deferred poll and the session-info
operator run, so they return the very same XCom; :func:`classify` is the one reading of a failure ("not
yet", "lasting", "error"), and :func:`to_event` / :func:`from_event` carry a failure from the triggerer to
the task with its type and attributes. Sensors and triggers both import this module, never each other.
No Airflow imports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pendulum import DateTime

from airflow_provider_trafficstars.client import errors
from airflow_provider_trafficstars.client._values import finite_number
from airflow_provider_trafficstars.client.auth._token import AccessToken, utcnow
from airflow_provider_trafficstars.client.errors import (
    TrafficStarsApiError,
    TrafficStarsAuthError,
    TrafficStarsConfigError,
    TrafficStarsError,
)
from airflow_provider_trafficstars.client.http._answers import INFO_PATH
from airflow_provider_trafficstars.client.http._retry import is_transient


class Source(Protocol):
    """What a check calls: the hook, or a client."""

    def get_token(self, *, min_ttl: float = 0.0, force_refresh: bool = False) -> AccessToken: ...

    def get_session_info(self) -> dict[str, Any]: ...

    def get_balance(self) -> float: ...


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


def check_session(hook: Source, min_ttl: float = 0.0) -> dict[str, Any]:
    """Return the session summary once TrafficStars accepts the shared token for ``min_ttl`` more seconds.

    Takes the token through the hook's one token policy (renewed first when it has less than ``min_ttl``
    left), reads the session info, and when the server counts less time left than our record says, renews
    once and asks again.

    :raises TrafficStarsConfigError: when ``min_ttl`` can never be met (tokens are shorter-lived).
    :raises TrafficStarsError: any failure of the calls (see :func:`classify`).
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


def check_balance(hook: Source, min_balance: float) -> dict[str, float] | None:
    """Return ``{"balance", "min_balance"}`` when the account balance is at least ``min_balance``, else None."""
    balance = hook.get_balance()
    return {"balance": balance, "min_balance": min_balance} if balance >= min_balance else None


@dataclass(frozen=True)
class Check:
    """A condition a sensor waits for: ``run(source, **kwargs)`` returns its JSON-safe result, or None."""

    #: What it waits for, for log lines ("TrafficStars: acceptance of the credentials holds.").
    waiting_for: str
    run: Callable[..., Any]


SESSION = Check("acceptance of the credentials", check_session)
BALANCE = Check("a balance of at least min_balance", check_balance)


def classify(exc: BaseException) -> str:
    """Return how a waiting task reads a failure of a check: the one rule of sensors and triggers.

    ``"not_yet"``: it may pass by itself (no answer, 429, 5xx): wait and check again. ``"lasting"``: a
    rejected key or a bad argument: fail at once, without retries. ``"error"``: any other failure: fail
    (Airflow's retries apply).
    """
    if is_transient(exc):
        return "not_yet"
    if isinstance(exc, (TrafficStarsAuthError, TrafficStarsConfigError)):
        return "lasting"
    return "error"


_JSON_SCALARS = (str, int, float, bool, type(None))


def to_event(exc: TrafficStarsError) -> dict[str, Any]:
    """Return a failure as a JSON-safe dict: its class name, message and scalar attributes (no secret:
    our messages and attributes hold none)."""
    attributes = {name: value for name, value in vars(exc).items() if isinstance(value, _JSON_SCALARS)}
    return {"type": type(exc).__name__, "message": str(exc), "attributes": attributes}


def from_event(event: Mapping[str, Any]) -> TrafficStarsError:
    """Return the failure :func:`to_event` described, as its own class with its attributes (a TLS error
    comes back a TLS error); an unknown type is a plain :class:`TrafficStarsError`."""
    cls = getattr(errors, str(event.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, TrafficStarsError)):
        cls = TrafficStarsError
    exc = cls.__new__(cls)
    Exception.__init__(exc, str(event.get("message") or "the trigger reported a failure"))
    attributes = event.get("attributes")
    if isinstance(attributes, Mapping):
        exc.__dict__.update({str(k): v for k, v in attributes.items() if isinstance(v, _JSON_SCALARS)})
    return exc
