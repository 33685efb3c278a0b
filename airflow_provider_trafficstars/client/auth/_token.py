"""The access token as a value object: expiry math and (de)serialisation of the cache record.

No Airflow imports here: this module is pure logic, tested with an injected clock.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pendulum
from pendulum import DateTime

from airflow_provider_trafficstars.client.errors import TrafficStarsAuthError

#: Lifetime assumed when a token answer carries no ``expires_in`` (RFC 6749 makes it optional).
#: Short on purpose: an unknown lifetime must never become an endless cache.
DEFAULT_LIFETIME_WHEN_MISSING = 300
#: Longest lifetime we believe from a token answer; anything longer is capped to this.
MAX_LIFETIME = 7 * 24 * 3600

#: A 401 on a token obtained less than this many seconds ago is the API refusing the call (the key may not
#: use that endpoint), not the token expiring: see :meth:`AccessToken.is_just_obtained`.
JUST_OBTAINED = 60.0

RECORD_FIELDS = ("access_token", "token_type", "obtained_at", "expires_at", "fingerprint")


def utcnow() -> DateTime:
    """Return the current time, timezone-aware UTC (the default clock)."""
    return pendulum.now("UTC")


def fingerprint(base_url: str, api_key: str) -> str:
    """Return 16 hex digits of the SHA-256 of ``[base_url, api_key]`` as JSON: ties a record to its connection.

    JSON keeps the two apart (``"...com" + "1abc"`` and ``"...com1" + "abc"`` differ), which plain
    concatenation would not.
    """
    return hashlib.sha256(json.dumps([base_url, api_key]).encode("utf-8")).hexdigest()[:16]


def _is_usable_token(value: Any) -> bool:
    # A token goes into an HTTP header: refuse anything that could break or inject into it, and anything
    # outside printable ASCII (http.client encodes headers as latin-1 and would crash mid-request).
    return (
        isinstance(value, str)
        and 0 < len(value) <= 16384
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


@dataclass(frozen=True, repr=False)
class AccessToken:
    """An access token with absolute, timezone-aware UTC times.

    :param access_token: the bearer token itself (a secret: never shown by ``repr``).
    :param token_type: always ``"Bearer"`` for TrafficStars.
    :param obtained_at: when the token answer arrived.
    :param expires_at: ``obtained_at + expires_in``.
    :param fingerprint: see :func:`fingerprint`.
    """

    access_token: str
    token_type: str
    obtained_at: DateTime
    expires_at: DateTime
    fingerprint: str

    def __repr__(self) -> str:
        return (
            f"AccessToken(access_token='***', token_type={self.token_type!r}, "
            f"obtained_at='{self.obtained_at.isoformat()}', expires_at='{self.expires_at.isoformat()}')"
        )

    __str__ = __repr__

    @property
    def lifetime(self) -> float:
        """Return the total lifetime in seconds."""
        return datetime.__sub__(self.expires_at, self.obtained_at).total_seconds()

    def effective_margin(self, margin: float) -> float:
        """Return the renewal margin actually used: ``margin``, but never more than half the lifetime."""
        return max(0.0, min(float(margin), self.lifetime / 2))

    def needs_refresh(self, now: DateTime, margin: float) -> bool:
        """Return True when the token must be renewed: ``now >= expires_at - min(margin, lifetime/2)``."""
        if now >= self.expires_at:
            return True
        return self.seconds_left(now) <= self.effective_margin(margin)

    def is_expired(self, now: DateTime) -> bool:
        """Return True once ``expires_at`` has passed."""
        return now >= self.expires_at

    def is_just_obtained(self, now: DateTime) -> bool:
        """Return True when the token was obtained less than :data:`JUST_OBTAINED` seconds before ``now``.

        ``obtained_at`` may come from another worker's clock: one that runs ahead makes the token look younger,
        one that lags makes it look older; either way a minute of skew at most shifts which 401 is renewed.
        """
        return datetime.__sub__(now, self.obtained_at).total_seconds() < JUST_OBTAINED

    def seconds_left(self, now: DateTime) -> float:
        """Return the seconds until ``expires_at`` (negative once expired)."""
        # The stdlib subtraction: exact to the microsecond, and free of pendulum's Interval objects, which
        # cost a measurable share of a local API call (benchmarks/RESULTS.md, per-call overhead).
        return datetime.__sub__(self.expires_at, now).total_seconds()

    # -- the cache record -------------------------------------------------------------------------
    def to_record(self) -> str:
        """Return the JSON string stored in the cache Variable."""
        return json.dumps(
            {
                "access_token": self.access_token,
                "token_type": self.token_type,
                "obtained_at": self.obtained_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
                "fingerprint": self.fingerprint,
            }
        )

    @classmethod
    def from_record(cls, raw: object, *, expected_fingerprint: str) -> AccessToken | None:
        """Parse a cache record; return None (a cache miss) for anything unusable, never raise.

        :param raw: the Variable's value, whatever it holds.
        :param expected_fingerprint: the fingerprint of the connection reading it.
        """
        if isinstance(raw, dict):
            data: Any = raw
        elif isinstance(raw, (str, bytes, bytearray)):
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                return None
        else:
            return None
        if not isinstance(data, dict) or any(name not in data for name in RECORD_FIELDS):
            return None
        if data["fingerprint"] != expected_fingerprint or not _is_usable_token(data["access_token"]):
            return None
        if not isinstance(data["token_type"], str) or data["token_type"].lower() != "bearer":
            return None
        obtained_at = _parse_time(data["obtained_at"])
        expires_at = _parse_time(data["expires_at"])
        if obtained_at is None or expires_at is None or expires_at <= obtained_at:
            return None
        if (expires_at - obtained_at).total_seconds() > MAX_LIFETIME:
            return None  # no token answer yields this (lifetimes are capped): the record is not ours
        return cls(data["access_token"], "Bearer", obtained_at, expires_at, expected_fingerprint)

    # -- the token answer -------------------------------------------------------------------------
    @classmethod
    def from_token_response(cls, payload: object, *, now: DateTime, fingerprint: str) -> AccessToken:
        """Build a token from the parsed JSON answer of ``POST /v1/auth/token``.

        A missing ``expires_in`` means :data:`DEFAULT_LIFETIME_WHEN_MISSING` seconds; one longer than
        :data:`MAX_LIFETIME` is capped to it.

        :raises TrafficStarsAuthError: (reason ``"bad_token_response"``) when the answer is unusable.
        """

        def bad(what: str) -> TrafficStarsAuthError:
            return TrafficStarsAuthError(
                f"The TrafficStars token answer is unusable: {what}. Nothing was cached; check the "
                "connection's host points at the TrafficStars API.",
                reason="bad_token_response",
            )

        if not isinstance(payload, dict):
            raise bad(f"expected a JSON object, got {type(payload).__name__}")
        token = payload.get("access_token")
        if token is None:
            raise bad("it has no access_token")
        if not _is_usable_token(token):
            raise bad("access_token is not a non-empty printable string")
        token_type = payload.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise bad(f"token_type is {_describe(token_type)}, expected 'Bearer'")
        lifetime = _parse_lifetime(payload.get("expires_in", None), "expires_in" in payload)
        if isinstance(lifetime, str):
            raise bad(lifetime)
        return cls(token, "Bearer", now, now.add(seconds=lifetime), fingerprint)


def _describe(value: Any) -> str:
    # Describe a field's value by type and shape only, never by content (it could be a secret).
    if value is None:
        return "missing"
    if isinstance(value, str):
        return f"a {len(value)}-character string"
    return f"a {type(value).__name__}"


def _parse_lifetime(value: Any, present: bool) -> float | str:
    """Return the lifetime in seconds, or a string saying what is wrong with ``expires_in``."""
    if not present:
        return float(DEFAULT_LIFETIME_WHEN_MISSING)
    if isinstance(value, bool):
        return "expires_in is a boolean, expected a number of seconds"
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return "expires_in is not a number"
    if not isinstance(value, (int, float)):
        return f"expires_in is {_describe(value)}, expected a number of seconds"
    if isinstance(value, float) and not math.isfinite(value):
        return "expires_in is not a finite number"
    if value <= 0:
        return "expires_in is zero or negative"
    if value < 1:
        return "expires_in is less than one second"
    # Compare before converting: float() of a huge JSON integer raises OverflowError.
    return float(min(value, MAX_LIFETIME))


def _parse_time(value: Any) -> DateTime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = pendulum.parse(value, strict=False)
    except Exception:  # pendulum raises several types for garbage; all mean "no usable time"
        return None
    if not isinstance(parsed, DateTime) or parsed.tzinfo is None:
        return None
    return parsed.in_timezone("UTC")
