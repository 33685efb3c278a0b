"""
### TrafficStars: load the new report days into a SQL table

Runs whenever `example_trafficstars_report_etl` has updated all of its Assets, and loads the days that run
wrote into one table per report (`trafficstars_advertiser_by_day`, `..._by_campaign`, `..._by_country`,
`trafficstars_campaigns`), through Airflow's common.sql `DbApiHook`: any SQL connection whose provider is
installed (the demo uses SQLite, the distributed test PostgreSQL).

- **Which days**: the extras of the Asset events that triggered the run, `{"report", "days", "rows",
  "urls"}`. Several ETL runs since the last load are merged; for a day written more than once the latest
  event's object wins. A manual run (no triggering events) loads the latest event of each Asset.
- **Idempotent**: per report, one transaction deletes the rows of each loaded day and inserts the day's
  object, so a rerun, an overlapping lookback or a revised day never leaves duplicates.
- **Columns**: the report's known fields (`airflow_provider_trafficstars.reports`), typed; a field the
  API adds later is left out of the table (and named in the log) until you add a column for it.

DAG params: `sql_conn_id` (default `trafficstars_warehouse`), `table_prefix`, and `storage_conn_id` for
objects on a remote store (s3://, gs://, ...).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pendulum

# Airflow's compatibility layer: airflow.sdk on Airflow 3, the Airflow 2 modules on 2.11 (an Asset is a Dataset there).
from airflow.providers.common.compat.sdk import Asset, Param, dag, task

from airflow_provider_trafficstars import report_files
from airflow_provider_trafficstars.reports import FIELD_TYPES, report_spec

log = logging.getLogger(__name__)
REPORTS = ("advertiser/by-day", "advertiser/by-campaign", "advertiser/by-country", "campaigns")
SQL_TYPES = {int: "BIGINT", float: "DOUBLE PRECISION", str: "TEXT"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def report_asset(report: str) -> Asset:
    """Return the Asset that ``example_trafficstars_report_etl`` updates for ``report`` (same naming there)."""
    return Asset("trafficstars_" + report.replace("/", "_").replace("-", "_"))


ASSETS = {report: report_asset(report) for report in REPORTS}


def table_name(prefix: str, report: str) -> str:
    """Return the table of a report: ``<prefix>advertiser_by_day``, ``<prefix>campaigns``, ..."""
    name = prefix + report.replace("/", "_").replace("-", "_")
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"table_prefix {prefix!r} makes the table name {name!r}: use letters, digits and _ only.")
    return name


def days_to_load(events: Iterable[Any]) -> dict[str, dict[str, str]]:
    """Return ``{report: {day: url}}`` from Asset events (anything with ``extra`` and ``timestamp``).

    Events are taken oldest first, so for a day written by several runs the newest object wins.
    """
    plan: dict[str, dict[str, str]] = {}
    for event in sorted(events, key=lambda e: e.timestamp):
        extra = event.extra or {}
        if not {"report", "days", "urls"} <= set(extra):
            log.warning("Skipping an Asset event without report extras: %s", sorted(extra))
            continue
        days = plan.setdefault(str(extra["report"]), {})
        days.update(zip(extra["days"], extra["urls"], strict=True))
    return {report: dict(sorted(days.items())) for report, days in sorted(plan.items())}


def read_rows(url: str, storage_conn_id: str | None, report: str = "?") -> list[dict[str, Any]]:
    """Return the rows of one object written by the transfer (CSV, JSON Lines or Parquet, by extension),
    read by the provider's own reader: lines split exactly where the writer ends them."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    data = ObjectStoragePath(url, conn_id=storage_conn_id).read_bytes()
    return report_files.decode(report_files.format_of(url), bytes(data), report=report)


def sql_value(kind: type, value: Any) -> Any:
    """Return a value for a column of type ``kind`` (CSV gives text; an empty field is NULL)."""
    if value is None or value == "":
        return None
    if kind is int:
        return int(value)
    if kind is float:
        return float(value)
    return str(value)


def load_report(hook: Any, table: str, report: str, days: Mapping[str, str], storage_conn_id: str | None) -> int:
    """Replace the rows of ``days`` in ``table`` by the rows of their objects, in one transaction.

    :return: the number of rows inserted.
    """
    columns = report_spec(report, allow_campaigns=True).fields
    kinds = [FIELD_TYPES[c] for c in columns]
    ph = hook.placeholder
    typed = ", ".join(f"{c} {SQL_TYPES[k]}" for c, k in zip(columns, kinds, strict=True))
    create = f"CREATE TABLE IF NOT EXISTS {table} ({typed})"
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([ph] * len(columns))})"
    inserted = 0
    conn = hook.get_conn()
    try:
        cur = conn.cursor()
        cur.execute(create)
        for day, url in days.items():
            rows = read_rows(url, storage_conn_id, report)
            extra = sorted({k for row in rows for k in row} - set(columns))
            if extra:
                log.warning("%s %s: fields %s have no column in %s and are not loaded.", report, day, extra, table)
            cur.execute(f"DELETE FROM {table} WHERE day = {ph}", (day,))
            values = [tuple(sql_value(k, row.get(c)) for c, k in zip(columns, kinds, strict=True)) for row in rows]
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


@dag(
    dag_id="example_trafficstars_report_load",
    schedule=list(ASSETS.values()),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two loads of the same day at once could interleave their delete and insert
    doc_md=__doc__,
    params={
        "sql_conn_id": Param("trafficstars_warehouse", type="string", description="The SQL connection to load into."),
        "table_prefix": Param("trafficstars_", type="string", description="Tables are <prefix><report>."),
        "storage_conn_id": Param(
            os.environ.get("TRAFFICSTARS_REPORT_STORAGE_CONN_ID") or None,
            type=["null", "string"],
            description="Connection of the objects' store (s3://, gs://, ...); the ETL's.",
        ),
    },
    tags=["example", "trafficstars"],
)
def example_trafficstars_report_load() -> None:
    @task(inlets=list(ASSETS.values()))
    def load(**context: Any) -> dict[str, Any]:
        """Load the days of the triggering Asset events (a manual run: each Asset's latest event)."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        params = context["params"]
        triggering = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
        events = [event for asset_events in triggering.values() for event in asset_events]
        if not events:
            log.info("No triggering Asset events (a manual run): loading the latest event of each Asset.")
            inlet_events = context["inlet_events"]
            events = [inlet_events[asset][-1] for asset in ASSETS.values() if len(inlet_events[asset])]
        plan = days_to_load(events)

        hook = DbApiHook.get_hook(params["sql_conn_id"])
        if not isinstance(hook, DbApiHook):
            raise TypeError(
                f"Connection {params['sql_conn_id']!r} gives a {type(hook).__name__}, not a SQL hook (DbApiHook): "
                "use a database connection (sqlite, postgres, ...) and install its provider."
            )
        loaded: dict[str, Any] = {}
        for report, days in plan.items():
            table = table_name(params["table_prefix"], report)
            rows = load_report(hook, table, report, days, params["storage_conn_id"])
            total = hook.get_first(f"SELECT COUNT(*) FROM {table}")[0]
            log.info("%s: %s rows loaded for the days %s; the table holds %s rows.", table, rows, list(days), total)
            loaded[table] = {"days": list(days), "rows": rows, "table_rows": int(total)}
        return loaded

    load()


example_trafficstars_report_load()
