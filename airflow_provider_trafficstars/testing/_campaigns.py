"""Campaign state of the TrafficStars emulator: run/pause, bid, daily budget, and the account balance.

:class:`CampaignStore` keeps the campaigns behind one lock and answers the campaign endpoints as the
documented API does, strictly: a JSON body (``Content-Type: application/json``) where the API takes one,
no unknown PATCH fields, ``failed`` inside a 200 for campaigns that cannot be switched. The HTTP glue is
in ``emulator_http.py`` (route registration only); tests switch the state with the Python API here or the
``/_emulator/campaigns`` (GET, a snapshot) and ``/_emulator/set_campaigns`` (POST) control endpoints.
Stdlib only, no Airflow.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

from airflow_provider_trafficstars.testing._state import ApiError

CAMPAIGNS_PATH = "/v1.1/campaigns"
BALANCE_PATH = "/v2/userinfo/balance"
STATE_PATHS = {"/v2/campaigns/run": "run", "/v2/campaigns/pause": "pause"}
#: path -> method -> handler name, merged into the emulator's routes (``/v1.1/campaigns/{id}``: :func:`route_for`).
CAMPAIGN_ROUTES: dict[str, dict[str, str]] = {
    CAMPAIGNS_PATH: {"GET": "campaigns"},
    BALANCE_PATH: {"GET": "campaigns"},
    **{path: {"PUT": "campaigns"} for path in STATE_PATHS},
}
_ITEM_ROUTE = {"GET": "campaigns", "PATCH": "campaigns"}
_ITEM = re.compile(r"/v1\.1/campaigns/([0-9]{1,18})")
STATUSES = ("enabled", "paused", "unapproved", "rejected", "draft", "no_funds_paused")
#: Statuses from which a campaign can be run or paused; any other answers ``failed``.
SWITCHABLE = frozenset({"enabled", "paused", "no_funds_paused"})
STATE_STATUS = {"run": "enabled", "pause": "paused"}
PATCH_FIELDS = ("price", "max_daily")
DEFAULT_BALANCE = 1000.0


@dataclass
class Campaign:
    id: int
    name: str
    status: str
    price: float
    max_daily: float


def seed_campaign(campaign_id: int) -> Campaign:
    """Campaign ``campaign_id`` as the emulator starts it: every third one paused, bids 0.10..2.00."""
    return Campaign(
        id=campaign_id,
        name=f"Emulated campaign #{campaign_id}",
        status="paused" if campaign_id % 3 == 0 else "enabled",
        price=round(0.10 + (campaign_id * 37 % 191) / 100, 2),
        max_daily=float(50 + (campaign_id * 53 % 46) * 10),
    )


def route_for(path: str) -> dict[str, str] | None:
    """Return the methods of a campaign path (the fixed ones and ``/v1.1/campaigns/{id}``), else None."""
    return CAMPAIGN_ROUTES.get(path) or (_ITEM_ROUTE if _ITEM.fullmatch(path) else None)


def _positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a number > 0")
    return float(value)


def _json_object(media_type: str, body: bytes) -> dict[str, Any]:
    if media_type != "application/json":
        raise ApiError(400, "invalid_request", "the body must be JSON (Content-Type: application/json)")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_request", "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return payload


class CampaignStore:
    """The campaigns and the balance of one emulated account (thread-safe)."""

    def __init__(self, count: int, balance: float = DEFAULT_BALANCE) -> None:
        self._count, self._initial_balance = count, balance
        self._lock = threading.Lock()
        self._campaigns: dict[int, Campaign] = {}
        self._balance = balance
        self._scripted: deque[float] = deque()
        self.reset()

    def reset(self) -> None:
        """Back to the seeded campaigns and the initial balance."""
        with self._lock:
            self._campaigns = {i: seed_campaign(i) for i in range(1, self._count + 1)}
            self._balance = self._initial_balance
            self._scripted.clear()

    # -- Python API for tests -------------------------------------------------------------------
    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._campaigns)

    def get(self, campaign_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._campaigns.get(campaign_id)
            return asdict(found) if found is not None else None

    def set_campaign(
        self, campaign_id: int, *, status: str | None = None, price: float | None = None, max_daily: float | None = None
    ) -> None:
        """Change (or create) a campaign, e.g. ``set_campaign(3, status="rejected")``."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        fields = {k: _positive_number(v, k) for k, v in (("price", price), ("max_daily", max_daily)) if v is not None}
        if isinstance(campaign_id, bool) or not isinstance(campaign_id, int) or campaign_id <= 0:
            raise ValueError("id must be a positive integer")
        with self._lock:
            found = self._campaigns.setdefault(campaign_id, seed_campaign(campaign_id))
            if status is not None:
                found.status = status
            for key, value in fields.items():
                setattr(found, key, value)

    def set_balance(self, amount: float, *, then: list[float] | None = None) -> None:
        """Set the balance; with ``then``, the next reads answer those values first, in order."""
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
            raise ValueError("balance must be a finite number")
        script = [float(_finite(v)) for v in then or []]
        with self._lock:
            self._balance = float(amount)
            self._scripted = deque(script)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"campaigns": [asdict(c) for _, c in sorted(self._campaigns.items())], "balance": self._balance}

    def control(self, args: dict[str, Any]) -> None:
        """``/_emulator/set_campaigns``: ``{"campaigns": [{"id", "status", "price", "max_daily"}], "balance",
        "balance_then": [...], "reset": true}``. Raises ValueError for bad arguments."""
        unknown = set(args) - {"campaigns", "balance", "balance_then", "reset"}
        if unknown:
            raise ValueError(f"unknown arguments: {sorted(unknown)}")
        if args.get("reset"):
            self.reset()
        changes = args.get("campaigns", [])
        if not isinstance(changes, list) or not all(isinstance(c, dict) and "id" in c for c in changes):
            raise ValueError("campaigns must be a list of objects with an id")
        for change in changes:
            extra = set(change) - {"id", "status", "price", "max_daily"}
            if extra:
                raise ValueError(f"unknown campaign fields: {sorted(extra)}")
            self.set_campaign(
                change["id"], status=change.get("status"), price=change.get("price"), max_daily=change.get("max_daily")
            )
        if "balance" in args or "balance_then" in args:
            then = args.get("balance_then")
            if then is not None and not isinstance(then, list):
                raise ValueError("balance_then must be a list of numbers")
            self.set_balance(args.get("balance", self.snapshot()["balance"]), then=then)

    # -- the API ----------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: str, media_type: str, body: bytes) -> Any:
        """Answer one authenticated campaign request; return the JSON payload of a 200.

        :raises ApiError: for a request the API refuses (400, 404).
        """
        if path == CAMPAIGNS_PATH:
            return {"response": self._list(query)}
        if path == BALANCE_PATH:
            with self._lock:
                balance = self._scripted.popleft() if self._scripted else self._balance
            return {"balance": balance, "currency": "USD"}
        if path in STATE_PATHS:
            return self._switch(STATE_PATHS[path], _json_object(media_type, body))
        match = _ITEM.fullmatch(path)
        assert match is not None, path  # route_for() admitted only these paths
        campaign_id = int(match.group(1))
        if method == "PATCH":
            return self._patch(campaign_id, _json_object(media_type, body))
        found = self.get(campaign_id)
        if found is None:
            raise ApiError(404, "not_found", f"campaign {campaign_id} not found")
        return found

    def _list(self, query: str) -> list[dict[str, Any]]:
        params = parse_qsl(query, keep_blank_values=True)
        if any(k == "status" for k, _ in params):
            raise ApiError(400, "invalid_request", "status is an array: send it as status[]=enabled")
        wanted = {v for k, v in params if k == "status[]"}
        bad = sorted(wanted - set(STATUSES))
        if bad:
            raise ApiError(400, "invalid_request", f"unknown status filter {bad}; use one of {STATUSES}")
        with self._lock:
            return [
                {"id": c.id, "name": c.name, "status": c.status}
                for _, c in sorted(self._campaigns.items())
                if not wanted or c.status in wanted
            ]

    def _switch(self, state: str, payload: dict[str, Any]) -> dict[str, Any]:
        ids = payload.get("campaign_ids")
        if set(payload) != {"campaign_ids"} or not isinstance(ids, list) or not ids:
            raise ApiError(400, "invalid_request", 'the body must be {"campaign_ids": [<id>, ...]}')
        if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
            raise ApiError(400, "invalid_request", "campaign_ids must be positive integers")
        success, failed = [], []
        with self._lock:
            for campaign_id in dict.fromkeys(ids):
                found = self._campaigns.get(campaign_id)
                if found is None or found.status not in SWITCHABLE:
                    failed.append(campaign_id)
                    continue
                found.status = STATE_STATUS[state]  # idempotent: switching twice is switching once
                success.append(campaign_id)
        return {"success": success, "failed": failed, "total": len(success) + len(failed)}

    def _patch(self, campaign_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(payload) - set(PATCH_FIELDS))
        if unknown or not payload:
            raise ApiError(
                400, "invalid_request", f"unknown fields {unknown}; a PATCH changes only {list(PATCH_FIELDS)}"
            )
        try:
            fields = {key: _positive_number(value, key) for key, value in payload.items()}
        except ValueError as exc:
            raise ApiError(400, "invalid_request", str(exc)) from None
        with self._lock:
            found = self._campaigns.get(campaign_id)
            if found is None:
                raise ApiError(404, "not_found", f"campaign {campaign_id} not found")
            for key, value in fields.items():
                setattr(found, key, value)
            return asdict(found)


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("balances must be finite numbers")
    return float(value)
