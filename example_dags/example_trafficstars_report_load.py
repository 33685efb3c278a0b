"""
### TrafficStars: load the new report days into a SQL table

Runs whenever `example_trafficstars_report_etl` has updated all of its Assets, and loads the days that run
wrote into one table per report (`trafficstars_advertiser_by_day`, `..._by_campaign`, `..._by_country`,
`trafficstars_campaigns`), through Airflow's common.sql `DbApiHook`: any SQL connection whose provider is
installed (the demo uses SQLite, the distributed test PostgreSQL).

- **Which days**: the extras of the Asset events that triggered the run, `{"report", "days", "rows",
  "urls"}`. Several ETL runs since the last load are merged; for a day written more than once the latest
  event's object wins. A manual run (no triggering events) loads the latest trusted event of each Asset.
- **Which events it trusts** (`trusted_days`): only those the ETL's own task for that report wrote, for a
  report it knows, on that report's Asset, with real `YYYY-MM-DD` days, each URL exactly the object the
  ETL names for that report and day under the DAG param `base_url` (the ETL's, same default). Any other
  event is ignored with a warning saying why: one posted through the REST API (`POST
  /api/v2/assets/events`) or by another DAG could otherwise make the load open any URL (`/etc/os-release`,
  another team's bucket), delete a day's rows, or create a table. `allow_external_events` lets events
  from other sources through the other checks (a backfill tool of your own, say).
- **Idempotent**: per report, one transaction deletes the rows of each loaded day and inserts the day's
  object, so a rerun, an overlapping lookback or a revised day never leaves duplicates.
- **Columns**: the report's known fields (`airflow_provider_trafficstars.client.reports`), typed; a field the
  API adds later is left out of the table (and named in the log) until you add a column for it.

DAG params: `sql_conn_id` (default `trafficstars_warehouse`), `table_prefix`, `storage_conn_id` for
objects on a remote store (s3://, gs://, ...), `base_url` (where the ETL writes: its default is the
ETL's, `$TRAFFICSTARS_REPORT_BASE_URL`; change both together) and `allow_external_events` (default false).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import pendulum

# Airflow's compatibility layer: airflow.sdk on Airflow 3, the Airflow 2 modules on 2.11 (an Asset is a Dataset there).
from airflow.providers.common.compat.sdk import Asset, Param, dag, task

from airflow_provider_trafficstars.client import reports

log = logging.getLogger(__name__)
REPORTS = ("advertiser/by-day", "advertiser/by-campaign", "advertiser/by-country", "campaigns")
SQL_TYPES = {int: "BIGINT", float: "DOUBLE PRECISION", str: "TEXT"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The DAG whose events are trusted, and where it writes by default (its DAG param ``base_url``, same default).
ETL_DAG_ID = "example_trafficstars_report_etl"
BASE_URL = os.environ.get("TRAFFICSTARS_REPORT_BASE_URL") or "file://{}/trafficstars/reports".format(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
)
#: The ETL's ``destination`` after its ``{{ params.base_url.rstrip('/') }}``.
OBJECT_NAME = "/{report}/day={day}/part.{ext}"
#: A manual run looks this far back through an Asset's events for the latest one it trusts.
MANUAL_LOOKBACK = 100
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def report_key(report: str) -> str:
    """Return ``advertiser_by_day`` for ``advertiser/by-day``: the ETL's task id, the Asset's and table's suffix."""
    return report.replace("/", "_").replace("-", "_")


def report_asset(report: str) -> Asset:
    """Return the Asset that ``example_trafficstars_report_etl`` updates for ``report`` (same naming there)."""
    return Asset("trafficstars_" + report_key(report))


ASSETS = {report: report_asset(report) for report in REPORTS}


def table_name(prefix: str, report: str) -> str:
    """Return the table of a report: ``<prefix>advertiser_by_day``, ``<prefix>campaigns``, ..."""
    name = prefix + report.replace("/", "_").replace("-", "_")
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"table_prefix {prefix!r} makes the table name {name!r}: use letters, digits and _ only.")
    return name


class RefusedEvent(Exception):
    """An Asset event the load does not act on.

    :param reason: ``external`` (not written by the ETL's task for its report), ``unknown_report``,
        ``wrong_asset``, ``malformed`` (no lists of days and URLs of one length), ``not_a_day`` or
        ``foreign_url`` (not the object the ETL writes for that report and day under ``base_url``).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _name(asset: Any) -> str | None:
    """Return an Asset's name (a Dataset's URI on Airflow 2)."""
    return getattr(asset, "name", None) or getattr(asset, "uri", None)


def _asset_name(event: Any) -> str | None:
    """Return the name of an event's Asset (Airflow 3: ``event.asset``; Airflow 2: ``event.dataset``)."""
    return _name(getattr(event, "asset", None) or getattr(event, "dataset", None)) or getattr(event, "uri", None)


