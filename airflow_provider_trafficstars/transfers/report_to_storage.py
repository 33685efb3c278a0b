"""TrafficStarsReportToStorageOperator: one TrafficStars report into object storage, one complete object per day."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import Asset, ObjectStoragePath

from airflow_provider_trafficstars.client.cache._cursor import CursorRecord, ExportCursor, cursor_key
from airflow_provider_trafficstars.client.reports import _catalogue as reports
from airflow_provider_trafficstars.client.reports import _coverage as coverage
from airflow_provider_trafficstars.client.reports import _files as report_files
from airflow_provider_trafficstars.client.reports import _schema as schema
from airflow_provider_trafficstars.client.reports import _storage as report_storage
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError
from airflow_provider_trafficstars.hooks._airflow import get_variable_store
from airflow_provider_trafficstars.operators._base import TrafficStarsBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage

#: What a connection id must look like to become the ``{account}`` segment of a destination: one path
#: segment (Airflow also allows ``/``, a backslash, ``:`` and ``#`` in ids), never ``.``, ``..`` or a hidden name.
_ACCOUNT_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,249}")


class TrafficStarsReportToStorageOperator(TrafficStarsBaseOperator):
    """Export a TrafficStars report to object storage: one complete object per day, the same bytes on a rerun.

    **Which days a run covers** (decided once, in :func:`~.client.reports._coverage.decide`),
    in calendar days of the connection extra ``report_timezone`` (default UTC): every day since the
    export's first run is exported at least once, whatever the schedule, time zones, DST, missed or
    skipped runs, pauses and clears. The export (this report, filters and format at this destination, for
    this account) keeps a cursor, the last day it wrote, in an Airflow Variable
    (``trafficstars_report_cursor_<hash>``, named in the task log). A run covers from the day after the
    cursor to its own last day: the complete days of its data interval; when that holds none (Airflow 3's
    zero-length ``@daily`` interval, an hourly one), the day before the interval's start; without an
    interval (a run triggered with no logical date), the day before the day it was due (``run_after``,
    which a clear does not change). The first run (no cursor) covers its own days. A retry or a clear
    covers what the first try covered. A day that had not ended when the try started is left for a later
    run. More than ``max_catchup_days`` days before its own fails with a
    :class:`~airflow_provider_trafficstars.exceptions.TrafficStarsCoverageError` naming the ``date_from``
    to run with. ``lookback_days`` covers that many days before the first one again (late conversions).
    ``date_from``/``date_to`` re-export exactly that range (a day that has not ended is refused): the
    cursor never moves back, and moves on only when the range starts at or before the day after it. The
    cursor moves after every day of the run is written. ``campaigns`` keeps no cursor.

    A by-day report is fetched in as few calls as the range allows (up to 366 days each) and split by its
    ``day``; any other breakdown aggregates over a range, so it is fetched one day per call. A day without
    rows still gets its object (a header-only CSV, an empty JSON Lines file, a Parquet file with its
    schema): "fetched, nothing happened" differs from "not fetched"; an answer with nothing in it (an empty
    body, a 204, JSON ``null``) fails the task and leaves the day's object as it was. Each object appears
    only when complete (how, per protocol: :mod:`airflow_provider_trafficstars.client.reports._storage`; a
    destination where that cannot be guaranteed fails before any API call); a failure on a later day
    leaves the earlier days' objects complete and no stray temporary object. Columns: the report's known
    fields in a fixed order (``day`` first), then unknown fields sorted; rows sorted by their values.

    Returns ``[{"day": "YYYY-MM-DD", "url": ..., "rows": n, "account": conn_id}, ...]`` and, for each Asset in
    ``outlets``, adds ``{"report", "account", "days", "rows", "urls"}`` to its event's extra (``account`` is
    the connection id: tasks mapped over accounts tell their objects apart by it).

    :param report: ``advertiser/by-day``, ``advertiser/by-campaign``, ``advertiser/by-country``,
        ``advertiser/by-creative``, ``advertiser/by-spot``, ``publisher/by-day``, ``publisher/by-spot``,
        ``publisher/by-country``, or ``campaigns`` (a snapshot of the campaign list: one object per run,
        filed under the day it was taken, today in the connection's ``report_timezone``).
    :param destination: object URL with ``{day}`` and optionally ``{report}``, ``{ext}`` and ``{account}``
        (the connection id, which must then be a plain path segment: letters, digits, ``_``, ``-``, ``.``),
        e.g. ``s3://bucket/trafficstars/{account}/{report}/day={day}/part.{ext}`` or an absolute local path
        (templated; as
        rendered it names the export whose cursor the run uses: keep run-specific values such as ``{{ ds }}``
        out of it).
    :param storage_conn_id: the Airflow connection of the object store (None or empty: the store's default)
        (templated).
    :param date_from: first day of a re-export, ``YYYY-MM-DD`` (templated); empty: see above.
    :param date_to: last day of a re-export, ``YYYY-MM-DD`` (templated); empty: the run's own last day.
    :param lookback_days: days before the first day to export again.
    :param max_catchup_days: most days before its own that a run exports because earlier runs did not
        (default 31); beyond it the run fails, naming the ``date_from`` that exports them all.
    :param filters: ``{"campaign_id": [...]}`` (advertiser), ``{"spot_id": [...]}`` (publisher) or
        ``{"status": [...]}`` (campaigns) (templated).
    :param format: ``csv``, ``jsonl`` or ``parquet`` (needs the ``parquet`` extra: pyarrow).
    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    """

    template_fields: Sequence[str] = (
        "trafficstars_conn_id",
        "destination",
        "storage_conn_id",
        "date_from",
        "date_to",
        "filters",
    )
    ui_color = "#e8d6f0"

    def __init__(
        self,
        *,
        report: str,
        destination: str,
        storage_conn_id: str | None = None,
        date_from: str | date | None = None,
        date_to: str | date | None = None,
        lookback_days: int = 0,
        max_catchup_days: int = coverage.DEFAULT_MAX_CATCHUP_DAYS,
        filters: Mapping[str, Any] | None = None,
        format: str = "csv",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = reports.report_spec(report, allow_campaigns=True)
        if format not in report_files.FORMATS:  # pyarrow is looked for at run time, on the worker
            report_files.check_format(format)
        self.report = report
        self.destination = destination
        self.storage_conn_id = storage_conn_id
        self.date_from = date_from
        self.date_to = date_to
        self.lookback_days = coverage.check_count(lookback_days, "lookback_days")
        self.max_catchup_days = coverage.check_count(max_catchup_days, "max_catchup_days")
        self.filters = filters
        self.format = format
        self._written: list[dict[str, Any]] = []

    def execute(self, context: Context) -> list[dict[str, Any]]:
        # Everything that can be wrong in the arguments fails here, before any call.
        fmt = report_files.check_format(self.format)
        template = report_files.check_destination(self._with_account(self.destination))
        report_storage.prepare(template, self._storage_path)  # an unusable destination fails before any call
        filters = reports.filter_values(self.spec, self.filters)
        zone = reports.report_timezone(self.hook.get_conn().config.report_timezone, self.trafficstars_conn_id)
        now = datetime.now(timezone.utc)
        cursor = None if self.spec.is_campaigns else self._cursor(template, fmt, filters)
        record = cursor.load() if cursor else CursorRecord()
        run_key = _run_key(context)
        decided = coverage.decide(
            times=_run_times(context, now),
            now=now,
            tz=zone,
            cursor=record.cursor,
            remembered=record.remembered(run_key),
            date_from=self.date_from,
            date_to=self.date_to,
            lookback_days=self.lookback_days,
            max_catchup_days=self.max_catchup_days,
        )
        self.log.info(
            "Exporting TrafficStars %s for %s, in %s; cursor %s (Variable %s).",
            self.spec.name,
            coverage.describe(decided),
            zone,
            record.cursor or "none yet",
            cursor.key if cursor else "none: a snapshot keeps no cursor",
        )
        if cursor is not None and run_key is not None and decided.keep:
            cursor.remember(run_key, decided)
        days = decided.days
        self._written = []
        if days or self.spec.is_campaigns:  # a snapshot is taken whatever days the run covers
            for day, rows in self._fetch(days, filters):
                self._written.append(self._write(template, fmt, day, rows))
        if cursor is not None:
            self.log.info("The cursor of this export is at %s.", cursor.advance(decided) or "none yet")
        self._add_asset_events(context)
        return self._written

    def _with_account(self, destination: Any) -> Any:
        """Return ``destination`` with ``{account}`` replaced by the connection id, checked to be one path segment."""
        if not isinstance(destination, str) or "{account}" not in destination:
            return destination
        account = self.trafficstars_conn_id
        if not isinstance(account, str) or not _ACCOUNT_SEGMENT.fullmatch(account):
            raise TrafficStarsConfigError(
                f"destination uses {{account}}, but the connection id {account!r} is not a plain path segment: "
                "use letters, digits, '_', '-' and '.' (not first) in the id, or leave {account} out."
            )
        return destination.replace("{account}", account)

    def _cursor(self, template: str, fmt: str, filters: Mapping[str, Any]) -> ExportCursor:
        """Return the shared cursor of this export (this account's report, filters, format, destination)."""
        config = self.hook.get_conn().config
        export = {"report": self.spec.name, "destination": template, "format": fmt, "filters": dict(filters)}
        key = cursor_key(
            account=config.fingerprint, report=self.spec.name, destination=template, fmt=fmt, filters=filters
        )
        return ExportCursor(key, get_variable_store(), export={**export, "host": urlsplit(config.base_url).netloc})

    def _fetch(self, days: list[date], filters: dict[str, Any]) -> Iterator[tuple[date, Sequence[Mapping[str, Any]]]]:
        """Yield ``(day, rows)`` in day order, one answer in memory at a time."""
        spec, hook = self.spec, self.hook
        if spec.is_campaigns:
            rows = hook.get_campaigns(status=filters.get("status"))
            zone = reports.report_timezone(hook.get_conn().config.report_timezone, self.trafficstars_conn_id)
            yield reports.snapshot_day(datetime.now(timezone.utc), zone), rows
        elif spec.per_day:
            for first, last in reports.chunks(days):
                rows = hook.get_report(spec.name, date_from=first, date_to=last, filters=filters)
                yield from schema.split_by_day(spec, rows, first, last).items()
        else:
            for day in days:
                yield day, hook.get_report(spec.name, date_from=day, date_to=day, filters=filters)

    def _write(self, template: str, fmt: str, day: date, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        columns, values = schema.table(self.spec, day, rows)
        url = report_files.object_url(template, self.spec.name, day, fmt)
        report_storage.write_object(self._storage_path(url), report_files.encode(fmt, self.spec, columns, values))
        self.log.info("Wrote %d row(s) of %s for %s to %s.", len(values), self.spec.name, day, url)
        return {"day": day.isoformat(), "url": url, "rows": len(values), "account": self.trafficstars_conn_id}

    def _storage_path(self, url: str) -> ObjectStoragePath:
        return ObjectStoragePath(url, conn_id=self.storage_conn_id or None)  # a template rendered empty: the default

    def _add_asset_events(self, context: Context) -> None:
        extra = {
            "report": self.spec.name,
            "account": self.trafficstars_conn_id,
            "days": [w["day"] for w in self._written],
            "rows": sum(w["rows"] for w in self._written),
            "urls": [w["url"] for w in self._written],
        }
        for outlet in self.outlets or []:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = dict(extra)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """Return the report as the input dataset and the objects written as outputs.

        The input is named ``<conn id>/<report>`` in the namespace ``trafficstars://<host>``: two accounts on
        one host are two sources.
        """
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        host = urlsplit(self.hook.get_conn().config.base_url).netloc
        outputs = []
        for written in self._written:
            path = self._storage_path(written["url"])
            outputs.append(Dataset(namespace=path.namespace or "file", name=path.key))  # a plain path is a file
        return OperatorLineage(
            inputs=[Dataset(namespace=f"trafficstars://{host}", name=f"{self.trafficstars_conn_id}/{self.spec.name}")],
            outputs=outputs,
        )


def _run_times(context: Mapping[str, Any], now: datetime) -> coverage.RunTimes:
    """Return what a task's run is about: its data interval, and when it was due (never its start_date)."""
    dag_run = context.get("dag_run")
    # run_after (Airflow 3) is set for every run, dateless ones too, and a clear keeps it; Airflow 2 runs
    # always have a logical date. Only a bare context (a direct execute()) falls back to the time of the try.
    due = getattr(dag_run, "run_after", None) or context.get("logical_date") or now
    return coverage.RunTimes(context.get("data_interval_start"), context.get("data_interval_end"), due)


def _run_key(context: Mapping[str, Any]) -> str | None:
    """Return ``dag_id/run_id/task_id/map_index`` of a task's run (None outside a task run)."""
    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        return None
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}"
