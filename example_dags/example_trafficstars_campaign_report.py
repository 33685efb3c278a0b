"""
### TrafficStars: daily campaign report to CSV

A daily ETL on the TrafficStars API, one mapped task per campaign, all sharing **one** access token.

1. **refresh_token**: renews the shared token if it has less than an hour left. The mapped tasks below
   all reuse it from the token cache Variable: however many campaigns there are, a run asks
   TrafficStars for at most one token.
2. **list_campaigns**: `GET /v1.1/campaigns`; the XCom is the list of campaign ids.
3. **fetch_report** (dynamic task mapping, one task per campaign):
   `GET /v1.1/advertiser/custom/report/by-day?date_from={{ ds }}&date_to={{ ds }}&campaign_id[]=<id>`.
   `max_active_tis_per_dag` keeps the run under the API's rate limit (about 100 calls a minute).
4. **write_csv**: combines the rows and writes `campaign_report_<ds>.csv` to an object-storage location
   (`file://`, `s3://`, `gs://`, ...): the DAG param `report_base_url`, else the Variable
   `trafficstars_report_base_url`, else `file://$AIRFLOW_HOME/trafficstars/reports/`. It returns the
   file's URL and updates the Asset `trafficstars_campaign_report` (with the URL in the event's extra),
   so downstream DAGs can be scheduled on fresh data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum

try:  # Airflow 3
    from airflow.sdk import Asset, Param, dag, task
except ImportError:  # Airflow 2.10 / 2.11: an Asset is a Dataset
    from airflow.datasets import Dataset as Asset
    from airflow.decorators import dag, task
    from airflow.models.param import Param

from airflow_provider_trafficstars.operators.trafficstars import (
    TrafficStarsApiOperator,
    TrafficStarsRefreshTokenOperator,
)

if TYPE_CHECKING:
    import requests

REPORT_ASSET = Asset("trafficstars_campaign_report")
REPORT_ENDPOINT = "/v1.1/advertiser/custom/report/by-day"
REPORT_URL_VARIABLE = "trafficstars_report_base_url"


def _items(response: requests.Response) -> list[Any]:
    """Return the list in an answer: ``{"response": [...]}`` or a bare list."""
    payload = response.json()
    items = payload.get("response", []) if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ValueError(f"expected a list of items, got {type(items).__name__}")
    return items


def campaign_ids(response: requests.Response) -> list[int]:
    """Return the campaign ids of a ``GET /v1.1/campaigns`` answer."""
    return [int(campaign["id"]) for campaign in _items(response)]


def campaign_query(campaign_id: int) -> dict[str, int]:
    """Return the query parameters that select one campaign."""
    return {"campaign_id": [campaign_id]}  # arrays go as campaign_id[]=: the API knows no bare campaign_id


def report_rows(response: requests.Response) -> list[dict[str, Any]]:
    """Return the rows of a by-day report answer."""
    return [row for row in _items(response) if isinstance(row, dict)]


@dag(
    dag_id="example_trafficstars_campaign_report",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    params={
        "report_base_url": Param(
            None,
            type=["null", "string"],
            description="Where to write the CSV (an object-storage URL such as s3://bucket/reports/). "
            f"Empty: the Variable {REPORT_URL_VARIABLE}, else file://$AIRFLOW_HOME/trafficstars/reports/.",
        )
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["example", "trafficstars"],
)
def example_trafficstars_campaign_report() -> None:
    refresh_token = TrafficStarsRefreshTokenOperator(task_id="refresh_token", min_ttl=3600)
    campaigns = TrafficStarsApiOperator(
        task_id="list_campaigns", endpoint="/v1.1/campaigns", response_filter=campaign_ids
    )
    reports = TrafficStarsApiOperator.partial(
        task_id="fetch_report",
        endpoint=REPORT_ENDPOINT + "?date_from={{ ds }}&date_to={{ ds }}",
        response_filter=report_rows,
        max_active_tis_per_dag=4,
    ).expand(query_params=campaigns.output.map(campaign_query))

    @task(outlets=[REPORT_ASSET])
    def write_csv(rows_per_campaign: list[list[dict[str, Any]]], base_url: str, **context: Any) -> str:
        """Write every campaign's rows to one CSV named by date under ``base_url``; return its URL."""
        import csv
        import io
        import os

        try:  # Airflow 3
            from airflow.sdk import ObjectStoragePath
        except ImportError:  # Airflow 2.10 / 2.11
            from airflow.io.path import ObjectStoragePath

        rows = sorted(
            (row for rows in rows_per_campaign for row in rows or []),
            key=lambda row: (str(row.get("day")), str(row.get("campaign_id")).zfill(20)),  # ids in numeric order
        )
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        base_url = base_url or f"file://{home}/trafficstars/reports/"
        target = ObjectStoragePath(base_url.rstrip("/") + "/") / f"campaign_report_{context['ds']}.csv"
        if target.protocol == "file":
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(buffer.getvalue())

        url = str(target)
        context["outlet_events"][REPORT_ASSET].extra = {"url": url, "rows": len(rows), "day": context["ds"]}
        return url

    refresh_token >> campaigns
    # The param, else the Variable (templates read both the same way on Airflow 2 and 3).
    write_csv(reports.output, "{{ params.report_base_url or var.value.get('" + REPORT_URL_VARIABLE + "', '') }}")


example_trafficstars_campaign_report()
