"""Two separate task runs that each make ten API calls through the hook (integration test DAG)."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["test"])
def hook_two_tasks() -> None:
    @task
    def first() -> int:
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        hook = TrafficStarsHook()
        return sum(len(hook.request("GET", "/v1.1/campaigns").json()["response"]) for _ in range(10))

    @task
    def second(previous: int) -> int:
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        hook = TrafficStarsHook()
        return previous + sum(len(hook.request("GET", "/v1.1/campaigns").json()["response"]) for _ in range(10))

    second(first())


hook_two_tasks()
