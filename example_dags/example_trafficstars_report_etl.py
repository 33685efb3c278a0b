"""
### TrafficStars: daily reports into your storage

Every morning, yesterday's TrafficStars numbers, and the two days before again (spend and conversions
keep changing after the fact), one object per report and day:

    <base_url>/advertiser/by-day/day=2026-11-25/part.csv
    <base_url>/advertiser/by-campaign/day=2026-11-25/part.csv
    <base_url>/advertiser/by-country/day=2026-11-25/part.csv
    <base_url>/campaigns/day=2026-11-26/part.csv        (the campaign list: one snapshot per run, filed
                                                         under the day it was taken)

1. **refresh_token** renews the shared access token if it has less than an hour left: the report tasks
   all reuse it.
2. One **`TrafficStarsReportToStorageOperator`** per report. Which days: yesterday (the run's own day:
   the day before its zero-length `@daily` interval, or, triggered without a date, the day before it was
   due), from the day after the last one this export wrote (its cursor, in a Variable): a run after
   missed ones, a paused week or a DST change exports those days too (at most 31; beyond that it fails
   and names the `date_from` to run with); `lookback_days=2` adds the two days before. A retry or a clear
   exports the days of the first try. A by-campaign or by-country day is one API call (a range would add
   the days up); by-day takes one call for the whole range. Each object appears complete or not at all;
   a rerun writes the same bytes.
3. Each task updates its **Asset**, the event's extra holding `{"report", "days", "rows", "urls"}`:
   `example_trafficstars_report_load` is scheduled on them and loads those days into SQL tables.

Where: the DAG param `base_url`, by default `$TRAFFICSTARS_REPORT_BASE_URL`, else
`file://$AIRFLOW_HOME/trafficstars/reports` (a plain absolute path works too). Point it at
`s3://bucket/trafficstars`, `gs://...` or `abfs://...` (the README's table of stores), with the DAG param
`storage_conn_id` (default `$TRAFFICSTARS_REPORT_STORAGE_CONN_ID`) naming the store's connection (an AWS
one, say, whose extra may hold `endpoint_url`) where its default credentials do not do. The API tasks run
in the pool `$TRAFFICSTARS_POOL` (default `default_pool`; a pool cannot be a DAG param: the scheduler
gives a task its pool before any param is read).
To re-export a range, trigger the DAG with `{"date_from": "2026-10-01", "date_to": "2026-10-31"}` (a
re-export never moves the cursor back).

Connection `trafficstars_default` (type *TrafficStars*): the API key goes in the password field.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum

# Airflow's compatibility layer: airflow.sdk on Airflow 3, the Airflow 2 modules on 2.11 (an Asset is a Dataset there).
from airflow.providers.common.compat.sdk import DAG, Asset, Param

from airflow_provider_trafficstars.operators.trafficstars import TrafficStarsRefreshTokenOperator
from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

REPORTS = ("advertiser/by-day", "advertiser/by-campaign", "advertiser/by-country", "campaigns")
BASE_URL = os.environ.get("TRAFFICSTARS_REPORT_BASE_URL") or "file://{}/trafficstars/reports".format(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
)
STORAGE_CONN_ID = os.environ.get("TRAFFICSTARS_REPORT_STORAGE_CONN_ID") or None
POOL = os.environ.get("TRAFFICSTARS_POOL") or "default_pool"


def report_asset(report: str) -> Asset:
    """Return the Asset of a report (``example_trafficstars_report_load`` is scheduled on the same names)."""
    return Asset("trafficstars_" + report.replace("/", "_").replace("-", "_"))


with DAG(
    dag_id="example_trafficstars_report_etl",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    params={
        "base_url": Param(BASE_URL, type="string", description="Where the objects go (file://, s3://, gs://, ...)."),
        "storage_conn_id": Param(
            STORAGE_CONN_ID,
            type=["null", "string"],
            description="The object store's connection; empty: the store's default credentials.",
        ),
        "date_from": Param(None, type=["null", "string"], description="First day (YYYY-MM-DD); empty: the run's."),
        "date_to": Param(None, type=["null", "string"], description="Last day (YYYY-MM-DD); empty: the run's."),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "pool": POOL},
    tags=["example", "trafficstars"],
):
    # [START howto_transfer_trafficstars_report_to_storage]
    refresh_token = TrafficStarsRefreshTokenOperator(task_id="refresh_token", min_ttl=3600)
    for report in REPORTS:
        refresh_token >> TrafficStarsReportToStorageOperator(
            task_id=report.replace("/", "_").replace("-", "_"),
            report=report,
            destination="{{ params.base_url.rstrip('/') }}/{report}/day={day}/part.{ext}",
            date_from="{{ params.date_from or '' }}",
            date_to="{{ params.date_to or '' }}",
            lookback_days=0 if report == "campaigns" else 2,
            storage_conn_id="{{ params.storage_conn_id or '' }}",
            outlets=[report_asset(report)],
        )
    # [END howto_transfer_trafficstars_report_to_storage]
