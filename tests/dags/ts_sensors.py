"""Session sensors in every mode (integration test DAG): each test runs one task, marking the others done."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_trafficstars.sensors.trafficstars import TrafficStarsSessionSensor

FAST = {"poke_interval": 0.2, "timeout": 15}

with DAG(
    "ts_sensors",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test"],
):
    TrafficStarsSessionSensor(task_id="poke", mode="poke", **FAST)
    TrafficStarsSessionSensor(task_id="poke_min_ttl", mode="poke", min_ttl=1800, **FAST)
    TrafficStarsSessionSensor(task_id="poke_soft_fail", mode="poke", soft_fail=True, **FAST)
    TrafficStarsSessionSensor(task_id="reschedule", mode="reschedule", **FAST)
    TrafficStarsSessionSensor(task_id="deferrable", deferrable=True, **FAST)
    TrafficStarsSessionSensor(task_id="deferrable_min_ttl", deferrable=True, min_ttl=1800, **FAST)
    TrafficStarsSessionSensor(task_id="deferrable_soft_fail", deferrable=True, soft_fail=True, **FAST)
    TrafficStarsSessionSensor(task_id="deferrable_timeout", deferrable=True, poke_interval=0.2, timeout=2)
    TrafficStarsSessionSensor(task_id="poke_timeout", mode="poke", poke_interval=0.2, timeout=2)
