"""Scenario 2: one task makes N API calls through TrafficStarsHook, timed against a raw requests.Session.

Every ``airflow.sdk.Variable.get`` the hook makes is counted. The raw session sends the same request with a
fixed bearer header; the two are interleaved in blocks so that a load change on the machine hits both.
The figures go to the JSON file named by the ``out`` param (and to XCom).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"calls": 500, "block": 10, "out": ""},
    tags=["benchmark"],
)
def ts_bench_calls() -> None:
    @task
    def calls(params: dict[str, Any] | None = None) -> dict[str, Any]:
        import json
        import statistics
        import time

        import requests
        from airflow.sdk import Variable

        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        p = params or {}
        n, block = int(p["calls"]), int(p["block"])
        reads: list[str] = []
        original = Variable.get

        def counting_get(key: str, *args: Any, **kwargs: Any) -> Any:
            reads.append(key)
            return original(key, *args, **kwargs)

        hook = TrafficStarsHook()
        ours: list[float] = []
        raw: list[float] = []
        session: requests.Session | None = None
        Variable.get = counting_get  # type: ignore[method-assign]
        try:
            while len(ours) < n:
                for _ in range(min(block, n - len(ours))):
                    started = time.perf_counter()
                    hook.request("GET", "/v1.1/campaigns")
                    ours.append(time.perf_counter() - started)
                if session is None:  # the baseline borrows the token: it costs no request of its own
                    session = requests.Session()
                    session.headers["Authorization"] = f"Bearer {hook.get_token().access_token}"
                url = hook.get_conn().config.base_url + "/v1.1/campaigns"
                for _ in range(block):
                    started = time.perf_counter()
                    session.get(url, timeout=30).raise_for_status()
                    raw.append(time.perf_counter() - started)
        finally:
            Variable.get = original  # type: ignore[method-assign]
        token_var = hook.get_conn().cache.key
        budget = [k for k in reads if k.startswith("trafficstars_call_budget_")]  # the account's call budget
        result = {
            "calls": len(ours),
            "variable_reads": len(reads),
            "token_variable_reads": reads.count(token_var),
            "lease_variable_reads": len(reads) - reads.count(token_var) - len(budget),
            "budget_variable_reads": len(budget),
            "median_ours": statistics.median(ours),
            "median_raw": statistics.median(raw),
            "ratio": statistics.median(ours) / statistics.median(raw),
        }
        if p.get("out"):
            with open(p["out"], "w") as f:
                json.dump(result, f)
        return result

    calls()


ts_bench_calls()
