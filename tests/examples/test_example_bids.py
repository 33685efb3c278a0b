"""The bids example (the balance sensor, then a guarded bid change): a dry run changes nothing, a real one does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import assert_no_secret, install_dag, run_xcoms, task_logs, task_states

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "example_trafficstars_bids.py"


def campaign(emulator: TrafficStarsEmulator, campaign_id: int) -> dict[str, object]:
    (found,) = [c for c in emulator.campaigns.snapshot()["campaigns"] if c["id"] == campaign_id]
    return found


def test_the_bids_example_waits_for_the_balance_and_changes_the_bid_only_when_not_a_dry_run(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator, api_key: str
) -> None:
    from tests.airflow_compat import dag_test_without_date

    before = campaign(emulator, 1)
    # (Polling again below min_balance is tests/sensors/test_sensor_waits.py's: here it would wait 300 s.)
    dag = install_dag(EXAMPLE)

    dry = dag_test_without_date(dag, run_conf={"min_balance": 100})
    assert task_states(dry) == {"wait_for_balance": "success", "set_bid": "success"}
    plan = run_xcoms(dry)[("set_bid", -1)]
    assert sorted(plan["changed"]) == ["max_daily", "price"]
    assert plan["after"] == {"price": 0.6, "max_daily": 150}
    assert campaign(emulator, 1) == before  # a dry run sends nothing
    assert emulator.count("PATCH", "/v1.1/campaigns/1") == 0
    assert emulator.count("GET", "/v2/userinfo/balance") == 1

    real = dag_test_without_date(dag, run_conf={"dry_run": False})
    assert task_states(real) == {"wait_for_balance": "success", "set_bid": "success"}
    after = campaign(emulator, 1)
    assert (after["price"], after["max_daily"]) == (0.6, 150)
    assert emulator.count("PATCH", "/v1.1/campaigns/1") == 1
    assert_no_secret(json.dumps(plan) + task_logs(), api_key, *emulator.issued_tokens)


def test_the_guard_refuses_a_bid_far_from_the_current_one_and_sends_nothing(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    from tests.airflow_compat import dag_test_without_date

    before = campaign(emulator, 1)
    run = dag_test_without_date(install_dag(EXAMPLE), run_conf={"price": float(before["price"]) * 3, "dry_run": False})
    assert task_states(run)["set_bid"] == "failed"
    assert campaign(emulator, 1) == before
    assert emulator.count("PATCH", "/v1.1/campaigns/1") == 0
