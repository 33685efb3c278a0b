"""The counts of benchmark scenarios 1 and 2, asserted (times are measured by ``make bench``, not here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from benchmarks import dag_runs
from tests.airflow_compat import requires_airflow_3
from tests.helpers import DAGS_FOLDER, conn_json

# The benchmark DAGs are written with the Task SDK (airflow.sdk).
pytestmark = [pytest.mark.integration, pytest.mark.slow, requires_airflow_3]


@pytest.fixture
def unlimited_conn(monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator, api_key: str) -> None:
    """``trafficstars_default`` with the connection's rate limit out of reach, as ``make bench`` runs these."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRAFFICSTARS_DEFAULT",
        conn_json(emulator.url, api_key, rate_limit=dag_runs.UNREACHED_RATE_LIMIT),
    )


def test_fifty_task_runs_in_one_token_lifetime_cost_one_token_request(
    airflow_db: Path, clean_variables: None, unlimited_conn: None, emulator: TrafficStarsEmulator
) -> None:
    dag = dag_runs.install("ts_bench_fanout", DAGS_FOLDER)
    got = dag_runs.fanout(dag, 50, naive=False, token_requests=lambda: emulator.token_requests)
    assert got["state"] == "success"
    assert emulator.count("GET", "/v1.1/campaigns") == 50
    assert got["token_requests"] == 1


def test_five_hundred_calls_in_one_task_cost_one_token_request_and_two_variable_reads(
    airflow_db: Path, clean_variables: None, unlimited_conn: None, emulator: TrafficStarsEmulator
) -> None:
    dag = dag_runs.install("ts_bench_calls", DAGS_FOLDER)
    got = dag_runs.calls(dag, 500, token_requests=lambda: emulator.token_requests)
    assert got["state"] == "success"
    assert got["calls"] == 500
    assert got["token_requests"] == 1
    # One read of the token Variable (a cold cache), then the token is kept in memory for 499 calls.
    assert got["token_variable_reads"] <= 2
    # The renewal lease: one look for a live lease, one read-back after the settle delay.
    assert got["lease_variable_reads"] == 2
    # The account's call budget (out of reach here): one visit for all 500 calls, its lease and its record.
    assert 1 <= got["budget_variable_reads"] <= 4


def test_report_backfill_makes_one_call_per_day_and_report_and_one_for_by_day(
    airflow_db: Path, clean_variables: None, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Benchmark 6 at a small scale: the call counts (``make bench`` runs 60 days and measures the time)."""
    from benchmarks import report_runs

    with TrafficStarsEmulator(api_keys=[api_key], campaigns=3, rate_limit=report_runs.RATE) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key))
        dag = report_runs.install(DAGS_FOLDER)["ts_bench_report_backfill"]
        got = report_runs.backfill(dag, emulator, 5, f"file://{tmp_path}")
    assert got["state"] == "success"
    assert got["tasks"] == {"success": 3}
    assert got["by_path"] == {"by-campaign": 5, "by-country": 5, "by-day": 1, "/v1/auth/token": 1}
    assert got["answers_429"] == 0
    assert len(list(tmp_path.rglob("*.csv"))) == 3 * 5
