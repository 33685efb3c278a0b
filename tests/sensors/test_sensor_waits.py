"""Sensors in poke and reschedule mode wait what the trigger waits: ``waits.next_poll_delay``, one rule.

The balance sensor against the emulator answering 429. Poke mode: Airflow's own sensor loop runs in
``dag.test()``, with its sleep recorded instead of slept (the ``time`` its module uses is replaced by one
whose ``sleep`` records), so a ``Retry-After: 60`` costs no minute. Reschedule mode: the reschedule date
Airflow itself stored, and when the emulator saw the next poke, after a short ``Retry-After``; both are lower
bounds, which a loaded machine cannot break.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import BaseSensorOperator

from airflow_provider_trafficstars.client.http._waits import POLL_BACKOFF
from airflow_provider_trafficstars.sensors import base as sensors_base
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import dag_test
from tests.helpers import TEST_DAGS, Waits, install_dag, run_xcoms

pytestmark = pytest.mark.integration
BALANCE = "/v2/userinfo/balance"


@pytest.fixture(scope="module")
def dag(airflow_db: Path) -> Any:
    return install_dag(TEST_DAGS / "ts_sensor_waits.py")


@pytest.fixture
def emu(start_emulator: Callable[..., TrafficStarsEmulator], clean_variables: None) -> TrafficStarsEmulator:
    emulator = start_emulator()
    emulator.campaigns.set_balance(1000)
    return emulator


@pytest.fixture
def loop_sleeps(monkeypatch: pytest.MonkeyPatch) -> Waits:
    """Record the sleeps of Airflow's sensor loop (its module's ``time.sleep``) instead of sleeping."""
    slept = Waits()
    loop = importlib.import_module(BaseSensorOperator.__module__)
    monkeypatch.setattr(loop, "time", SimpleNamespace(sleep=slept, monotonic=time.monotonic))
    return slept


def run_one(dag: Any, task_id: str) -> tuple[str, Any]:
    """Run only ``task_id`` (marking the other one done); return its state and its XCom."""
    dag_run = dag_test(dag, only=task_id)
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return str(ti.state), run_xcoms(dag_run).get((task_id, -1))


def test_this_airflow_lets_the_sensor_choose_its_next_wait() -> None:
    # Every Airflow the package supports asks _get_next_poke_interval (read in their sources); the tests
    # below prove the loop follows it. A new Airflow without it would leave Retry-After to the trigger alone.
    assert sensors_base.LOOP_ASKS_NEXT_POKE_INTERVAL


def test_poke_mode_waits_what_retry_after_says(dag: Any, emu: TrafficStarsEmulator, loop_sleeps: Waits) -> None:
    emu.fail_next(3, 429, retry_after="60", path=BALANCE)
    state, xcom = run_one(dag, "poke")
    assert (state, xcom) == ("success", {"balance": 1000.0, "min_balance": 500.0})
    # Before: 0.2 s each (the sensor ignored Retry-After: 9 polls in 8 s against a 60 s window).
    assert loop_sleeps == [60.0, 60.0, 60.0]
    assert emu.count("GET", BALANCE) == 4 and emu.token_requests == 1


def test_poke_mode_backs_off_after_429_without_retry_after(
    dag: Any, emu: TrafficStarsEmulator, loop_sleeps: Waits
) -> None:
    emu.fail_next(3, 429, path=BALANCE)
    state, _ = run_one(dag, "poke")
    assert state == "success"
    # Polls in a row follow the calls' schedule (2, 4, 8 s plus jitter), not poke_interval's 0.2 s.
    step = POLL_BACKOFF.rate_limited_step()
    assert len(loop_sleeps) == 3
    for n, slept in enumerate(loop_sleeps, start=1):
        assert step * 2 ** (n - 1) <= slept <= step * 2 ** (n - 1) + POLL_BACKOFF.base


def test_poke_mode_without_trouble_keeps_airflows_interval(
    dag: Any, emu: TrafficStarsEmulator, loop_sleeps: Waits
) -> None:
    emu.campaigns.set_balance(1000, then=[100, 200])
    emu.fail_next(1, 503, path=BALANCE)  # no Retry-After: the next poke is the retry
    state, _ = run_one(dag, "poke")
    assert state == "success" and loop_sleeps == [0.2, 0.2, 0.2]


def test_reschedule_mode_reschedules_no_earlier_than_retry_after(dag: Any, emu: TrafficStarsEmulator) -> None:
    retry_after = 3
    started = pendulum.now("UTC")
    emu.fail_next(1, 429, retry_after=str(retry_after), path=BALANCE)
    state, xcom = run_one(dag, "reschedule")
    assert (state, xcom) == ("success", {"balance": 1000.0, "min_balance": 500.0})
    first, second = [r.at for r in emu.request_log() if r.path == BALANCE]
    # What Airflow stored: the poke that met the 429 (at `first`) rescheduled itself at least 3 s later.
    (row,) = [r for r in task_reschedules() if r.reschedule_date >= started]
    assert row.reschedule_date.timestamp() - first >= retry_after  # before: 0.2 s
    # And what the API saw: the next poke came no sooner than it asked.
    assert second - first >= retry_after
    assert emu.token_requests == 1  # the rescheduled poke read the token from the Variable


def task_reschedules() -> list[Any]:
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = list(session.scalars(select(TaskReschedule)))
        session.expunge_all()
    return rows


def test_next_poke_interval_honours_retry_after_up_to_the_timeout() -> None:
    from airflow_provider_trafficstars.exceptions import TrafficStarsApiError
    from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor

    sensor = TrafficStarsBalanceSensor(task_id="s", min_balance=1, poke_interval=0.2, timeout=100)
    sensor._poke_trouble = TrafficStarsApiError("busy", status_code=429, method="GET", endpoint=BALANCE, retry_after=60)
    sensor._troubled_pokes = 1
    assert sensor._get_next_poke_interval(0.0, lambda: 10.0, 1) == 60.0
    assert sensor._get_next_poke_interval(0.0, lambda: 70.0, 1) == 30.0  # never past its timeout
