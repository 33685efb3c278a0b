"""TrafficStarsReportToStorageOperator: one TrafficStars report into object storage, one complete object per day."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import Asset, ObjectStoragePath

from airflow_provider_trafficstars import report_files, report_storage, reports
from airflow_provider_trafficstars.operators.trafficstars import _TrafficStarsOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage


class TrafficStarsReportToStorageOperator(_TrafficStarsOperator):
    """Export a TrafficStars report to object storage: one complete object per day, the same bytes on a rerun.

    **Which days a run covers** (decided once, in :func:`airflow_provider_trafficstars.reports.run_days`):
    the complete days inside the run's data interval; when it holds none (Airflow 3's zero-length
    ``@daily`` interval, an hourly one), the day before the interval's start; without an interval (a run
    triggered without a logical date), the day before the run started. Days are calendar days in UTC, or
    in the connection extra ``report_timezone``. ``date_from`` / ``date_to`` override either end, and
    ``lookback_days`` exports that many days before the first one again (late conversions).

    A by-day report is fetched in as few calls as the range allows (up to 366 days each) and split by its
    ``day``; any other breakdown aggregates over a range, so it is fetched one day per call. A day without
    rows still gets its object (a header-only CSV, an empty JSON Lines file, a Parquet file with its
    schema): "fetched, nothing happened" differs from "not fetched"; an answer with nothing in it (an empty
    body, a 204, JSON ``null``) fails the task and leaves the day's object as it was. Each object appears
    only when complete (how, per protocol: :mod:`airflow_provider_trafficstars.report_storage`; a
    destination where that cannot be guaranteed fails before any API call); a failure on a later day
    leaves the earlier days' objects complete and no stray temporary object. Columns: the report's known
    fields in a fixed order (``day`` first), then unknown fields sorted; rows sorted by their values.

    Returns ``[{"day": "YYYY-MM-DD", "url": ..., "rows": n}, ...]`` and, for each Asset in ``outlets``, adds
    ``{"report", "days", "rows", "urls"}`` to its event's extra.

    :param report: ``advertiser/by-day``, ``advertiser/by-campaign``, ``advertiser/by-country``,
        ``advertiser/by-creative``, ``advertiser/by-spot``, ``publisher/by-day``, ``publisher/by-spot``,
        ``publisher/by-country``, or ``campaigns`` (a snapshot of the campaign list: one object per run,
        filed under the day it was taken, today in the connection's ``report_timezone``).
    :param destination: object URL with ``{day}`` and optionally ``{report}`` and ``{ext}``, e.g.
        ``s3://bucket/trafficstars/{report}/day={day}/part.{ext}`` or an absolute local path (templated).
    :param storage_conn_id: the Airflow connection of the object store (None: the store's default).
    :param date_from: first day, ``YYYY-MM-DD`` (templated); empty: see above.
    :param date_to: last day, ``YYYY-MM-DD`` (templated); empty: see above.
    :param lookback_days: days before the first day to export again.
    :param filters: ``{"campaign_id": [...]}`` (advertiser), ``{"spot_id": [...]}`` (publisher) or
        ``{"status": [...]}`` (campaigns) (templated).
    :param format: ``csv``, ``jsonl`` or ``parquet`` (needs the ``parquet`` extra: pyarrow).
    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``).
    """

    template_fields: Sequence[str] = ("destination", "date_from", "date_to", "filters")
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
        self.lookback_days = reports.check_lookback(lookback_days)
        self.filters = filters
        self.format = format
        self._written: list[dict[str, Any]] = []

    def execute(self, context: Context) -> list[dict[str, Any]]:
        # Everything that can be wrong in the arguments fails here, before any call.
        fmt = report_files.check_format(self.format)
        template = report_files.check_destination(self.destination)
        report_storage.prepare(template, self._storage_path)  # an unusable destination fails before any call
        filters = reports.filter_values(self.spec, self.filters)
        zone = reports.report_timezone(self.hook.client.config.report_timezone, self.trafficstars_conn_id)
        start, end, run_start = _run_window(context)
        days = reports.run_days(
            interval_start=start,
            interval_end=end,
            run_start=run_start,
            tz=zone,
            date_from=self.date_from,
            date_to=self.date_to,
            lookback_days=self.lookback_days,
        )
        self.log.info(
            "Exporting TrafficStars %s for %s..%s (%d day(s), %s).", self.spec.name, days[0], days[-1], len(days), zone
        )
        self._written = []
        for day, rows in self._fetch(days, filters):
            self._written.append(self._write(template, fmt, day, rows))
        self._add_asset_events(context)
        return self._written

    def _fetch(self, days: list[date], filters: dict[str, Any]) -> Iterator[tuple[date, Sequence[Mapping[str, Any]]]]:
        """Yield ``(day, rows)`` in day order, one answer in memory at a time."""
        spec, hook = self.spec, self.hook
        if spec.is_campaigns:
            rows = hook.get_campaigns(status=filters.get("status"))
            zone = reports.report_timezone(hook.client.config.report_timezone, self.trafficstars_conn_id)
            yield reports.snapshot_day(datetime.now(timezone.utc), zone), rows
        elif spec.per_day:
            for first, last in reports.chunks(days):
                rows = hook.get_report(spec.name, date_from=first, date_to=last, filters=filters)
                yield from reports.split_by_day(spec, rows, first, last).items()
        else:
            for day in days:
                yield day, hook.get_report(spec.name, date_from=day, date_to=day, filters=filters)

    def _write(self, template: str, fmt: str, day: date, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        columns, values = reports.table(self.spec, day, rows)
        url = report_files.object_url(template, self.spec.name, day, fmt)
        report_storage.write_object(self._storage_path(url), report_files.encode(fmt, self.spec, columns, values))
        self.log.info("Wrote %d row(s) of %s for %s to %s.", len(values), self.spec.name, day, url)
        return {"day": day.isoformat(), "url": url, "rows": len(values)}

    def _storage_path(self, url: str) -> ObjectStoragePath:
        return ObjectStoragePath(url, conn_id=self.storage_conn_id)

    def _add_asset_events(self, context: Context) -> None:
        extra = {
            "report": self.spec.name,
            "days": [w["day"] for w in self._written],
            "rows": sum(w["rows"] for w in self._written),
            "urls": [w["url"] for w in self._written],
        }
        for outlet in self.outlets or []:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = dict(extra)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """Return the report as the input dataset (namespace ``trafficstars://<host>``) and the objects written."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        host = urlsplit(self.hook.client.config.base_url).netloc
        outputs = []
        for written in self._written:
            path = self._storage_path(written["url"])
            outputs.append(Dataset(namespace=path.namespace or "file", name=path.key))  # a plain path is a file
        return OperatorLineage(
            inputs=[Dataset(namespace=f"trafficstars://{host}", name=self.spec.name)], outputs=outputs
        )


def _run_window(context: Mapping[str, Any]) -> tuple[datetime | None, datetime | None, datetime]:
    """Return the data interval of a task's context (None where a run has none) and when its run started."""
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None) or getattr(dag_run, "run_after", None)
    return (
        context.get("data_interval_start"),
        context.get("data_interval_end"),
        started or datetime.now(timezone.utc),
    )
