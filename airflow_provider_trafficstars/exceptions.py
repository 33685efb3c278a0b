"""Exceptions raised by the TrafficStars provider.

Code branches on the type and the attributes of these errors, never on their message text. No message
ever holds the API key or a token: error bodies are scrubbed before they are kept.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowException


class TrafficStarsError(AirflowException):
    """Base class of every error raised by this provider."""


class TrafficStarsConfigError(TrafficStarsError, ValueError):
    """The connection or an argument is malformed (bad host, bad extra value)."""


class TrafficStarsDestinationError(TrafficStarsConfigError):
    """A report destination cannot be written complete or absent (an FTP server, a relative path, a folder
    that cannot be created); raised before any API call.

    :param protocol: the destination's protocol (``""`` for a plain path), e.g. ``"ftp"``.
    :param destination: the destination as given (a template or a folder; it never holds a secret: a
        password in a URL is replaced by ``***``).
    """

    def __init__(self, message: str, *, protocol: str, destination: str) -> None:
        super().__init__(message)
        self.protocol = protocol
        self.destination = destination


class TrafficStarsCoverageError(TrafficStarsConfigError):
    """A report run was asked to cover days it must not: a day that has not ended, or too long a catch-up.

    :param reason: ``"not_ended"`` (``date_from``/``date_to`` names a day that had not ended in the report
        time zone when the run started) or ``"catchup"`` (the export's cursor is more than
        ``max_catchup_days`` behind the run's own days).
    :param argument: the argument to set: ``"date_to"`` or ``"date_from"``.
    :param day: for ``not_ended``, the day given; for ``catchup``, the ``date_from`` to run with.
    :param last_complete_day: the last day that had ended when the run started.
    :param cursor: the export's cursor (the last day written), if any.
    :param days: for ``catchup``, how many days before its own the run would have had to export.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        argument: str,
        day: Any,
        last_complete_day: Any,
        cursor: Any = None,
        days: int = 0,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.argument = argument
        self.day = day
        self.last_complete_day = last_complete_day
        self.cursor = cursor
        self.days = days


class TrafficStarsAuthError(TrafficStarsError):
    """The API key is missing or rejected, or the token answer is unusable.

    :param reason: a short machine-readable reason, e.g. ``"missing_api_key"``, ``"invalid_grant"``,
        ``"bad_token_response"``, ``"unauthorized"``.
    :param status_code: the HTTP status that caused it, if any.
    """

    def __init__(self, message: str, *, reason: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status_code: int | None = status_code  # type: ignore[assignment]


class TrafficStarsApiError(TrafficStarsError):
    """A call to the API failed.

    :param status_code: the HTTP status, or ``None`` when no answer arrived (see subclasses).
    :param method: the HTTP method of the failed call.
    :param endpoint: the path of the failed call (no query string, no host).
    :param body_excerpt: at most a few hundred characters of the answer, secrets removed.
    :param attempts: how many times the call was sent.
    :param retry_after: seconds the server asked to wait (``Retry-After`` of a 429 or 503), if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        method: str,
        endpoint: str,
        body_excerpt: str = "",
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code: int | None = status_code  # type: ignore[assignment]
        self.method = method
        self.endpoint = endpoint
        self.body_excerpt = body_excerpt
        self.attempts = attempts
        self.retry_after = retry_after


class TrafficStarsRedirectError(TrafficStarsApiError):
    """The API answered a redirect (3xx), which the provider never follows.

    :param location_host: the host the redirect pointed to (only the host: a URL may hold secrets).
    """

    def __init__(self, message: str, *, location_host: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location_host = location_host


class TrafficStarsDataError(TrafficStarsError):
    """An answer arrived and parsed, but its data is not what the documented API sends.

    E.g. a report answer that is not a list of row objects, a metric that is not a number, a by-day row
    without its day.

    :param report: the report (or ``"campaigns"``) whose answer is wrong.
    :param field: the row field that is wrong, if one is (``"meta.score"`` for a value nested in ``meta``).
    :param day: the report day of the answer, ``YYYY-MM-DD`` (``YYYY-MM-DD..YYYY-MM-DD`` for a call over a
        range), if it has one.
    """

    def __init__(self, message: str, *, report: str, field: str | None = None, day: str | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.field = field
        self.day = day


class TrafficStarsTransportError(TrafficStarsApiError):
    """No usable answer arrived: the server could not be reached, reset the connection or timed out.

    :param kind: ``"connect"`` (could not reach the server), ``"timeout"`` (no complete answer in time),
        ``"reset"`` (the connection broke during the exchange) or ``"tls"`` (the TLS handshake failed, e.g.
        https:// to a plain-HTTP server: a configuration error, never retried).
    """

    def __init__(self, message: str, *, kind: str, method: str, endpoint: str, attempts: int = 1) -> None:
        super().__init__(message, status_code=None, method=method, endpoint=endpoint, attempts=attempts)
        self.kind = kind


class TrafficStarsPartialFailureError(TrafficStarsError):
    """TrafficStars answered 200 but could not change some campaigns (they came back in ``failed``).

    :param failed: the ids TrafficStars could not change.
    :param changed: the ids it changed.
    :param unchanged: the ids that were already in the requested state (not sent).
    :param statuses: each failed id's status when it was read (``"unknown id"``: TrafficStars did not know it).
    """

    def __init__(
        self,
        message: str,
        *,
        failed: list[int],
        changed: list[int],
        unchanged: list[int],
        statuses: dict[int, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.failed = failed
        self.changed = changed
        self.unchanged = unchanged
        self.statuses = dict(statuses or {})


class TrafficStarsGuardError(TrafficStarsError):
    """A change was refused before it was sent: it moves a value further than the ``max_change`` guard allows.

    :param campaign_id: the campaign.
    :param field: the field that would move too far (``"price"`` or ``"max_daily"``).
    :param before: its current value (None when TrafficStars did not say).
    :param after: the requested value.
    :param max_change: the largest relative move allowed (0.5 is 50 %).
    """

    def __init__(
        self, message: str, *, campaign_id: int, field: str, before: float | None, after: float, max_change: float
    ) -> None:
        super().__init__(message)
        self.campaign_id = campaign_id
        self.field = field
        self.before = before
        self.after = after
        self.max_change = max_change


def is_transient(exc: BaseException) -> bool:
    """Return True for trouble that may pass by itself: no answer, HTTP 429 or HTTP 5xx."""
    if isinstance(exc, TrafficStarsTransportError):
        return exc.kind != "tls"  # a TLS handshake failure is a configuration error, not bad luck
    if isinstance(exc, TrafficStarsApiError) and exc.status_code is not None:
        return exc.status_code == 429 or exc.status_code >= 500
    return False


__all__ = [
    "TrafficStarsApiError",
    "TrafficStarsAuthError",
    "TrafficStarsConfigError",
    "TrafficStarsCoverageError",
    "TrafficStarsDataError",
    "TrafficStarsDestinationError",
    "TrafficStarsError",
    "TrafficStarsGuardError",
    "TrafficStarsPartialFailureError",
    "TrafficStarsRedirectError",
    "TrafficStarsTransportError",
    "is_transient",
]
