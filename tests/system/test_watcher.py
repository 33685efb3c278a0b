"""The system test's own safety net: a failed step fails the run, although the teardown after it succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import conn_json, install_dag, task_states

pytestmark = pytest.mark.integration


def test_a_failed_step_fails_the_run_after_the_teardown_ran(
    airflow_db: Path, clean_variables: None, monkeypatch: pytest.MonkeyPatch, api_key: str
) -> None:
    import tests.system.trafficstars.example_trafficstars_system as system_test
    from tests.airflow_compat import dag_test_without_date

    with TrafficStarsEmulator(api_keys=[api_key], campaigns=3) as emu:
        emu.fail_next(10, 400, path="/v2/userinfo/balance")  # the balance cannot be read: a real failure
        monkeypatch.setenv("AIRFLOW_CONN_" + system_test.CONN_ID.upper(), conn_json(emu.url, api_key))
        run = dag_test_without_date(install_dag(Path(system_test.__file__)))
    states = task_states(run)
    assert states["read_balance"] == "failed"
    assert states["logout"] == "success"  # ALL_DONE: the session is ended after a failure too
    assert states["watcher"] == "failed"
    assert str(run.state) == "failed"
