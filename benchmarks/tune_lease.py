"""Sweep the lease delays on scenario 3 (16 processes, cold cache) and print what each setting costs.

``python -m benchmarks.tune_lease [--rounds 5] [--db sqlite|postgres|both]``: for each candidate setting,
the worst token count over the rounds, the p50/p95 time to a token, and the Variable reads per round,
next to the naive baseline (single_flight off) measured by the same processes.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
from benchmarks.common import (
    EmulatorProcess,
    airflow_env,
    exit_on_sigterm,
    migrate,
    new_api_key,
    postgres_database,
    postgres_problem,
)
from benchmarks.contention import LEASE_CONN, NAIVE_CONN, ContentionPool, summarize

GRID = {
    "jitter": [0.0, 0.05, 0.1],
    "settle_min": [0.05, 0.1],
    "settle_factor": [1.5, 3.0],
    "poll": [0.05, 0.1],
}


def sweep(db: str, rounds: int, n: int, grid: dict[str, list[float]]) -> Iterator[dict[str, Any]]:
    key = new_api_key()
    with contextlib.ExitStack() as stack:
        airflow_home = stack.enter_context(AirflowHome.temporary(f"ts-tune-{db}-"))
        home = airflow_home.path
        emu = stack.enter_context(EmulatorProcess(key, workdir=home))
        url = airflow_home.db_url if db == "sqlite" else stack.enter_context(postgres_database())
        migrate(airflow_env(home, url))
        with ContentionPool(url, home, emu, key, n=n) as pool:
            pool.round(LEASE_CONN)  # one untimed round: first-use costs of the DB and the emulator
            for values in itertools.product(*grid.values()):
                timings = dict(zip(grid, values, strict=True))
                # Naive and lease rounds alternate, so that a load change on the machine hits both alike.
                naive, lease = [], []
                for _ in range(rounds):
                    naive.append(pool.round(NAIVE_CONN))
                    lease.append(pool.round(LEASE_CONN, timings))
                got, base = summarize(lease), summarize(naive)
                added = got["p95"] - base["p95"]
                yield {"db": db, "setting": timings, **got, "naive_p95": base["p95"], "added_p95": added}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--grid", type=json.loads, default=GRID, help="JSON: LeaseTimings field -> values")
    args = parser.parse_args()
    exit_on_sigterm()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in dbs and postgres_problem():
        print(f"PostgreSQL skipped: {postgres_problem()}")
        dbs.remove("postgres")
    print(f"{'db':<9} {'setting':<56} {'tokens':>8} {'p50 s':>6} {'p95 s':>6} {'naive':>6} {'+p95 s':>6} {'reads':>5}")
    for db in dbs:
        for row in sweep(db, args.rounds, args.processes, args.grid):
            setting = ", ".join(f"{k}={v:g}" for k, v in row["setting"].items())
            tokens = "/".join(str(t) for t in row["token_requests"])
            print(
                f"{db:<9} {setting:<56} {tokens:>8} {row['p50']:6.3f} {row['p95']:6.3f} {row['naive_p95']:6.3f} "
                f"{row['added_p95']:6.3f} {row['reads_per_round']:5.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
