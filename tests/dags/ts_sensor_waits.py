"""The balance sensor against a rate-limited API, in poke and reschedule mode (integration test DAG).

A short poke_interval and a long timeout: only what the API says (Retry-After, a 429) can make a poke wait
longer than 0.2 s, and no deadline cuts those waits short.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor

with DAG(
    "ts_sensor_waits",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test"],
):
    TrafficStarsBalanceSensor(task_id="poke", min_balance=500, mode="poke", poke_interval=0.2, timeout=3600)
    TrafficStarsBalanceSensor(task_id="reschedule", min_balance=500, mode="reschedule", poke_interval=0.2, timeout=3600)