def trusted_days(event: Any, *, base_url: str, allow_external: bool = False) -> tuple[str, dict[str, str]]:
    """Return ``(report, {day: url})`` of an Asset event the load trusts; else raise :class:`RefusedEvent`.

    The one decision of what the load may open, delete and create. Trusted: an event that the ETL's task for
    its report emitted (``source_dag_id``/``source_task_id``; one posted through the REST API has neither,
    and Airflow marks its extra ``from_rest_api``), unless ``allow_external``; for a report of
    :data:`REPORTS`, on that report's Asset; each day a real ``YYYY-MM-DD``; each URL exactly the object the
    ETL's destination names for that report and day, in a format the transfer writes, under ``base_url``.

    :param event: an Asset event (Airflow 3) or Dataset event (Airflow 2) with ``extra``, ``source_dag_id``
        and ``source_task_id``.
    :param base_url: where the ETL writes (its DAG param ``base_url``).
    :param allow_external: trust events from other sources too (the other checks still apply).
    """
    extra = event.extra if isinstance(event.extra, Mapping) else {}
    report = extra.get("report")
    if report not in REPORTS:
        raise RefusedEvent("unknown_report", f"report {_short(report)} is not one of {list(REPORTS)}")
    if _asset_name(event) != _name(report_asset(report)):
        raise RefusedEvent("wrong_asset", f"an event of {_short(_asset_name(event))} names the report {report}")
    source = (getattr(event, "source_dag_id", None), getattr(event, "source_task_id", None))
    if (source != (ETL_DAG_ID, report_key(report)) or extra.get("from_rest_api")) and not allow_external:
        origin = "the REST API" if extra.get("from_rest_api") else ".".join(map(str, source))
        raise RefusedEvent(
            "external",
            f"posted by {origin}, not by {ETL_DAG_ID}.{report_key(report)} (the DAG param allow_external_events "
            "lets such events through)",
        )
    days, urls = extra.get("days"), extra.get("urls")
    if not isinstance(days, list) or not isinstance(urls, list) or len(days) != len(urls):
        raise RefusedEvent("malformed", "the extra needs 'days' and 'urls', two lists of the same length")
    template = base_url.rstrip("/") + OBJECT_NAME
    plan: dict[str, str] = {}
    for day, url in zip(days, urls, strict=True):
        try:
            parsed = date.fromisoformat(day) if isinstance(day, str) and _DAY.fullmatch(day) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise RefusedEvent("not_a_day", f"{_short(day)} is not a day (YYYY-MM-DD)")
        expected = [reports.object_url(template, report, parsed, fmt) for fmt in reports.FORMATS]
        if not isinstance(url, str) or url not in expected:
            raise RefusedEvent(
                "foreign_url", f"{_short(url)} is not the ETL's object of {report} {day} under {base_url}"
            )
        plan[day] = url
    return report, plan


def _trusted(event: Any, base_url: str, allow_external: bool) -> tuple[str, dict[str, str]] | None:
    try:
        return trusted_days(event, base_url=base_url, allow_external=allow_external)
    except RefusedEvent as refused:
        log.warning(
            "Ignoring an Asset event of %s [%s]: %s (event of %s).",
            _asset_name(event), refused.reason, refused.detail, event.timestamp,
        )  # fmt: skip
        return None


def days_to_load(events: Iterable[Any], *, base_url: str, allow_external: bool = False) -> dict[str, dict[str, str]]:
    """Return ``{report: {day: url}}`` from the Asset events :func:`trusted_days` trusts (the others: a warning).

    Events are taken oldest first, so for a day written by several runs the newest object wins.
    """
    plan: dict[str, dict[str, str]] = {}
    for event in sorted(events, key=lambda e: e.timestamp):
        found = _trusted(event, base_url, allow_external)
        if found is not None:
            plan.setdefault(found[0], {}).update(found[1])
    return {report: dict(sorted(days.items())) for report, days in sorted(plan.items())}


def latest_trusted(events: Sequence[Any], *, base_url: str, allow_external: bool = False) -> Any | None:
    """Return the newest of an Asset's events (oldest first) that :func:`trusted_days` trusts, if any."""
    for event in itertools.islice(reversed(events), MANUAL_LOOKBACK):
        if _trusted(event, base_url, allow_external) is not None:
            return event
    return None


def read_rows(url: str, storage_conn_id: str | None, report: str = "?") -> list[dict[str, Any]]:
    """Return the rows of one object written by the transfer (CSV, JSON Lines or Parquet, by extension),
    read by the provider's own reader: lines split exactly where the writer ends them."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    data = ObjectStoragePath(url, conn_id=storage_conn_id).read_bytes()
    return reports.decode(reports.format_of(url), bytes(data), report=report)


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
    columns = reports.report_spec(report, allow_campaigns=True).fields
    kinds = [reports.FIELD_TYPES[c] for c in columns]
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
        "base_url": Param(
            BASE_URL, type="string", description="Where the ETL writes (its base_url): only its objects there load."
        ),
        "allow_external_events": Param(
            False, type="boolean", description="Also trust Asset events not emitted by the ETL (e.g. REST-posted)."
        ),
    },
    tags=["example", "trafficstars"],
)
def example_trafficstars_report_load() -> None:
    @task(inlets=list(ASSETS.values()))
    def load(**context: Any) -> dict[str, Any]:
        """Load the days of the trusted triggering Asset events (a manual run: each Asset's latest trusted one)."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        params = context["params"]
        trust = {"base_url": params["base_url"], "allow_external": bool(params["allow_external_events"])}
        triggering = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
        events = [event for asset_events in triggering.values() for event in asset_events]
        if not events:
            log.info("No triggering Asset events (a manual run): loading the latest trusted event of each Asset.")
            inlet_events = context["inlet_events"]
            latest = (latest_trusted(inlet_events[asset], **trust) for asset in ASSETS.values())
            events = [event for event in latest if event is not None]
        plan = days_to_load(events, **trust)

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
