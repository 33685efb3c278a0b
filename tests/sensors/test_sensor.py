"""TrafficStarsSessionSensor in poke, reschedule and deferrable mode, run with ``dag.test()``.

``ts_sensors.py`` holds one sensor per case; each test runs one of them and marks the others done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_trafficstars.client._checks import SUMMARY_KEYS
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import AIRFLOW_V_3, dag_test
from tests.helpers import (
    TEST_DAGS,
    TOKEN_VAR,
    assert_no_secret,
    conn_json,
    install_dag,
    new_api_key,
    run_xcoms,
    task_logs,
    trigger_kwargs,
    variable,
)

pytestmark = pytest.mark.integration
INFO = "/v1/auth/info"


@pytest.fixture(scope="module")
def sensors_dag(airflow_db: Path) -> Any:
    return install_dag(TEST_DAGS / "ts_sensors.py")


def run_one(dag: Any, task_id: str) -> tuple[str, Any]:
    """Run only ``task_id`` of the DAG (marking the others done); return its state and its XCom."""
    run = dag_test(dag, only=task_id)  # Airflow 2 compiles mark_success_pattern with re2: no lookahead
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    return str(ti.state), run_xcoms(run).get((task_id, -1))


def assert_session_xcom(xcom: Any) -> None:
    assert isinstance(xcom, dict) and set(xcom) == set(SUMMARY_KEYS)
    assert xcom["token_type"] == "Bearer" and 35000 < xcom["expires_in"] <= 36000


@pytest.fixture
def wrong_key(monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator) -> str:
    """Point ``trafficstars_default`` at the emulator with a key it does not know."""
    key = new_api_key()
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, key))
    return key


@pytest.fixture
def short_lived(start_emulator: Callable[..., TrafficStarsEmulator]) -> TrafficStarsEmulator:
    """An emulator whose tokens live 600 s (less than the sensors' min_ttl of 1800 s)."""
    return start_emulator(token_lifetime=600)


# -- success after transient trouble -------------------------------------------------------------
@pytest.mark.parametrize("task_id", ["poke", "deferrable"])
def test_sensor_waits_through_503s(
    sensors_dag: Any,
    clean_variables: None,
    ts_conn: str,
    emulator: TrafficStarsEmulator,
    api_key: str,
    task_id: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emulator.fail_next(2, 503, path=INFO)
    state, xcom = run_one(sensors_dag, task_id)
    assert state == "success"
    assert_session_xcom(xcom)
    assert emulator.count("POST", INFO) == 3  # two "not yet" pokes, no retry loop inside a poke
    assert emulator.token_requests == 1
    # The token taken while waiting is shared with the tasks downstream.
    assert json.loads(variable(TOKEN_VAR) or "{}")["access_token"] == emulator.issued_tokens[0]
    out, err = capfd.readouterr()
    # Each 503 was one "not yet" poke, not a retry inside a poke (that would log the client's retries).
    assert (out + err).count("TrafficStars is not ready yet") == 2
    assert "TrafficStars POST /v1/auth/info failed" not in out + err
    stored = json.dumps(xcom) + json.dumps(session_trigger_kwargs())
    assert_no_secret(stored + out + err + task_logs(), api_key, *emulator.issued_tokens)
    # The trigger's row holds the connection id, never a credential (Airflow 2's dag.test() runs the
    # trigger inline and stores no row).
    if task_id == "deferrable" and AIRFLOW_V_3:
        rows = session_trigger_kwargs()
        assert rows and all(set(row) == {"conn_id", "min_ttl", "poke_interval", "timeout_at"} for row in rows)


def session_trigger_kwargs() -> list[dict[str, Any]]:
    from airflow_provider_trafficstars.triggers.trafficstars import TrafficStarsSessionTrigger

    return trigger_kwargs(TrafficStarsSessionTrigger)


def test_sensor_in_reschedule_mode(
    sensors_dag: Any, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    emulator.fail_next(1, 429, path=INFO)
    state, xcom = run_one(sensors_dag, "reschedule")
    assert state == "success"
    assert_session_xcom(xcom)
    assert emulator.count("POST", INFO) == 2
    assert emulator.token_requests == 1  # the rescheduled poke read the token from the Variable


@pytest.mark.parametrize("task_id", ["poke_min_ttl", "deferrable_min_ttl"])
def test_sensor_min_ttl_is_met(
    sensors_dag: Any, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator, task_id: str
) -> None:
    state, xcom = run_one(sensors_dag, task_id)
    assert state == "success" and xcom["expires_in"] >= 1800


@pytest.mark.parametrize("task_id", ["poke_min_ttl", "deferrable_min_ttl"])
def test_sensor_min_ttl_beyond_the_token_lifetime_fails_at_once(
    sensors_dag: Any, clean_variables: None, short_lived: TrafficStarsEmulator, task_id: str
) -> None:
    state, _ = run_one(sensors_dag, task_id)
    assert state == "failed"
    assert short_lived.token_requests == 1
    assert short_lived.count("POST", INFO) == 0


def test_the_poke_hook_does_not_retry(ts_conn: str) -> None:
    from airflow_provider_trafficstars.sensors.trafficstars import TrafficStarsSessionSensor

    sensor = TrafficStarsSessionSensor(task_id="s", poke_interval=1)
    assert sensor.hook.get_conn().config.max_retries == 0
    assert TrafficStarsHook().get_conn().config.max_retries == 5  # the connection's default elsewhere


# -- a rejected key ------------------------------------------------------------------------------
@pytest.mark.parametrize("task_id", ["poke", "deferrable"])
def test_rejected_key_fails_at_once(
    sensors_dag: Any,
    clean_variables: None,
    emulator: TrafficStarsEmulator,
    wrong_key: str,
    task_id: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    state, _ = run_one(sensors_dag, task_id)
    assert state == "failed"
    assert emulator.token_requests == 1  # no retry loop
    assert emulator.count("POST", INFO) == 0
    out, err = capfd.readouterr()
    assert_no_secret(out + err + task_logs(), wrong_key)


@pytest.mark.parametrize("task_id", ["poke_soft_fail", "deferrable_soft_fail"])
def test_rejected_key_with_soft_fail_skips(
    sensors_dag: Any, clean_variables: None, emulator: TrafficStarsEmulator, wrong_key: str, task_id: str
) -> None:
    state, _ = run_one(sensors_dag, task_id)
    assert state == "skipped"
    assert emulator.token_requests == 1


# -- timeout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("task_id", ["poke_timeout", "deferrable_timeout"])
def test_sensor_times_out(
    sensors_dag: Any, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator, task_id: str
) -> None:
    TrafficStarsHook().get_token()  # a token in the cache: every poll is one quick call
    emulator.fail_next(1000, 503, path=INFO)
    state, _ = run_one(sensors_dag, task_id)
    assert state == "failed"
    polls = emulator.count("POST", INFO)
    # It slept between polls: 0.2 s for 2 s is about 10 polls, never a spin (a busy machine makes
    # fewer; that a sensor polls again after a 503 is shown above).
    assert 1 <= polls <= 12, polls
    assert emulator.token_requests == 1
