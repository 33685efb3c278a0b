"""Campaign control and the account balance: argument checks, answer parsing and the max_change guard.

The hook, the operators, the balance sensor and its trigger all decide through these functions, so a
campaign id, a state, an amount or an answer is read one way everywhere. No Airflow imports.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_trafficstars.client._values import finite_number, parse_flag
from airflow_provider_trafficstars.client.errors import (
    TrafficStarsApiError,
    TrafficStarsConfigError,
)

CAMPAIGNS_PATH = "/v1.1/campaigns"
BALANCE_PATH = "/v2/userinfo/balance"
#: ``state`` -> the status a campaign has once it is in that state.
STATE_STATUS = {"run": "enabled", "pause": "paused"}
CAMPAIGN_STATES = tuple(STATE_STATUS)
#: The statuses of ``GET /v1.1/campaigns`` (``status[]=`` filters take these).
CAMPAIGN_STATUSES = ("enabled", "paused", "unapproved", "rejected", "draft", "no_funds_paused")
#: Ids per ``PUT /v2/campaigns/run|pause`` call: small enough for one request body and one answer to read,
#: large enough that a morning "resume everything" of a few hundred campaigns is a handful of calls.
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
#: The fields ``PATCH /v1.1/campaigns/{id}`` changes: the bid and the daily budget.
UPDATE_FIELDS = ("price", "max_daily")
#: Where a balance answer keeps the number, in the order they are looked for (see :func:`parse_balance`).
BALANCE_KEYS = ("balance", "amount", "value")


def campaign_path(campaign_id: int) -> str:
    """Return the path of one campaign, ``/v1.1/campaigns/{id}``."""
    return f"{CAMPAIGNS_PATH}/{campaign_id}"


def state_path(state: str) -> str:
    """Return the path that switches campaigns to ``state``: ``/v2/campaigns/run`` or ``/v2/campaigns/pause``."""
    return f"/v2/campaigns/{check_state(state)}"


# -- arguments -------------------------------------------------------------------------------------
def parse_campaign_id(value: Any, name: str = "campaign_id") -> int:
    """Return a campaign id (a positive integer; a string of digits from a template is accepted).

    :raises TrafficStarsConfigError: for anything else (booleans, floats, negative numbers, words).
    """
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TrafficStarsConfigError(f"{name} must be a TrafficStars campaign id (a positive integer), got {value!r}.")
    return value


def parse_campaign_ids(value: Any) -> list[int]:
    """Return campaign ids in their first-seen order, without duplicates.

    Takes a list (an XCom list through ``XComArg`` or a native template), one id, or the text a Jinja
    template renders: ``"[1, 2]"`` (JSON) or ``"1, 2"``. An empty list is allowed (nothing to do).

    :raises TrafficStarsConfigError: naming the first entry that is not a campaign id.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise TrafficStarsConfigError(
                    f"campaign_ids looks like a list but is not valid JSON: {text[:80]!r}."
                ) from None
        else:
            value = [part for part in (p.strip() for p in text.split(",")) if part]
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TrafficStarsConfigError(
            f"campaign_ids must be a list of campaign ids (or an XCom holding one), got {type(value).__name__}."
        )
    return list(dict.fromkeys(parse_campaign_id(v, "each of campaign_ids") for v in value))


def check_state(value: Any) -> str:
    """Return ``"run"`` or ``"pause"``, or raise TrafficStarsConfigError."""
    if value not in CAMPAIGN_STATES:
        raise TrafficStarsConfigError(f"state must be 'run' or 'pause', got {value!r}.")
    return str(value)


def check_batch_size(value: Any) -> int:
    """Return a batch size of 1..:data:`MAX_BATCH_SIZE` ids, or raise TrafficStarsConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH_SIZE:
        raise TrafficStarsConfigError(f"batch_size must be an integer from 1 to {MAX_BATCH_SIZE}, got {value!r}.")
    return value


def parse_amount(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return a money amount (a finite number, > 0 or also 0 with ``allow_zero``); numeric strings are accepted.

    :raises TrafficStarsConfigError: naming ``name`` for anything else.
    """
    number = finite_number(value)
    if number is None or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise TrafficStarsConfigError(f"{name} must be a finite number {bound}, got {value!r}.")
    return number


def parse_max_change(value: Any) -> float | None:
    """Return the ``max_change`` guard (a fraction > 0: 0.5 allows a 50 % move), or None for no guard."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    return parse_amount(value, "max_change")


def check_flag(value: Any, name: str) -> bool:
    """Return a boolean argument (:func:`~.client._values.parse_flag`: a template renders text)."""
    try:
        return parse_flag(value)
    except ValueError:
        raise TrafficStarsConfigError(f"{name} must be true or false, got {value!r}.") from None


def batches(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    """Yield ``ids`` in order, ``size`` at a time."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


