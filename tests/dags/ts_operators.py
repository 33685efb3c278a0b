"""Every TrafficStars operator in one run (integration test DAG)."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_trafficstars.operators.trafficstars import (
    TrafficStarsApiOperator,
    TrafficStarsLogoutOperator,
    TrafficStarsRefreshTokenOperator,
    TrafficStarsSessionInfoOperator,
)


def count_campaigns(response):  # type: ignore[no-untyped-def]
    return len(response.json()["response"])


with DAG(
    "ts_operators",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"dag_param": "must-not-reach-the-query-string"},
    tags=["test"],
):
    refresh = TrafficStarsRefreshTokenOperator(task_id="refresh", min_ttl=600)
    info = TrafficStarsSessionInfoOperator(task_id="info")
    count = TrafficStarsApiOperator(
        task_id="count",
        endpoint="/v1.1/{{ 'campaigns' }}",
        query_params={"status": ["enabled", "paused"], "day": "{{ ds }}"},
        headers={"X-Run": "{{ run_id }}"},
        response_filter=count_campaigns,
    )
    raw = TrafficStarsApiOperator(task_id="raw", endpoint="/v1.1/campaigns")
    logout = TrafficStarsLogoutOperator(task_id="logout")
    refresh >> info >> count >> raw >> logout
