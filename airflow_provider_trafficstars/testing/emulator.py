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
from airflow_provider_trafficstars.testing._http import EmulatorServer
from airflow_provider_trafficstars.testing._state import (
    EmulatorState,
    RecordedRequest,
)
from airflow_provider_trafficstars.testing._switches import EmulatorSwitches

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

__all__ = ["EmulatorState", "RecordedRequest", "TrafficStarsEmulator", "main"]

#: The command line's default port: not 8080 (Airflow's API server), 8793/8794 (its log servers), 5555
#: (Flower) or 18080 (Spark's history server), and below Linux's ephemeral range (32768-60999).
DEFAULT_PORT = 18765


class TrafficStarsEmulator(EmulatorSwitches):
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
