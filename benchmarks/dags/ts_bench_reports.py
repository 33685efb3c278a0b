"""Scenarios 6 and 7: the report transfer against an emulator that enforces the API's rate limit.

- ``ts_bench_report_backfill``: by-campaign, by-country and by-day over ``days`` days ending ``date_to``,
  one ``TrafficStarsReportToStorageOperator`` each, in one DAG run.
- ``ts_bench_report_naive``: the baseline, one call per campaign per day through the generic
  ``TrafficStarsApiOperator`` (a mapped task each), as the retired per-campaign example did.
- ``ts_bench_report_memory``: the peak memory (tracemalloc) of a 366-day by-day export and of a by-spot
  day of 10 000 rows, next to the memory that parsing one answer takes; figures to the JSON file ``out``.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_trafficstars.operators.trafficstars import TrafficStarsApiOperator
from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

DESTINATION = "{{ params.base_url }}/{report}/day={day}/part.{ext}"
_ARGS: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}


@dag(**_ARGS, params={"days": 60, "date_to": "2026-10-31", "base_url": ""}, tags=["benchmark"])
def ts_bench_report_backfill() -> None:
    for report in ("advertiser/by-campaign", "advertiser/by-country", "advertiser/by-day"):
        TrafficStarsReportToStorageOperator(
            task_id=report.split("/")[1].replace("-", "_"),
            report=report,
            destination=DESTINATION,
            date_from="{{ macros.ds_add(params.date_to, 1 - params.days) }}",
            date_to="{{ params.date_to }}",
        )


@dag(**_ARGS, params={"days": 60, "date_to": "2026-10-31", "campaigns": 3}, tags=["benchmark"])
def ts_bench_report_naive() -> None:
    @task
    def queries(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        p = params or {}
        last = date.fromisoformat(p["date_to"])
        days = [(last - timedelta(days=i)).isoformat() for i in range(int(p["days"]))]
        return [
            {"date_from": day, "date_to": day, "campaign_id": [campaign]}
            for day in sorted(days)
            for campaign in range(1, int(p["campaigns"]) + 1)
        ]

    TrafficStarsApiOperator.partial(
        task_id="fetch", endpoint="/v1.1/advertiser/custom/report/by-campaign", response_filter=row_count
    ).expand(query_params=queries())


def row_count(response: Any) -> int:
    """Keep only the number of rows of an answer in XCom."""
    return len(response.json())


class MeasuredReportToStorage(TrafficStarsReportToStorageOperator):
    """The transfer, with its peak traced memory, and that of parsing its largest answer alone, to ``out``."""

    def __init__(self, *, largest_call: tuple[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.largest_call = largest_call

    def execute(self, context: Any) -> Any:
        import tracemalloc

        from airflow_provider_trafficstars.client.reports._catalogue import report_query, report_spec
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        hook = TrafficStarsHook()
        spec = report_spec(self.report)
        query = report_query(spec, *self.largest_call)
        answer_bytes = len(hook.request("GET", spec.path, params=query).content)
        tracemalloc.start()
        try:
            hook.get_report(self.report, date_from=self.largest_call[0], date_to=self.largest_call[1])
            one_answer_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            tracemalloc.clear_traces()
            result = super().execute(context)
            export_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        figures = {
            "objects": len(result),
            "rows": sum(item["rows"] for item in result),
            "answer_bytes": answer_bytes,
            "one_answer_peak": one_answer_peak,
            "export_peak": export_peak,
        }
        out = Path(context["params"]["out"] or "")
        if out.name:
            stored = json.loads(out.read_text()) if out.exists() else {}
            out.write_text(json.dumps({**stored, self.task_id: figures}))
        return result


@dag(**_ARGS, params={"base_url": "", "out": "", "large_day": "2026-10-31"}, tags=["benchmark"])
def ts_bench_report_memory() -> None:
    year = ("2024-01-01", "2024-12-31")  # 366 days: one by-day call
    by_day = MeasuredReportToStorage(
        task_id="by_day_366_days",
        report="advertiser/by-day",
        destination=DESTINATION,
        date_from=year[0],
        date_to=year[1],
        largest_call=year,
    )
    by_spot = MeasuredReportToStorage(
        task_id="by_spot_10000_rows",
        report="advertiser/by-spot",
        destination=DESTINATION,
        date_from="2026-10-31",
        date_to="2026-10-31",
        largest_call=("2026-10-31", "2026-10-31"),
    )
    by_day >> by_spot


ts_bench_report_backfill()
ts_bench_report_naive()
ts_bench_report_memory()
