"""The emulator's control endpoints, ``/_emulator/<name>``: the Python switch API over HTTP, for other processes.

Control requests are never logged, counted, faulted or authenticated (``emulator_http`` routes them here
before any of that). GETs answer a snapshot; POSTs take a JSON object of arguments and answer ``{"ok": true}``.
Stdlib only, no Airflow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_trafficstars.testing import _reports as emulator_reports
from airflow_provider_trafficstars.testing._state import REDIRECT_LOCATION, ApiError

if TYPE_CHECKING:
    from airflow_provider_trafficstars.testing._switches import EmulatorSwitches

#: name -> the one method it takes.
CONTROL_ROUTES: dict[str, str] = {
    "stats": "GET", "reset": "POST", "revoke": "POST", "advance": "POST", "fail": "POST",
    "drop": "POST", "latency": "POST", "keys": "POST", "echo": "POST",
    "truncate": "POST", "token_response": "POST", "rate_limit": "POST", "redirect": "POST", "trickle": "POST",
    "campaigns": "GET", "set_campaigns": "POST", "forbid": "POST",
    **dict.fromkeys(emulator_reports.CONTROLS, "POST"),
}  # fmt: skip


def answer(emu: EmulatorSwitches, name: str, method: str, body: bytes) -> object:
    """Run control endpoint ``name`` on ``emu``; return the JSON payload of its 200 answer.

    :param emu: the emulator to inspect or switch.
    :param name: the path after ``/_emulator/``.
    :param method: the request's HTTP method.
    :param body: the request body: empty or a JSON object of arguments.
    :raises ApiError: 404 for an unknown name, 405 for the wrong method, 400 for bad arguments.
    """
    if name not in CONTROL_ROUTES:
        raise ApiError(404, "not_found", f"no such control endpoint: {name}")
    allowed = CONTROL_ROUTES[name]
    if method != allowed:
        raise ApiError(405, "method_not_allowed", f"use {allowed}", {"Allow": allowed})
    if name in ("stats", "campaigns"):
        return emu.state.stats() if name == "stats" else emu.campaigns.snapshot()
    try:
        args = json.loads(body) if body.strip() else {}
    except ValueError:
        raise ApiError(400, "invalid_request", "body must be JSON") from None
    if not isinstance(args, dict):
        raise ApiError(400, "invalid_request", "body must be a JSON object")
    try:
        _run(emu, name, args)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    return {"ok": True}


def _run(emu: EmulatorSwitches, name: str, args: dict[str, Any]) -> None:
    path = _opt(args, "path", str)
    if name == "reset":
        emu.reset()
    elif name == "revoke":
        emu.revoke_all()
    elif name == "advance":
        emu.advance(_number(args, "seconds"))
    elif name == "latency":
        emu.set_latency(_number(args, "seconds"), path=path)
    elif name == "trickle":
        emu.trickle(_number(args, "seconds"), path=path)
    elif name == "redirect":
        emu.redirect_next(
            _int(args, "n", 1),
            path=path,
            status=_int(args, "status", 307),
            location=_opt(args, "location", str) or REDIRECT_LOCATION,
        )
    elif name == "echo":
        emu.echo_secrets_in_errors(bool(args.get("on", True)))
    elif name == "drop":
        emu.drop_next(_int(args, "n", 1), path=path)
    elif name == "truncate":
        emu.truncate_next(_int(args, "n", 1), path=path)
    elif name == "token_response":
        emu.set_token_response(
            _opt(args, "body", str),
            status=_int(args, "status", 200),
            content_type=_opt(args, "content_type", str) or "application/json",
        )
    elif name == "rate_limit":
        limit = args.get("requests")
        emu.set_rate_limit(
            None if limit is None else (_int(args, "requests", 0), _number(args, "window")),
            retry_after=_flag(args, "retry_after", True),
        )
    elif name == "forbid":
        if path is None:
            raise ValueError("path is required")
        emu.forbid(path, None if args.get("status", 401) is None else _int(args, "status", 401))
    elif name == "fail":
        retry_after = args.get("retry_after")
        emu.fail_next(
            _int(args, "n", 1),
            _int(args, "status", 503),
            retry_after=None if retry_after is None else str(retry_after),
            path=path,
            body=_opt(args, "body", str),
            content_type=_opt(args, "content_type", str) or "application/json",
            method=_opt(args, "method", str),
        )
    elif name == "set_campaigns":
        emu.campaigns.control(args)
    elif name in emulator_reports.CONTROLS:
        emulator_reports.run_control(emu.reports, name, args)
    elif name == "keys":
        for key_list, action in (
            (args.get("add", []), emu.add_api_key),
            (args.get("remove", []), emu.remove_api_key),
        ):
            if not isinstance(key_list, list) or not all(isinstance(k, str) for k in key_list):
                raise ValueError("add/remove must be lists of strings")
            for key in key_list:
                action(key)


def _number(args: dict[str, Any], name: str) -> float:
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _int(args: dict[str, Any], name: str, default: int) -> int:
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def _flag(args: dict[str, Any], name: str, default: bool) -> bool:
    value = args.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _opt(args: dict[str, Any], name: str, kind: type[str]) -> str | None:
    value = args.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__}")
    return value
