"""The campaign-report example without its refresh task, and a burst variant (distributed test DAGs).

``ts_campaign_report_no_refresh`` has the shape of ``example_trafficstars_campaign_report`` (list
campaigns, one mapped report task per campaign, combine to CSV) minus ``refresh_token``: the first task
that finds the cached token stale renews it. ``ts_campaign_report_burst`` skips the campaign listing too
(the ids come from a param) and runs 16 report tasks at a time, so that many tasks on both Celery
workers find the stale token at the same instant: the case the cross-process lease is for.
It uses the connection ``trafficstars_burst`` (the same API key; the test points it at an emulator of its
own, so that it can run next to the example and still be counted apart).
``ts_campaign_report_burst_naive`` is the same on a connection with ``single_flight`` off.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_trafficstars.operators.trafficstars import TrafficStarsApiOperator

REPORT_ENDPOINT = "/v1.1/advertiser/custom/report/by-day"


def _items(response: Any) -> list[Any]:
    payload = response.json()
    items = payload.get("response", []) if isinstance(payload, dict) else payload
    return list(items)


def campaign_ids(response: Any) -> list[int]:
    return [int(campaign["id"]) for campaign in _items(response)]


def campaign_query(campaign_id: int) -> dict[str, int]:
    return {"campaign_id": [campaign_id]}  # arrays go as campaign_id[]=: the API knows no bare campaign_id


def report_rows(response: Any) -> list[dict[str, Any]]:
    return [row for row in _items(response) if isinstance(row, dict)]


@task
def write_csv(rows_per_campaign: list[list[dict[str, Any]]], **context: Any) -> str:
    rows = [row for rows in rows_per_campaign for row in rows or []]
    target = Path(os.environ["AIRFLOW_HOME"], "reports", f"{context['dag'].dag_id}_{context['ds']}.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    return str(target)


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["test"])
def ts_campaign_report_no_refresh() -> None:
    campaigns = TrafficStarsApiOperator(
        task_id="list_campaigns", endpoint="/v1.1/campaigns", response_filter=campaign_ids
    )
    reports = TrafficStarsApiOperator.partial(
        task_id="fetch_report",
        endpoint=REPORT_ENDPOINT + "?date_from={{ ds }}&date_to={{ ds }}",
        response_filter=report_rows,
        max_active_tis_per_dag=4,
    ).expand(query_params=campaigns.output.map(campaign_query))
    write_csv(reports.output)


def _burst(conn_id: str) -> None:
    @task
    def campaign_list(params: dict[str, Any] | None = None) -> list[dict[str, int]]:
        return [campaign_query(i) for i in range(1, int((params or {})["campaigns"]) + 1)]

    reports = TrafficStarsApiOperator.partial(
        task_id="fetch_report",
        endpoint=REPORT_ENDPOINT + "?date_from={{ ds }}&date_to={{ ds }}",
        response_filter=report_rows,
        max_active_tis_per_dag=16,
        trafficstars_conn_id=conn_id,
    ).expand(query_params=campaign_list())
    write_csv(reports.output)


_BURST_ARGS: dict[str, Any] = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "params": {"campaigns": 32},
    "tags": ["test"],
}


@dag(**_BURST_ARGS)
def ts_campaign_report_burst() -> None:
    _burst("trafficstars_burst")


@dag(**_BURST_ARGS)
def ts_campaign_report_burst_naive() -> None:
    """The burst with ``single_flight`` off in its connection: the baseline of the lease."""
    _burst("trafficstars_naive")


ts_campaign_report_no_refresh()
ts_campaign_report_burst()
ts_campaign_report_burst_naive()
