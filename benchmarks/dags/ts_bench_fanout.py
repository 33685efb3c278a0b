"""Scenario 1: one DAG run, N mapped task runs, each calling the API through TrafficStarsHook.

``naive`` in the run conf gives every task a token of its own (what a plain HTTP hook does).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"n": 50, "naive": False},
    tags=["benchmark"],
)
def ts_bench_fanout() -> None:
    @task
    def indexes(params: dict[str, Any] | None = None) -> list[int]:
        return list(range(int((params or {})["n"])))

    @task
    def call(i: int, params: dict[str, Any] | None = None) -> int:
        from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        naive = bool((params or {})["naive"])
        hook = TrafficStarsHook(token_cache=MemoryTokenCache(f"naive-{i}", store={})) if naive else TrafficStarsHook()
        return len(hook.request("GET", "/v1.1/campaigns").json()["response"])

    call.expand(i=indexes())


ts_bench_fanout()
