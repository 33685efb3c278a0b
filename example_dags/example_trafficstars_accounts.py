"""
### TrafficStars: one report for many accounts, in one table

An agency's accounts, or an advertiser and a publisher account: one TrafficStars connection per account,
and one DAG for all of them. Every morning, yesterday's `advertiser/by-campaign` report of each account:

1. **accounts** reads the DAG param `accounts`, a list of connection ids (default
   `["trafficstars_default"]`; trigger with `{"accounts": ["ts_brand_a", "ts_brand_b"]}` or change the
   default).
2. **export_by_campaign** is one `TrafficStarsReportToStorageOperator` mapped over those ids
   (`.partial(...).expand(trafficstars_conn_id=...)`): one task per account, each with the account's own
   token, rate limit, report days (its own cursor) and objects, under
   `<base_url>/<account>/advertiser/by-campaign/day=2026-11-25/part.csv` (the destination's `{account}`).
   One account failing does not stop the others' exports (each is a task of its own, retried alone).
3. **load** (once every export succeeded) loads what every account wrote into one SQL table,
   `trafficstars_accounts_by_campaign` (the DAG param `table`), with an `account` column: per account and
   day, one transaction deletes the day's rows and inserts the object's, so a rerun never doubles a row.

DAG params: `accounts`, `base_url` (default `$TRAFFICSTARS_REPORT_BASE_URL`, else
`file://$AIRFLOW_HOME/trafficstars/accounts`), `storage_conn_id` (the object store's connection, default
`$TRAFFICSTARS_REPORT_STORAGE_CONN_ID`), `sql_conn_id` (default `trafficstars_warehouse`), `table`, and
`date_from`/`date_to` to re-export a range. The API tasks run in the pool `$TRAFFICSTARS_POOL` (default
`default_pool`): a pool is given to a task when the scheduler creates it, before any param is read.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import date, timedelta
from typing import Any

import pendulum

# Airflow's compatibility layer: airflow.sdk on Airflow 3, the Airflow 2 modules on 2.11.
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_trafficstars.client.reports import _files as report_files
from airflow_provider_trafficstars.client.reports._catalogue import FIELD_TYPES, report_spec
from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

log = logging.getLogger(__name__)
REPORT = "advertiser/by-campaign"
BASE_URL = os.environ.get("TRAFFICSTARS_REPORT_BASE_URL") or "file://{}/trafficstars/accounts".format(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
)
POOL = os.environ.get("TRAFFICSTARS_POOL") or "default_pool"
#: The export's destination after ``{{ params.base_url.rstrip('/') }}`` (``{account}``: the connection id).
OBJECT_NAME = "/{account}/{report}/day={day}/part.{ext}"
SQL_TYPES = {int: "BIGINT", float: "DOUBLE PRECISION", str: "TEXT"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expected_url(base_url: str, account: str, day: str) -> str:
    """Return the object the export writes for ``account`` and ``day`` under ``base_url`` (CSV)."""
    template = base_url.rstrip("/") + OBJECT_NAME.replace("{account}", account)
    return report_files.object_url(template, REPORT, date.fromisoformat(day), "csv")


def load_objects(hook: Any, table: str, written: list[dict[str, Any]], base_url: str, storage_conn_id: Any) -> int:
    """Replace the rows of each ``(account, day)`` in ``written`` by its object's rows, in one transaction."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"table {table!r} is not a plain SQL name: use letters, digits and _ only.")
    columns = ["account", *report_spec(REPORT).fields]
    kinds = [str, *(FIELD_TYPES[c] for c in columns[1:])]
    ph = hook.placeholder
    typed = ", ".join(f"{c} {SQL_TYPES[k]}" for c, k in zip(columns, kinds, strict=True))
    create = f"CREATE TABLE IF NOT EXISTS {table} ({typed})"
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([ph] * len(columns))})"
    inserted = 0
    conn = hook.get_conn()
    try:
        cur = conn.cursor()
        cur.execute(create)
        for item in written:
            account, day, url = item["account"], item["day"], item["url"]
            if url != expected_url(base_url, account, day):  # only the export's own objects, never another URL
                raise ValueError(f"{url!r} is not the object of {account} for {day} under {base_url}")
            data = ObjectStoragePath(url, conn_id=storage_conn_id or None).read_bytes()
            rows = report_files.decode(report_files.format_of(url), bytes(data), report=REPORT)
            cur.execute(f"DELETE FROM {table} WHERE account = {ph} AND day = {ph}", (account, day))
            values = [
                (account, *(_sql_value(k, row.get(c)) for c, k in zip(columns[1:], kinds[1:], strict=True)))
                for row in rows
            ]
            if values:
                cur.executemany(insert, values)
            inserted += len(values)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return inserted