# -- answers ---------------------------------------------------------------------------------------
def _bad_answer(what: str, method: str, endpoint: str) -> TrafficStarsApiError:
    return TrafficStarsApiError(
        f"TrafficStars answered {method} {endpoint} with {what}.", status_code=200, method=method, endpoint=endpoint
    )


def parse_campaign(payload: Any, campaign_id: int) -> dict[str, Any]:
    """Return the campaign of a ``GET``/``PATCH /v1.1/campaigns/{id}`` answer (already unwrapped).

    :raises TrafficStarsApiError: when it is not an object with a text ``status``, or names another id.
    """
    path = campaign_path(campaign_id)
    if not isinstance(payload, dict) or not isinstance(payload.get("status"), str):
        raise _bad_answer("something that is not a campaign (an object with a status)", "GET", path)
    if "id" in payload and finite_number(payload["id"]) != campaign_id:
        raise _bad_answer("another campaign's id", "GET", path)
    return payload


def campaign_value(campaign: Mapping[str, Any], field: str) -> float | None:
    """Return a numeric field of a campaign (``price``, ``max_daily``), or None when it has none."""
    return finite_number(campaign.get(field))


def statuses_of(listed: Iterable[Any]) -> dict[int, str]:
    """Return ``{id: status}`` of a ``GET /v1.1/campaigns`` answer; entries without an id or a status are left out."""
    found: dict[int, str] = {}
    for entry in listed:
        number = finite_number(entry.get("id")) if isinstance(entry, dict) else None
        if number is not None and number > 0 and number == int(number) and isinstance(entry.get("status"), str):
            found[int(number)] = entry["status"]
    return found


def _answer_ids(entries: Any, key: str, path: str) -> list[int]:
    if not isinstance(entries, list):
        raise _bad_answer(f"a {key!r} that is not a list", "PUT", path)
    ids: list[int] = []
    for entry in entries:
        if isinstance(entry, dict):  # an entry may be an object naming the campaign
            entry = entry.get("id", entry.get("campaign_id"))
        number = finite_number(entry)
        if number is None or number <= 0 or number != int(number):
            raise _bad_answer(f"an entry of {key!r} that is not a campaign id", "PUT", path)
        ids.append(int(number))
    return ids


def parse_state_result(payload: Any, sent: Sequence[int], state: str) -> dict[str, Any]:
    """Return ``{"success": [...], "failed": [...], "total": n}`` of a ``PUT /v2/campaigns/run|pause`` answer.

    TrafficStars answers 200 even when campaigns could not be changed: they come back in ``failed``. An id
    that was sent but is in neither list is counted as failed (its change is not confirmed).

    :raises TrafficStarsApiError: when the answer lacks the two lists or names ids that were not sent.
    """
    path = state_path(state)
    if not isinstance(payload, dict) or "success" not in payload or "failed" not in payload:
        raise _bad_answer("no 'success' and 'failed' lists", "PUT", path)
    success, failed = _answer_ids(payload["success"], "success", path), _answer_ids(payload["failed"], "failed", path)
    stray = sorted((set(success) | set(failed)) - set(sent))
    if stray:
        raise _bad_answer(f"campaign ids that were not sent ({stray[:10]})", "PUT", path)
    failed_set = set(failed) - set(success)
    failed_set.update(set(sent) - set(success) - set(failed))
    total = payload.get("total")
    if total is not None and (finite_number(total) is None or isinstance(total, str)):
        raise _bad_answer("a 'total' that is not a number", "PUT", path)
    return {
        "success": [i for i in sent if i in set(success)],
        "failed": [i for i in sent if i in failed_set],
        "total": int(total) if total is not None else len(sent),
    }


def parse_balance(payload: Any) -> float:
    """Return the account balance of a ``GET /v2/userinfo/balance`` answer (already unwrapped).

    Accepted: a bare number or numeric string; an object whose ``balance`` (else ``amount``, else ``value``)
    is one, or is itself such an object (``{"balance": {"amount": 12.5, "currency": "USD"}}``). The currency,
    if any, is the account's: amounts are compared as they are.

    :raises TrafficStarsApiError: for any other answer.
    """
    for _depth in range(3):
        number = finite_number(payload)
        if number is not None:
            return number
        if not isinstance(payload, dict):
            break
        key = next((k for k in BALANCE_KEYS if k in payload), None)
        if key is None:
            break
        payload = payload[key]
    raise _bad_answer(f"no balance (a number, or an object with one of {list(BALANCE_KEYS)})", "GET", BALANCE_PATH)
