"""The emulator's HTTP side: the server, and the request handler that reads each request, counts and logs
it, applies the injected faults (latency, errors, drops, cut-off bodies, redirects, trickling, rate
limiting), checks the method, content type and bearer token, and answers the API endpoints.

The endpoints' state lives in ``emulator_state`` (tokens, faults, the log), ``emulator_campaigns`` and
``emulator_reports``; :data:`ROUTES` is where their paths are registered. Paths under ``/_emulator/`` go to
``emulator_control`` instead. Stdlib only, no Airflow.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, parse_qsl, urlsplit

from airflow_provider_trafficstars.testing import _control as emulator_control
from airflow_provider_trafficstars.testing import _reports as emulator_reports
from airflow_provider_trafficstars.testing._campaigns import CAMPAIGN_ROUTES, route_for, seed_campaign
from airflow_provider_trafficstars.testing._state import (
    CONTROL_PREFIX,
    TOKEN_PATH,
    ApiError,
    EmulatorState,
    FaultRule,
    IssuedToken,
    RecordedRequest,
    fake_id_token,
)

if TYPE_CHECKING:
    from airflow_provider_trafficstars.testing._switches import EmulatorSwitches


#: path -> allowed method -> handler name; every route except the token one needs a bearer token.
ROUTES: dict[str, dict[str, str]] = {
    TOKEN_PATH: {"POST": "token"},
    "/v1/auth/info": {"POST": "info"},
    "/v1/auth/logout": {"GET": "logout"},
    **{path: {"GET": "report"} for path in emulator_reports.REPORT_PATHS},
    **CAMPAIGN_ROUTES,
}
MAX_BODY = 10 * 1024 * 1024
_FORM = "application/x-www-form-urlencoded"


class EmulatorHandler(BaseHTTPRequestHandler):
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
    def emu(self) -> EmulatorSwitches:
        return self._server.emulator

    @property
    def _server(self) -> EmulatorServer:
        return cast("EmulatorServer", self.server)

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
        self._record(status)
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

    def _record(self, status: int) -> None:
        """Log this request once, with the status it is answered with (0: dropped); control requests never."""
        if self._recording is not None:
            method, path, query, at = self._recording
            self._recording = None
            self.emu.state.record(RecordedRequest(method, path, query, status, self._header_dict(), self._body, at))

    def _write_body(self, body: bytes) -> None:
        """Write ``body`` at once, or one byte at a time with the trickle pause between bytes."""
        if self._pause <= 0:
            self.wfile.write(body)
            return
        for index in range(len(body)):
            if index and self._server.stopping.wait(self._pause):
                self.close_connection = True  # the emulator stops: give up the rest of the body
                return
            self.wfile.write(body[index : index + 1])

    def _send_truncated(self, fault: FaultRule) -> None:
        """Announce a whole body in Content-Length, send only half of it and close the connection."""
        body = fault.body
        if body is None:
            body = json.dumps({"response": [vars(seed_campaign(i)) for i in range(1, 41)]}).encode()
        self._responded = True
        self._record(fault.status)
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
        if latency > 0 and self._server.stopping.wait(latency):
            self.close_connection = True  # the emulator stops: no answer
            return
        fault = state.take_fault(path, method)
        if fault is not None and fault.kind == "drop":
            self._record(0)
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
        limited = state.rate_limited()
        if limited is not None:
            self._error(429, "rate_limited", "too many requests", limited)
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
        denied = state.forbidden_status(path)
        if denied is not None:
            challenge = {"WWW-Authenticate": 'Bearer error="insufficient_scope"'}
            self._error(denied, "insufficient_scope", "the API key may not use this endpoint", challenge)
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
        status, body = emulator_reports.respond(self.emu.reports, path, params, self.emu.campaign_ids)
        self._send(status, body or b"", "application/json" if body is not None else None)

    # -- control endpoints ---------------------------------------------------------------------
    def _control(self, name: str, method: str) -> None:
        self._send_json(200, emulator_control.answer(self.emu, name, method, self._body))


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: EmulatorSwitches) -> None:
        self.emulator = emulator
        #: Set when the emulator stops: ends latency waits and trickled bodies at once.
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, EmulatorHandler)

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
