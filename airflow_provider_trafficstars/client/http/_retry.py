"""What may pass by itself, and so is worth another attempt or another poll: one rule for the transport's
retries, the sensors' pokes and the triggers' polls (through :func:`~.client._checks.classify`)."""

from __future__ import annotations

from airflow_provider_trafficstars.client.errors import (
    TrafficStarsApiError,
    TrafficStarsBudgetError,
    TrafficStarsTransportError,
)


def retryable(*, status_code: int | None = None, kind: str | None = None, idempotent: bool = True) -> bool:
    """Return True when an attempt that ended so may succeed if sent again.

    :param status_code: the answer's HTTP status (429 always; 5xx when the call is idempotent).
    :param kind: no answer: ``"connect"`` (nothing was sent: always), ``"timeout"``/``"reset"`` (when the
        call is idempotent), ``"tls"`` (a configuration error: never).
    :param idempotent: whether sending the call twice is safe.
    """
    if kind is not None:
        return kind == "connect" or (kind != "tls" and idempotent)
    return status_code is not None and (status_code == 429 or (status_code >= 500 and idempotent))


def is_transient(exc: BaseException) -> bool:
    """Return True for trouble that may pass by itself: no answer, HTTP 429 or 5xx, no call budget yet."""
    if isinstance(exc, TrafficStarsBudgetError):
        return True
    if isinstance(exc, TrafficStarsTransportError):
        return retryable(kind=exc.kind)
    if isinstance(exc, TrafficStarsApiError):
        return retryable(status_code=exc.status_code)
    return False
