"""The report transfer, one task per report and format (integration test DAG; the tasks are independent)."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset

from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

COMMON = {
    "destination": "{{ params.base }}/{report}/day={day}/part.{ext}",
    "date_from": "{{ params.date_from }}",
    "date_to": "{{ params.date_to }}",
}

with DAG(
    "ts_report_transfer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"base": "file:///tmp/unset", "date_from": "", "date_to": ""},
    tags=["test"],
):
    TrafficStarsReportToStorageOperator(
        task_id="by_campaign", report="advertiser/by-campaign", outlets=[Asset("ts_by_campaign")], **COMMON
    )
    TrafficStarsReportToStorageOperator(
        task_id="by_day",
        report="advertiser/by-day",
        format="jsonl",
        lookback_days=2,
        outlets=[Asset("ts_by_day")],
        **COMMON,
    )
    TrafficStarsReportToStorageOperator(
        task_id="by_country",
        report="advertiser/by-country",
        format="parquet",
        filters={"campaign_id": ["{{ 1 }}", 2]},
        **COMMON,
    )
    TrafficStarsReportToStorageOperator(
        task_id="campaigns", report="campaigns", filters={"status": ["enabled"]}, **COMMON
    )
