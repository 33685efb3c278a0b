"""Issue 16's deployment scenario: 4 report tasks in parallel, 90 days each (one call a day), one account.

``ts_budget_reports`` uses the connection ``trafficstars_default`` (the account's budget, ``rate_limit`` 100);
``ts_budget_reports_naive`` uses ``trafficstars_naive`` (``rate_limit`` 0: what each task did with the old
per-process limiter, whose 100 calls per 60 s each task's 90 calls never reached).
"""

from __future__ import annotations

from datetime import date, timedelta

import pendulum
from airflow.sdk import dag, task

DAYS = 90
REPORT = "/v1.1/advertiser/custom/report/by-day"


def _make(dag_id: str, conn_id: str) -> None:
    @dag(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def reports() -> None:
        @task(retries=0)
        def report(offset: int) -> int:
            from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

            hook = TrafficStarsHook(conn_id)
            try:
                for i in range(DAYS):
                    day = (date(2025, 1, 1) + timedelta(days=offset * DAYS + i)).isoformat()
                    hook.request("GET", REPORT, params={"date_from": day, "date_to": day})
            finally:
                hook.close()
            return DAYS

        report.expand(offset=[0, 1, 2, 3])

    reports()


_make("ts_budget_reports", "trafficstars_default")
_make("ts_budget_reports_naive", "trafficstars_naive")
