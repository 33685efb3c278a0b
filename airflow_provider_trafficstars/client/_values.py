"""Reading a value of an answer or an argument, one way everywhere: numbers, whole numbers, flags. No Airflow."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any


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
INT64_MIN = -(2**63)


INT64_MAX = 2**63 - 1


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


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def parse_flag(value: Any) -> bool:
    """Return a boolean given as a bool, 0/1, or text (``true/false``, ``yes/no``, ``on/off``, ``1/0``: what
    a template renders and what a URI or a hand-written extra holds).

    :raises ValueError: for anything else (the caller names the argument in its typed error).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("must be true or false")
