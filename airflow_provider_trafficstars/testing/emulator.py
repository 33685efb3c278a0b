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
import math
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_trafficstars.testing import _reports as emulator_reports
from airflow_provider_trafficstars.testing._campaigns import CampaignStore
from airflow_provider_trafficstars.testing._http import TOKEN_PATH, EmulatorServer
from airflow_provider_trafficstars.testing._state import (
    REDIRECT_LOCATION,
    EmulatorState,
    FaultRule,
    RecordedRequest,
    TokenOverride,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

__all__ = ["EmulatorState", "RecordedRequest", "TrafficStarsEmulator", "main"]

#: The command line's default port: not 8080 (Airflow's API server), 8793/8794 (its log servers), 5555
#: (Flower) or 18080 (Spark's history server), and below Linux's ephemeral range (32768-60999).
DEFAULT_PORT = 18765


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
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None
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
            server = EmulatorServer((self._host, self._port), self)
            self._port = int(server.server_address[1])
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
        server.stopping.set()
        self._shutdown(server)
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def _shutdown(self, server: EmulatorServer) -> None:
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
        raw, verb = _bytes(body), method and method.upper()
        self.state.add_fault(FaultRule("fail", n, status, retry_after, path, raw, content_type, method=verb))

    def drop_next(self, n: int, *, path: str | None = None) -> None:
        self.state.add_fault(FaultRule("drop", n, path=path))

    def truncate_next(self, n: int, *, path: str | None = None, body: str | bytes | None = None) -> None:
        """Answer the next ``n`` matching calls with 200, a full Content-Length and only half the body."""
        self.state.add_fault(FaultRule("truncate", n, 200, path=path, body=_bytes(body)))

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

    def set_rate_limit(self, rate_limit: tuple[int, float] | None, *, retry_after: bool = True) -> None:
        """Answer 429 once more than ``count`` calls arrive within ``window`` seconds.

        :param retry_after: whether the 429 says ``Retry-After`` (the seconds until a call leaves the window).
        """
        self.state.set_rate_limit(rate_limit, retry_after=retry_after)

    def forbid(self, path: str, status: int | None = 401) -> None:
        """Answer ``status`` to every call with a valid token on ``path``: an endpoint the API key may not use.

        A missing or invalid token still gets the usual 401 ``invalid_token``; ``status=None`` lifts the switch.
        """
        self.state.forbid(path, status)

    def set_token_response(
        self, body: str | bytes | None, *, status: int = 200, content_type: str = "application/json"
    ) -> None:
        raw = _bytes(body)
        self.state.set_token_override(None if raw is None else TokenOverride(raw, status, content_type))

    def echo_secrets_in_errors(self, on: bool = True) -> None:
        self.state.set_echo_secrets(on)


def _bytes(body: str | bytes | None) -> bytes | None:
    return body.encode() if isinstance(body, str) else body


# -- command line ---------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the TrafficStars API emulator in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free port")
    parser.add_argument("--api-key", action="append", dest="api_keys", help="repeatable (default demo-key)")
    parser.add_argument("--token-lifetime", type=int, default=36000)
    parser.add_argument("--campaigns", type=int, default=3)
    parser.add_argument("--rate-limit", help="N/SECONDS, e.g. 100/60 (off by default)")
    parser.add_argument("--no-retry-after", action="store_true", help="the rate limit's 429s omit Retry-After")
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
    if args.no_retry_after:
        emulator.set_rate_limit(rate_limit, retry_after=False)
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
