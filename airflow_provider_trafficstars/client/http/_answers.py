"""Reading TrafficStars answers: numbers, Retry-After, OAuth error codes, session info. No Airflow, no state."""

from __future__ import annotations

import email.utils
import json
import math
import re
from decimal import Decimal
from typing import Any

from pendulum import DateTime

from airflow_provider_trafficstars.client.errors import TrafficStarsApiError
from airflow_provider_trafficstars.client.http._redaction import SECRET_FIELDS
from airflow_provider_trafficstars.client.http._urls import INFO_PATH

#: Methods that are safe to send twice (RFC 9110 9.2.2); others are retried after 5xx / read timeouts only
#: when the caller says the call is idempotent (``idempotent=True``, e.g. a PATCH that sets fields).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def finite_number(value: Any) -> float | None:
    """Return a JSON number or numeric string (not a boolean) as a float if finite, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


#: Whole numbers are 64-bit (Parquet int64, SQL BIGINT).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: A float beyond this may already have been rounded by the JSON parser: it is no exact whole number.
EXACT_FLOAT_INT = 2**53
INTEGER = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def whole_number(value: Any) -> int:
    """Return a 64-bit whole number from an int, an integral float up to 2**53, or its text; never via float.

    ``"9007199254740993"`` stays 9007199254740993; ``"12.0"`` and ``12.0`` are 12.

    :raises ValueError: for a bool, a fraction, a float beyond 2**53 (it may have been rounded), text that
        is not a decimal number, or a value outside 64 bits.
    """
    if isinstance(value, bool):
        raise ValueError("a bool is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer() and abs(value) <= EXACT_FLOAT_INT):
            raise ValueError("not an exact whole number")
        number = int(value)
    elif isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, str) and DECIMAL.fullmatch(value.strip()):
        exact = Decimal(value.strip())
        if exact.adjusted() > 18 or exact != exact.to_integral_value():
            raise ValueError("not a 64-bit whole number")
        number = int(exact)
    else:
        raise ValueError("not a whole number")
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError("outside 64 bits")
    return number


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
