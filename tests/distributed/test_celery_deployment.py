"""Many processes, one token: on PostgreSQL, and in a real Celery deployment of Airflow.

Needs PostgreSQL and Redis on 127.0.0.1 and the ``distributed`` extra. Without them the tests are
skipped with the reason; under ``CI=true`` they fail instead. Every process started here belongs to a
process group that is ended in a ``finally``, and the database made for the module is dropped.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_trafficstars._compat import AIRFLOW_V_3_3
from benchmarks.celery_cluster import BURST, EXAMPLE_DAG, VARIANT_DAGS, WITH_REFRESH, CeleryDeployment, services_problem
from benchmarks.common import EmulatorProcess, airflow_env, in_ci, kill_group, migrate, postgres_database
from benchmarks.contention import LEASE_CONN, NAIVE_CONN, ContentionPool
from tests.fakes import new_api_key

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _require_services() -> None:
    if not AIRFLOW_V_3_3:
        pytest.skip("the distributed deployment is set up and verified for apache-airflow 3.3")
    problem = services_problem()
    if problem:
        if in_ci():
            pytest.fail(f"PostgreSQL, Redis and the distributed extra are required under CI=true: {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ts-distributed-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def emulator(workdir: Path) -> Iterator[tuple[EmulatorProcess, str]]:
    key = new_api_key()
    with EmulatorProcess(key, campaigns=32, workdir=workdir) as emu:
        yield emu, key


@pytest.fixture(scope="module")
def pg_home(workdir: Path) -> Iterator[tuple[str, Path]]:
    """One migrated PostgreSQL metadata DB for the module (migrating costs seconds); dropped at the end."""
    _require_services()
    home = workdir / "airflow"
    with postgres_database("ts_test") as url:
        migrate(airflow_env(home, url))
        yield url, home


def test_sixteen_processes_on_postgres_renew_at_most_twice(
    pg_home: tuple[str, Path], emulator: tuple[EmulatorProcess, str]
) -> None:
    url, home = pg_home
    emu, key = emulator
    with ContentionPool(url, home, emu, key, n=16) as pool:
        naive = pool.round(NAIVE_CONN)
        rounds = [pool.round(LEASE_CONN) for _ in range(2)]
    assert naive.token_requests > 2, naive  # the processes really raced
    for got in rounds:
        assert not got.errors, got.errors
        assert got.token_requests <= 2, got


@pytest.mark.distributed
def test_celery_deployment_renews_once_per_run(pg_home: tuple[str, Path], emulator: tuple[EmulatorProcess, str]):
    url, home = pg_home
    emu, key = emulator
    burst_emu = EmulatorProcess(key, campaigns=32, workdir=home.parent)
    try:
        deployment = CeleryDeployment(home, url, emu, key, burst_emulator=burst_emu)
    except BaseException:
        burst_emu.stop()
        raise
    try:
        deployment.start([EXAMPLE_DAG, VARIANT_DAGS], migrated=True)
        # Both runs at once (each counted on its own emulator): the test is about counts, not times.
        first = deployment.start_run(WITH_REFRESH)
        # Without the refresh task. Not the example minus that task (ts_campaign_report_no_refresh, in
        # make bench): there list_campaigns alone meets the stale token. Here 32 report tasks, 16 at a
        # time on two workers, all meet it at once.
        second = deployment.start_run(BURST)
        with_refresh, without = deployment.wait_run(first), deployment.wait_run(second)
    finally:
        deployment.stop()
        burst_emu.stop()
        for pgid in deployment.pgids_file.read_text().split() if deployment.pgids_file.exists() else []:
            kill_group(int(pgid), grace=1)
    for run in (with_refresh, without):
        assert run["state"] == "success", run
    assert with_refresh["api_tasks"] == 34  # refresh_token, list_campaigns, 32 mapped reports
    assert without["api_tasks"] == 32
    assert with_refresh["token_requests"] == 1, with_refresh
    assert without["token_requests"] <= 2, without


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_services_fail_under_ci_and_skip_elsewhere(monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type):
    import tests.distributed.test_celery_deployment as this

    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(this, "services_problem", lambda: "no Redis server on 127.0.0.1:6379")
    monkeypatch.setattr(this, "AIRFLOW_V_3_3", True)
    with pytest.raises(outcome, match="Redis"):
        _require_services()