def _sql_value(kind: type, value: Any) -> Any:
    if value is None or value == "":
        return None
    return kind(value)


with DAG(
    dag_id="example_trafficstars_accounts",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two loads of the same day at once could interleave their delete and insert
    doc_md=__doc__,
    params={
        "accounts": Param(
            ["trafficstars_default"],
            type="array",
            items={"type": "string", "minLength": 1},
            minItems=1,
            uniqueItems=True,
            description="TrafficStars connection ids, one per account.",
        ),
        "base_url": Param(BASE_URL, type="string", description="Where the objects go (file://, s3://, gs://, ...)."),
        "storage_conn_id": Param(
            os.environ.get("TRAFFICSTARS_REPORT_STORAGE_CONN_ID") or None,
            type=["null", "string"],
            description="The object store's connection; empty: the store's default credentials.",
        ),
        "sql_conn_id": Param("trafficstars_warehouse", type="string", description="The SQL connection to load into."),
        "table": Param("trafficstars_accounts_by_campaign", type="string", description="The table to load into."),
        "date_from": Param(None, type=["null", "string"], description="First day (YYYY-MM-DD); empty: the run's."),
        "date_to": Param(None, type=["null", "string"], description="Last day (YYYY-MM-DD); empty: the run's."),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "pool": POOL},
    tags=["example", "trafficstars"],
):

    @task
    def accounts(**context: Any) -> list[str]:
        """Return the connection ids of the DAG param ``accounts`` (the list the export is mapped over)."""
        ids = list(context["params"]["accounts"])
        log.info("Exporting %s for %d account(s): %s", REPORT, len(ids), ids)
        return ids

    # [START howto_transfer_trafficstars_accounts]
    export = TrafficStarsReportToStorageOperator.partial(
        task_id="export_by_campaign",
        report=REPORT,
        destination="{{ params.base_url.rstrip('/') }}/{account}/{report}/day={day}/part.{ext}",
        storage_conn_id="{{ params.storage_conn_id or '' }}",
        date_from="{{ params.date_from or '' }}",
        date_to="{{ params.date_to or '' }}",
        map_index_template="{{ task.trafficstars_conn_id }}",  # the UI names each mapped task by its account
    ).expand(trafficstars_conn_id=accounts())
    # [END howto_transfer_trafficstars_accounts]

    @task
    def load(written: Any, **context: Any) -> dict[str, Any]:
        """Load the objects of every account into one table with an ``account`` column."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        params = context["params"]
        items = [item for per_account in written for item in per_account or []]
        hook = DbApiHook.get_hook(params["sql_conn_id"])
        if not isinstance(hook, DbApiHook):
            raise TypeError(f"Connection {params['sql_conn_id']!r} is not a SQL connection (DbApiHook).")
        rows = load_objects(hook, params["table"], items, params["base_url"], params["storage_conn_id"])
        per_account: dict[str, int] = {}
        for item in items:
            per_account[item["account"]] = per_account.get(item["account"], 0) + item["rows"]
        log.info("Loaded %d rows into %s: %s", rows, params["table"], per_account)
        return {"table": params["table"], "rows": rows, "accounts": per_account}

    load(export.output)
