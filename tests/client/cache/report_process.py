"""One report task as its own OS process: ``python -m tests.client.cache.report_process`` (for the multi-process tests).

It reads one JSON line of settings from stdin (``url``, ``api_key``, ``days``, ``config``: ClientConfig fields),
builds its client (what the hook builds, with an in-memory token cache: the wait rule is under test, not the
shared token), prints ``ready`` and waits for a ``go`` line, so that every process starts at one barrier. Then
it reads the ``advertiser/by-day`` report one day at a time, as the report transfer does, and prints one JSON
line: the days it got, and the status code (or error type) of each day that failed for good.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta

from airflow_provider_trafficstars.client._client import ClientConfig, TrafficStarsClient
from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache
from airflow_provider_trafficstars.client.reports import _catalogue as reports
from airflow_provider_trafficstars.exceptions import TrafficStarsApiError

FIRST_DAY = date(2026, 1, 1)


def main() -> int:
    settings = json.loads(sys.stdin.readline())
    config = ClientConfig(base_url=settings["url"], api_key=settings["api_key"], **settings["config"])
    client = TrafficStarsClient(config, MemoryTokenCache("report-process", store={}))
    spec = reports.report_spec("advertiser/by-day")
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    done: list[str] = []
    failed: list[str] = []
    for offset in range(settings["days"]):
        day = FIRST_DAY + timedelta(days=offset)
        try:
            client.request("GET", spec.path, params=reports.report_query(spec, day, day, None))
        except TrafficStarsApiError as exc:
            failed.append(f"{day}: {exc.status_code or type(exc).__name__} after {exc.attempts} attempts")
        else:
            done.append(day.isoformat())
    client.close()
    print(json.dumps({"done": done, "failed": failed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
