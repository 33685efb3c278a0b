"""An offline emulator of the TrafficStars API (stdlib only: it imports nothing from Airflow).

Use it in tests::

    with TrafficStarsEmulator(api_keys=["demo-key"]) as emu:
        requests.post(f"{emu.url}/v1/auth/token", data={...})

or from a shell::

    python -m airflow_provider_trafficstars.testing.emulator --api-key demo-key   # port 18765

It is strict where the documented API is strict (form-encoded token requests, bearer tokens that
expire or get revoked, no JSON content type on GET) and offers fault injection (errors, dropped
connections, answers cut off mid-body, redirects, latency, bodies trickled one byte at a time, odd
token answers, rate limiting). Paths under
``/_emulator/`` control it over HTTP for other processes; they are never logged, counted, faulted or
authenticated.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, parse_qsl, urlsplit

from airflow_provider_trafficstars.testing import emulator_reports
from airflow_provider_trafficstars.testing.emulator_campaigns import (
    CAMPAIGN_ROUTES,
    CampaignStore,
    route_for,
    seed_campaign,
)
from airflow_provider_trafficstars.testing.emulator_state import (
    CONTROL_PREFIX,
    ApiError,
    EmulatorState,
    FaultRule,
    IssuedToken,
    RecordedRequest,
    TokenOverride,
    fake_id_token,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

__all__ = ["EmulatorState", "RecordedRequest", "TrafficStarsEmulator", "main"]

TOKEN_PATH = "/v1/auth/token"
#: path -> allowed method -> handler name; every route except the token one needs a bearer token.
ROUTES: dict[str, dict[str, str]] = {
    TOKEN_PATH: {"POST": "token"},
    "/v1/auth/info": {"POST": "info"},
    "/v1/auth/logout": {"GET": "logout"},
    **{path: {"GET": "report"} for path in emulator_reports.REPORT_PATHS},
    **CAMPAIGN_ROUTES,
}
CONTROL_ROUTES: dict[str, str] = {
    "stats": "GET", "reset": "POST", "revoke": "POST", "advance": "POST", "fail": "POST",
    "drop": "POST", "latency": "POST", "keys": "POST", "echo": "POST",
    "truncate": "POST", "token_response": "POST", "rate_limit": "POST", "redirect": "POST", "trickle": "POST",
    "campaigns": "GET", "set_campaigns": "POST",
    **dict.fromkeys(emulator_reports.CONTROLS, "POST"),
}  # fmt: skip
#: The command line's default port: not 8080 (Airflow's API server), 8793/8794 (its log servers), 5555
#: (Flower) or 18080 (Spark's history server), and below Linux's ephemeral range (32768-60999).
DEFAULT_PORT = 18765
MAX_BODY = 10 * 1024 * 1024
_FORM = "application/x-www-form-urlencoded"
#: Where redirect_next() sends the client unless told otherwise: another host than the emulator.
REDIRECT_LOCATION = "http://other.example/x"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TrafficStarsEmulator/1.0"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body segments

    _recording: tuple[str, str, str, float] | None = None  # (method, path, query, at) until answered
    _body = b""
    _token = ""
    _responded = False
    _pause = 0.0  # seconds between body bytes (the trickle switch); 0: the body in one write

    def log_message(self, format: str, *args: Any) -> None:  # silence the stderr access log
        return

    def version_string(self) -> str:
        return self.server_version

    @property
    def emu(self) -> TrafficStarsEmulator:
        return cast("_Server", self.server).emulator

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- plumbing ------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if sum(map(len, chunks)) > MAX_BODY:
                    raise ApiError(413, "invalid_request", "request body too large")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not (length.isascii() and length.strip().isdigit()):
            raise ApiError(400, "invalid_request", "invalid Content-Length")
        if int(length) > MAX_BODY:
            raise ApiError(413, "invalid_request", "request body too large")
        return self.rfile.read(int(length))

    def _media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._responded = True
        if self._recording is not None:
            method, path, query, at = self._recording
            self._recording = None
            entry = RecordedRequest(method, path, query, status, self._header_dict(), self._body, at)
            self.emu.state.record(entry)
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status in (204, 304):
            body = b""
        else:
            if content_type is not None and (body or status >= 400):
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self._write_body(body)

    def _write_body(self, body: bytes) -> None:
        """Write ``body`` at once, or one byte at a time with the trickle pause between bytes."""
        if self._pause <= 0:
            self.wfile.write(body)
            return
        for index in range(len(body)):
            if index and self.emu._stopping.wait(self._pause):
                self.close_connection = True  # the emulator stops: give up the rest of the body
                return
            self.wfile.write(body[index : index + 1])

    def _send_truncated(self, fault: FaultRule) -> None:
        """Announce a whole body in Content-Length, send only half of it and close the connection."""
        body = fault.body
        if body is None:
            body = json.dumps({"response": [vars(seed_campaign(i)) for i in range(1, 41)]}).encode()
        self._responded = True
        if self._recording is not None:
            method, path, query, at = self._recording
            self._recording = None
            self.emu.state.record(RecordedRequest(method, path, query, fault.status, self._header_dict(), b"", at))
        self.send_response(fault.status)
        self.send_header("Content-Type", fault.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _send_json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _error(self, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": error, "error_description": description + self._echo()}, headers)

    def _echo(self) -> str:
        """With echo_secrets_in_errors on: the credentials this request presented, else ''."""
        if not self.emu.state.echoing():
            return ""
        found = []
        authorization = self.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            found.append(authorization[7:].strip())
        if self._media_type() == _FORM:
            fields = parse_qs(self._body.decode("utf-8", "replace"), keep_blank_values=True)
            found.extend(fields.get("refresh_token", []))
        return "".join(f" (presented credential: {secret})" for secret in found if secret)

    def _header_dict(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for name, value in self.headers.items():
            result[name] = f"{result[name]}, {value}" if name in result else value
        return result

    def _bearer(self) -> IssuedToken | None:
        values = self.headers.get_all("Authorization") or []
        if len(values) != 1:
            return None
        scheme, _, token = values[0].strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            return None
        self._token = token
        return self.emu.state.valid_token(token)

    # -- dispatch ------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        path, method, state = split.path, self.command, self.emu.state
        control = path.startswith(CONTROL_PREFIX)
        self._body, self._recording, self._token, self._responded = b"", None, "", False
        self._pause = 0.0 if control else state.trickle_for(path)
        if not control:
            self._recording = (method, path, split.query, state.count_request(method, path))
        try:
            self._body = self._read_body()
        except (ApiError, ValueError) as exc:
            self.close_connection = True
            err = exc if isinstance(exc, ApiError) else ApiError(400, "invalid_request", "bad body")
            self._error(err.status, err.error, err.description)
            return
        try:
            if control:
                self._control(path[len(CONTROL_PREFIX) :], method)
            else:
                self._api(path, split.query, method, state)
        except ApiError as exc:
            self._error(exc.status, exc.error, exc.description, exc.headers)
        except (ConnectionError, TimeoutError):
            raise
        except Exception:  # a bug in the emulator: answer 500 rather than hang the client
            import traceback

            traceback.print_exc()
            if not self._responded:
                self._error(500, "server_error", "emulator internal error")

    def _api(self, path: str, query: str, method: str, state: EmulatorState) -> None:
        latency = state.latency_for(path)
        if latency > 0 and self.emu._stopping.wait(latency):
            self.close_connection = True  # the emulator stops: no answer
            return
        fault = state.take_fault(path, method)
        if fault is not None and fault.kind == "drop":
            assert self._recording is not None
            m, p, q, at = self._recording
            state.record(RecordedRequest(m, p, q, 0, self._header_dict(), self._body, at))
            self._recording = None
            self.close_connection = True  # closing without a byte: the client sees a disconnect
            return
        if fault is not None and fault.kind == "truncate":
            self._send_truncated(fault)
            return
        if fault is not None and fault.kind == "redirect":
            self._send(fault.status, b"", None, {"Location": fault.location or ""})
            return
        if fault is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            if fault.body is None:
                self._error(fault.status, "emulated_fault", f"emulated HTTP {fault.status}", extra)
            else:
                self._send(fault.status, fault.body, fault.content_type, extra)
            return
        retry_after = state.rate_limited()
        if retry_after is not None:
            self._error(429, "rate_limited", "too many requests", {"Retry-After": str(retry_after)})
            return
        route = ROUTES.get(path) or route_for(path)
        if route is None:
            raise ApiError(404, "not_found", f"no such endpoint: {path}")
        if method not in route:
            allowed = ", ".join(route)
            self._error(405, "method_not_allowed", f"use {allowed}", {"Allow": allowed})
            return
        if method == "GET" and self._media_type() == "application/json":
            raise ApiError(400, "invalid_request", "GET requests must not carry Content-Type: application/json")
        if route[method] == "token":
            self._handle_token(state)
            return
        record = self._bearer()
        if record is None:
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            self._error(401, "invalid_token", "missing, invalid, revoked or expired access token", challenge)
            return
        getattr(self, "_handle_" + route[method])(state, record, query)

    # -- API endpoints -------------------------------------------------------------------------
    def _handle_token(self, state: EmulatorState) -> None:
        override = state.get_token_override()
        if override is not None:
            self._send(override.status, override.body, override.content_type)
            return
        if self._media_type() != _FORM:
            raise ApiError(400, "invalid_request", f"the token request body must be {_FORM}")
        try:
            fields = parse_qs(self._body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_request", "the body is not UTF-8") from None
        if any(len(values) > 1 for values in fields.values()):
            raise ApiError(400, "invalid_request", "a parameter is repeated")
        grant_type = fields.get("grant_type", [""])[0]
        if not grant_type:
            raise ApiError(400, "invalid_request", "grant_type is required")
        if grant_type != "refresh_token":
            raise ApiError(400, "unsupported_grant_type", "only grant_type=refresh_token is supported")
        api_key = fields.get("refresh_token", [""])[0]
        if not api_key:
            raise ApiError(400, "invalid_request", "refresh_token is required")
        if not state.is_known_key(api_key):
            raise ApiError(401, "invalid_grant", "the refresh token (API key) is unknown")
        token, record = state.issue_token(api_key)
        payload = {
            "access_token": token,
            "expires_in": state.token_lifetime,
            "token_type": "Bearer",
            "id_token": fake_id_token(token, record),
        }
        self._send_json(200, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _handle_info(self, state: EmulatorState, record: IssuedToken, query: str) -> None:
        payload = {
            "access_token": self._token,
            "expires_in": state.remaining_seconds(record),
            "refresh_token": record.api_key,
            "token_type": "Bearer",
        }
        self._send_json(200, payload, {"Cache-Control": "no-store"})

    def _handle_logout(self, state: EmulatorState, record: IssuedToken, query: str) -> None:
        state.revoke(self._token)
        self._send(204, content_type=None)

    def _handle_campaigns(self, state: EmulatorState, record: IssuedToken, query: str) -> None:
        path = urlsplit(self.path).path
        self._send_json(200, self.emu.campaigns.handle(self.command, path, query, self._media_type(), self._body))

    def _handle_report(self, state: EmulatorState, record: IssuedToken, query: str) -> None:
        path, params = urlsplit(self.path).path, parse_qsl(query, keep_blank_values=True)
        self._send_json(200, emulator_reports.answer(self.emu.reports, path, params, self.emu.campaign_ids))

    # -- control endpoints ---------------------------------------------------------------------
    def _control(self, name: str, method: str) -> None:
        if name not in CONTROL_ROUTES:
            raise ApiError(404, "not_found", f"no such control endpoint: {name}")
        if method != CONTROL_ROUTES[name]:
            allowed = CONTROL_ROUTES[name]
            self._error(405, "method_not_allowed", f"use {allowed}", {"Allow": allowed})
            return
        if name in ("stats", "campaigns"):
            self._send_json(200, self.emu.state.stats() if name == "stats" else self.emu.campaigns.snapshot())
            return
        try:
            args = json.loads(self._body) if self._body.strip() else {}
        except ValueError:
            raise ApiError(400, "invalid_request", "body must be JSON") from None
        if not isinstance(args, dict):
            raise ApiError(400, "invalid_request", "body must be a JSON object")
        try:
            self._run_control(name, args)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "invalid_request", str(exc)) from None
        self._send_json(200, {"ok": True})

    def _run_control(self, name: str, args: dict[str, Any]) -> None:
        emu = self.emu
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
            emu.set_rate_limit(None if limit is None else (_int(args, "requests", 0), _number(args, "window")))
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


def _opt(args: dict[str, Any], name: str, kind: type[str]) -> str | None:
    value = args.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__}")
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: TrafficStarsEmulator) -> None:
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's getfqdn() (a slow reverse DNS lookup)
        TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections so clients cannot keep talking to a stopped emulator."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away (timeouts in tests): not worth a traceback
        super().handle_error(request, client_address)


class TrafficStarsEmulator:
    """A local TrafficStars API served from a daemon thread (see the module docstring)."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("demo-key",),
        token_lifetime: int = 36000,
        host: str = "127.0.0.1",
        port: int = 0,
        campaigns: int = 3,
        rate_limit: tuple[int, float] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(api_keys, str):
            raise TypeError("api_keys must be an iterable of keys, not one string")
        if token_lifetime <= 0 or campaigns < 0 or not 0 <= port <= 65535:
            raise ValueError("token_lifetime must be > 0, campaigns >= 0 and port in 0..65535")
        if rate_limit is not None and (rate_limit[0] < 1 or rate_limit[1] <= 0):
            raise ValueError("rate_limit must be (requests >= 1, window seconds > 0)")
        self.state = EmulatorState(
            api_keys=set(api_keys),
            token_lifetime=token_lifetime,
            rate_limit=rate_limit,
            clock=clock or time.time,
        )
        #: Campaign run/pause state, bids, budgets and the balance (``emulator_campaigns``).
        self.campaigns = CampaignStore(campaigns)
        #: The report switches (late revisions, failing days, ...): see ``emulator_reports.ReportState``.
        self.reports = emulator_reports.ReportState()
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"TrafficStarsEmulator({where}, {self.state!r})"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> TrafficStarsEmulator:
        """Bind and serve in a daemon thread. After stop(), start() binds the same port again."""
        with self._lifecycle:
            if self._server is not None:
                return self
            server = _Server((self._host, self._port), self)
            self._port = int(server.server_address[1])
            self._stopping.clear()
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="ts-emulator", daemon=True
            )
            self._server = server
            self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down, cut open connections and close the socket. Idempotent."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._stopping.set()
        self._shutdown(server)
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def _shutdown(self, server: _Server) -> None:
        """server.shutdown(), woken up by dummy connections instead of waiting for the poll interval."""
        closer = threading.Thread(target=server.shutdown, name="ts-emulator-stop", daemon=True)
        closer.start()
        while closer.is_alive():
            with contextlib.suppress(OSError), socket.create_connection((self._client_host, self._port), 0.2):
                pass
            closer.join(0.01)

    def __enter__(self) -> TrafficStarsEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._port

    @property
    def url(self) -> str:
        host = self._client_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def _client_host(self) -> str:
        return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self._host, self._host)

    # -- inspection ----------------------------------------------------------------------------
    @property
    def campaign_ids(self) -> list[int]:
        """The ids of the account's campaigns (the reports have rows for these)."""
        return self.campaigns.ids()

    def request_log(self) -> list[RecordedRequest]:
        return self.state.request_log()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return self.state.count(method, path)

    @property
    def token_requests(self) -> int:
        return self.state.count("POST", TOKEN_PATH)

    @property
    def issued_tokens(self) -> list[str]:
        return self.state.issued_tokens()

    # -- control -------------------------------------------------------------------------------
    def reset(self) -> None:
        self.state.reset()
        self.campaigns.reset()
        self.reports.reset()

    def add_api_key(self, key: str) -> None:
        self.state.add_api_key(key)

    def remove_api_key(self, key: str) -> None:
        self.state.remove_api_key(key)

    def revoke_all(self) -> None:
        self.state.revoke_all()

    def advance(self, seconds: float) -> None:
        self.state.advance(seconds)

    def fail_next(
        self,
        n: int,
        status: int = 503,
        *,
        retry_after: str | None = None,
        path: str | None = None,
        body: str | bytes | None = None,
        content_type: str = "application/json",
        method: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching calls (any path, or ``path``; any method, or ``method``) with ``status``."""
        raw = body.encode() if isinstance(body, str) else body
        rule = FaultRule("fail", n, status, retry_after, path, raw, content_type, method=method and method.upper())
        self.state.add_fault(rule)

    def drop_next(self, n: int, *, path: str | None = None) -> None:
        self.state.add_fault(FaultRule("drop", n, path=path))

    def truncate_next(self, n: int, *, path: str | None = None, body: str | bytes | None = None) -> None:
        """Answer the next ``n`` matching calls with 200, a full Content-Length and only half the body."""
        raw = body.encode() if isinstance(body, str) else body
        self.state.add_fault(FaultRule("truncate", n, 200, path=path, body=raw))

    def redirect_next(
        self, n: int, *, path: str | None = None, status: int = 307, location: str = REDIRECT_LOCATION
    ) -> None:
        """Answer the next ``n`` matching calls with the 3xx ``status``, ``Location: location`` and no body."""
        self.state.add_fault(FaultRule("redirect", n, status, path=path, location=location))

    def set_latency(self, seconds: float, *, path: str | None = None) -> None:
        """Wait ``seconds`` before answering each call to ``path`` (every path: ``None``).

        A path's own setting wins over the one for every path; 0 removes it. The wait ends when the emulator
        stops (the call then gets no answer).
        """
        self.state.set_latency(seconds, path)

    def trickle(self, seconds_per_byte: float, *, path: str | None = None) -> None:
        """Send each answer's body on ``path`` (every path: ``None``) one byte at a time; 0 removes it.

        The headers (with the whole body's Content-Length) go out at once, then ``seconds_per_byte`` passes
        before each further byte: a client whose timeout bounds each read, not the whole call, waits about
        ``len(body) * seconds_per_byte``. The pauses end when the emulator stops.
        """
        self.state.set_trickle(seconds_per_byte, path)

    def set_rate_limit(self, rate_limit: tuple[int, float] | None) -> None:
        """Answer 429 with Retry-After once more than ``count`` calls arrive within ``window`` seconds."""
        self.state.set_rate_limit(rate_limit)

    def set_token_response(
        self, body: str | bytes | None, *, status: int = 200, content_type: str = "application/json"
    ) -> None:
        if body is None:
            self.state.set_token_override(None)
            return
        raw = body.encode() if isinstance(body, str) else body
        self.state.set_token_override(TokenOverride(raw, status, content_type))

    def echo_secrets_in_errors(self, on: bool = True) -> None:
        self.state.set_echo_secrets(on)


# -- command line ---------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the TrafficStars API emulator in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free port")
    parser.add_argument("--api-key", action="append", dest="api_keys", help="repeatable (default demo-key)")
    parser.add_argument("--token-lifetime", type=int, default=36000)
    parser.add_argument("--campaigns", type=int, default=3)
    parser.add_argument("--rate-limit", help="N/SECONDS, e.g. 100/60 (off by default)")
    parser.add_argument("--port-file", type=Path, help="write the port number here once listening")
    args = parser.parse_args(argv)
    rate_limit = None
    if args.rate_limit:
        count, _, window = args.rate_limit.partition("/")
        try:
            rate_limit = (int(count), float(window or 60))
        except ValueError:
            parser.error("--rate-limit must look like 100/60")
        if not math.isfinite(rate_limit[1]):
            parser.error("--rate-limit window must be finite")
    emulator = TrafficStarsEmulator(
        api_keys=args.api_keys or ["demo-key"],
        token_lifetime=args.token_lifetime,
        host=args.host,
        port=args.port,
        campaigns=args.campaigns,
        rate_limit=rate_limit,
    )
    try:
        emulator.start()
    except OSError as exc:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
        parser.error(f"{args.host} port {args.port} {why}: choose another with --port N (--port 0 picks a free one)")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with emulator:
        if args.port_file is not None:
            tmp = args.port_file.with_name(args.port_file.name + ".tmp")
            tmp.write_text(f"{emulator.port}\n")
            tmp.replace(args.port_file)  # atomic: readers never see a half-written file
        print(f"TrafficStars emulator listening on {emulator.url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
