"""Scenario 3: N separate OS processes on one metadata DB ask for the token at the same instant.

A spawner process (its own interpreter, configured for the DB under test) imports Airflow and the hook,
opens the ORM once and then forks N children, so that every import is finished long before the start.
Each child opens its own DB connection and HTTP session, connects to the controller's barrier socket and
waits. For each round the controller clears the token and lease Variables (a cold cache), resets the
emulator's counters, lets every child build a fresh hook, then releases them all at once with one byte
each and collects what every child measured: the time to a usable token, whether it renewed, and its
Variable reads and writes. Outside a task the hook reads and writes ``airflow.models.Variable`` straight
on the metadata DB, which is the path exercised here (SQLite serialises the writers with its file lock).

Run a spawner by hand: ``python -m benchmarks.contention spawn N PORT`` (the controller does this).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, EmulatorProcess, airflow_env, conn_json, kill_group, median, percentile

LEASE_CONN, NAIVE_CONN = "ts_lease", "ts_naive"
WARMUP_KEY = "ts_bench_warmup"


# -- the processes under test ---------------------------------------------------------------------
def _child(port: int) -> int:
    from airflow.models import Variable

    from airflow_provider_trafficstars.client.cache._lease_record import LeaseTimings
    from airflow_provider_trafficstars.client.cache._record import LEASE_SUFFIX
    from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook, default_token_variable

    # This process's own DB connection, and the read and write paths warmed up, before the start: a
    # long-running worker has them warm too.
    Variable.get(WARMUP_KEY, default_var=None)
    Variable.set(f"{WARMUP_KEY}_{os.getpid()}", "x")
    Variable.delete(f"{WARMUP_KEY}_{os.getpid()}")
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        stream = sock.makefile("rw", encoding="utf-8")
        hook: TrafficStarsHook | None = None
        stream.write("ready\n")
        stream.flush()
        for line in stream:
            cmd, *args = line.split()
            reply: dict[str, Any] = {"ok": True}
            if cmd == "exit":
                return 0
            if cmd == "clear":  # the connection's token and lease Variables
                token_variable = default_token_variable(args[0])
                for key in (token_variable, token_variable + LEASE_SUFFIX):
                    Variable.delete(key)
            elif cmd == "prep":
                # A round stands for fresh task processes: forget the previous rounds' secrets. Airflow's
                # maskers (one for the SDK, one for airflow.models.Variable, which masks every value it
                # reads from a key holding "token") recompile one regex of all secrets on each new one,
                # so a long-lived process would slow down a little more every round.
                _reset_maskers()
                hook = TrafficStarsHook(args[0])
                _ = hook.get_conn()  # read the connection and build the client before the start
                if len(args) > 1:  # a tuning sweep tries other lease delays
                    hook.get_conn()._single_flight.timings = LeaseTimings(**json.loads(args[1]))
            elif cmd == "go" and hook is not None and args[:1] == ["triggers"]:
                reply = _measure_triggers(hook.trafficstars_conn_id, int(args[1]))
            elif cmd == "go" and hook is not None:
                reply = _measure(hook)
            stream.write(json.dumps(reply) + "\n")
            stream.flush()
    return 0


def _reset_maskers() -> None:
    for module in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
        # Other Airflow versions keep theirs elsewhere: there it only costs the benchmark some speed.
        with contextlib.suppress(ImportError, AttributeError):
            __import__(module, fromlist=["reset_secrets_masker"]).reset_secrets_masker()


def _trace(hook: Any, started: list[float]) -> list[tuple[str, float, float]]:
    """Wrap the cache's and the lease's operations to record (what, start, seconds) of each one."""
    events: list[tuple[str, float, float]] = []
    client = hook.get_conn()
    targets = [(client.cache, n) for n in ("load", "save", "load_lease", "save_lease")]
    targets += [(client, "_fetch"), (client._single_flight, "_sleep")]
    for obj, name in targets:
        original = getattr(obj, name)

        def wrapped(*args: Any, _original: Any = original, _name: str = name) -> Any:
            t0 = time.perf_counter()
            try:
                return _original(*args)
            finally:
                events.append((_name, round(t0 - started[0], 4), round(time.perf_counter() - t0, 4)))

        setattr(obj, name, wrapped)
    return events


def _count_calls(hook: Any) -> dict[str, int]:
    """Wrap the client's token fetch and the cache's operations to count the calls of one round."""
    counts: dict[str, int] = {}
    client = hook.get_conn()
    targets = [(client.cache, n) for n in ("load", "save", "load_lease", "save_lease", "clear_lease")]
    for obj, name in [*targets, (client, "_fetch")]:
        original = getattr(obj, name, None)
        if original is None:
            continue
        counts[name] = 0

        def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            counts[_name] += 1
            return _original(*args)

        setattr(obj, name, counted)
    return counts


def _measure_triggers(conn_id: str, n: int) -> dict[str, Any]:
    """Run ``n`` session triggers in one event loop (as one triggerer does) to their first event."""
    import asyncio

    from airflow_provider_trafficstars.triggers.trafficstars import TrafficStarsSessionTrigger

    async def first(trigger: TrafficStarsSessionTrigger) -> str:
        async for event in trigger.run():
            return str(event.payload.get("status"))
        return "no event"

    async def all_of_them() -> list[str]:
        deadline = time.time() + 120
        triggers = [TrafficStarsSessionTrigger(conn_id, poke_interval=0.2, timeout_at=deadline) for _ in range(n)]
        return list(await asyncio.gather(*(first(t) for t in triggers)))

    started = time.perf_counter()
    statuses = asyncio.run(all_of_them())
    bad = [s for s in statuses if s != "success"]
    return {
        "latency": time.perf_counter() - started,
        "renewed": 0,  # counted by the emulator: a trigger's client is its own
        "reads": 0,
        "writes": 0,
        "lease_reads": 0,
        "lease_writes": 0,
        "error": f"trigger events {bad}" if bad else None,
        "trace": [],
    }


def _measure(hook: Any) -> dict[str, Any]:
    started = [0.0]
    counts = _count_calls(hook)
    events = _trace(hook, started) if os.environ.get("TS_BENCH_TRACE") else []
    started[0] = time.perf_counter()
    error = None
    try:
        hook.get_token()
    except Exception as exc:  # reported, counted as a failure by the controller
        error = type(exc).__name__
    latency = time.perf_counter() - started[0]
    return {
        "latency": latency,
        "renewed": counts["_fetch"],
        "reads": counts.get("load", 0),
        "writes": counts.get("save", 0),
        "lease_reads": counts.get("load_lease", 0),
        "lease_writes": counts.get("save_lease", 0) + counts.get("clear_lease", 0),
        "error": error,
        "trace": events,
    }


def spawn(n: int, port: int) -> int:
    """Import everything, open the ORM, fork ``n`` children and wait for them."""
    from airflow.models import Variable

    import airflow_provider_trafficstars.hooks.trafficstars  # noqa: F401  (with _compat: the Task SDK on 3.x)

    Variable.get(WARMUP_KEY, default_var=None)
    children = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                code = _child(port)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        children.append(pid)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += status != 0
    return 1 if failed else 0


# -- the controller -------------------------------------------------------------------------------
@dataclass
class Round:
    """What one round measured."""

    mode: str
    token_requests: int
    latencies: list[float]
    renewals: int
    reads: int
    lease_reads: int
    writes: int
    errors: list[str] = field(default_factory=list)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95)


class ContentionPool:
    """N forked processes on the metadata DB ``db_url`` against ``emulator``; run rounds, then close()."""

    def __init__(self, db_url: str, home: Path, emulator: EmulatorProcess, api_key: str, n: int = 16) -> None:
        self.emulator, self.n = emulator, n
        env = airflow_env(
            home,
            db_url,
            AIRFLOW_CONN_TS_LEASE=conn_json(emulator.url, api_key),
            AIRFLOW_CONN_TS_NAIVE=conn_json(emulator.url, api_key, single_flight=False),
        )
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=n)
        self._listener.settimeout(180)
        port = self._listener.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.contention", "spawn", str(n), str(port)],
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
        self._socks: list[socket.socket] = []
        self._streams: list[Any] = []
        try:
            for _ in range(n):
                sock, _addr = self._listener.accept()
                sock.settimeout(120)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._socks.append(sock)
                self._streams.append(sock.makefile("rw", encoding="utf-8"))
            for stream in self._streams:
                if stream.readline().strip() != "ready":
                    raise RuntimeError("a contender did not start")
        except BaseException:
            self.close()
            raise

    def _ask(self, indexes: range | list[int], line: str) -> list[dict[str, Any]]:
        for i in indexes:
            self._socks[i].sendall(line.encode() + b"\n")
        return [json.loads(self._streams[i].readline()) for i in indexes]

    def round(
        self,
        conn_id: str,
        timings: dict[str, float] | None = None,
        *,
        token_latency: float = 0.0,
        before_go: Callable[[], object] | None = None,
        triggers: dict[int, int] | None = None,
    ) -> Round:
        """Start cold, release every process at once, and return what they measured.

        :param timings: other lease delays than the defaults (``LeaseTimings`` fields), for tuning.
        :param token_latency: seconds the emulator's token endpoint takes to answer in this round.
        :param before_go: called just before the release (e.g. to plant a dead holder's lease).
        :param triggers: ``{process index: n}``: those processes run n session triggers in one event loop
            (a triggerer) instead of one hook call.
        """
        self._ask([0], f"clear {conn_id}")
        self.emulator.reset()
        if token_latency:
            self.emulator.set_token_latency(token_latency)
        everyone = range(self.n)
        self._ask(everyone, f"prep {conn_id}" + (f" {json.dumps(timings, separators=(',', ':'))}" if timings else ""))
        if before_go is not None:
            before_go()
        for i in everyone:
            go = f"go triggers {triggers[i]}" if triggers and i in triggers else "go"
            self._socks[i].sendall(go.encode() + b"\n")
        results = [json.loads(self._streams[i].readline()) for i in everyone]
        return Round(
            mode="single-flight" if conn_id == LEASE_CONN else "naive",
            token_requests=self.emulator.token_requests(),
            latencies=[r["latency"] for r in results],
            renewals=sum(r["renewed"] for r in results),
            reads=sum(r["reads"] for r in results),
            lease_reads=sum(r["lease_reads"] for r in results),
            writes=sum(r["writes"] + r["lease_writes"] for r in results),
            errors=[r["error"] for r in results if r["error"]],
        )

    def close(self) -> None:
        try:
            for sock in self._socks:
                with contextlib.suppress(OSError):
                    sock.sendall(b"exit\n")
            if self._socks:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=30)
        finally:
            for sock in self._socks:
                sock.close()
            self._listener.close()
            kill_group(self.proc)

    def __enter__(self) -> ContentionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def summarize(rounds: list[Round]) -> dict[str, Any]:
    """Return the figures of a list of rounds of one mode: worst token count, latency percentiles."""
    latencies = [x for r in rounds for x in r.latencies]
    return {
        "rounds": len(rounds),
        "token_requests_max": max(r.token_requests for r in rounds),
        "token_requests": [r.token_requests for r in rounds],
        "p50": median(latencies),
        "p95": percentile(latencies, 95),
        "reads_per_round": sum(r.reads + r.lease_reads for r in rounds) / len(rounds),
        "errors": [e for r in rounds for e in r.errors],
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "spawn":
        sys.exit(spawn(int(sys.argv[2]), int(sys.argv[3])))
    sys.exit("usage: python -m benchmarks.contention spawn N PORT")
