"""The counts of benchmark scenarios 1 and 2, asserted (times are measured by ``make bench``, not here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from benchmarks import dag_runs
from tests.airflow_compat import requires_airflow_3
from tests.conftest import DAGS_FOLDER, conn_json

# The benchmark DAGs are written with the Task SDK (airflow.sdk).
pytestmark = [pytest.mark.integration, pytest.mark.slow, requires_airflow_3]


def test_fifty_task_runs_in_one_token_lifetime_cost_one_token_request(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    dag = dag_runs.install("ts_bench_fanout", DAGS_FOLDER)
    got = dag_runs.fanout(dag, 50, naive=False, token_requests=lambda: emulator.token_requests)
    assert got["state"] == "success"
    assert emulator.count("GET", "/v1.1/campaigns") == 50
    assert got["token_requests"] == 1


def test_five_hundred_calls_in_one_task_cost_one_token_request_and_two_variable_reads(
    airflow_db: Path,
    clean_variables: None,
    monkeypatch: pytest.MonkeyPatch,
    emulator: TrafficStarsEmulator,
    api_key: str,
) -> None:
    # This emulator has no rate limit and the scenario counts tokens, not time: no client-side limit either.
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key, rate_limit=0))
    dag = dag_runs.install("ts_bench_calls", DAGS_FOLDER)
    got = dag_runs.calls(dag, 500, token_requests=lambda: emulator.token_requests)
    assert got["state"] == "success"
    assert got["calls"] == 500
    assert got["token_requests"] == 1
    # One read of the token Variable (a cold cache), then the token is kept in memory for 499 calls.
    assert got["token_variable_reads"] <= 2
    # The renewal lease: one look for a live lease, one read-back after the settle delay.
    assert got["lease_variable_reads"] == 2
