"""Shared fixtures: a throwaway Airflow home on SQLite, the emulator, and a trafficstars connection.

The Airflow environment is set at import time, before anything imports Airflow, so that every test
(unit or integration) runs against a temp ``AIRFLOW_HOME`` and never touches a developer's own.
"""

from __future__ import annotations

import atexit
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_trafficstars.testing.airflow_home import AirflowHome

REPO = Path(__file__).resolve().parent.parent
HOME = AirflowHome.temporary()
atexit.register(HOME.remove)
HOME.activate(
    AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    AIRFLOW__CORE__TEST_CONNECTION="Enabled",
)
AIRFLOW_HOME = HOME.path
DAGS_FOLDER = HOME.dags_folder

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator  # noqa: E402
from tests.fakes import CONN_ID, TOKEN_VAR, new_api_key  # noqa: E402


@pytest.fixture
def api_key() -> str:
    return new_api_key()


@pytest.fixture
def emulator(api_key: str) -> Iterator[TrafficStarsEmulator]:
    """A real emulator on 127.0.0.1 with an ephemeral port, knowing ``api_key``."""
    with TrafficStarsEmulator(api_keys=[api_key]) as emu:
        yield emu


def conn_json(url: str, api_key: str | None, **extra: Any) -> str:
    """Return the JSON form of an ``AIRFLOW_CONN_...`` value for a trafficstars connection."""
    body: dict[str, Any] = {"conn_type": "trafficstars", "host": url}
    if api_key is not None:
        body["password"] = api_key
    if extra:
        body["extra"] = extra
    return json.dumps(body)


@pytest.fixture
def ts_conn(monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator, api_key: str) -> str:
    """Define ``trafficstars_default`` (through ``AIRFLOW_CONN_...``) pointing at the emulator."""
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, api_key))
    return CONN_ID


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the Airflow metadata DB once per test session (SQLite in the temp AIRFLOW_HOME)."""
    from airflow.utils import db

    from tests.airflow_compat import configure_test_logging, reuse_the_in_process_execution_api

    db.initdb()
    configure_test_logging()
    reuse_the_in_process_execution_api()
    return AIRFLOW_HOME


@pytest.fixture
def clean_variables(airflow_db: Path) -> Iterator[None]:
    """Start and end the test with no Variables in the metadata DB."""
    _delete_all_variables()
    yield
    _delete_all_variables()


def _delete_all_variables() -> None:
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(Variable))


def install_dag(source: Path) -> Any:
    """Copy a DAG file into the configured DAGs folder and return its single DAG, parsed by a DagBag."""
    from tests.airflow_compat import dagbag_class, sync_like_dag_processor

    DagBag = dagbag_class()
    target = DAGS_FOLDER / source.name
    shutil.copyfile(source, target)
    bag = DagBag(str(target))
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dags) == 1, sorted(bag.dags)
    sync_like_dag_processor(bag)
    return next(iter(bag.dags.values()))


def variable(key: str) -> str | None:
    """Return a Variable's value straight from the metadata DB."""
    from airflow.models import Variable

    value: str | None = Variable.get(key, default_var=None)
    return value


def age_token_variable(key: str = TOKEN_VAR, seconds: float = 3600.0) -> None:
    """Make the shared token record in Variable ``key`` say its token was obtained ``seconds`` earlier."""
    from airflow.models import Variable

    from tests.fakes import obtained_earlier

    record = variable(key)
    assert record is not None, f"no token record in {key}"
    Variable.set(key, obtained_earlier(record, seconds))


def run_xcoms(run: Any) -> dict[tuple[str, int], Any]:
    """Return the ``return_value`` XComs of a DagRun, keyed by ``(task_id, map_index)``."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.airflow_compat import xcom_model, xcom_value

    XComModel = xcom_model()
    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.key == "return_value"
            )
        ).all()
        return {(row.task_id, row.map_index): xcom_value(row) for row in rows}


def run_rendered_fields(run: Any) -> dict[tuple[str, int], dict[str, Any]]:
    """Return the rendered template fields stored for a DagRun, keyed by ``(task_id, map_index)``."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(RTIF).where(RTIF.dag_id == run.dag_id, RTIF.run_id == run.run_id)).all()
        return {(row.task_id, row.map_index): dict(row.rendered_fields) for row in rows}


def trigger_kwargs(trigger_class: type) -> list[dict[str, Any]]:
    """Return the stored kwargs (decrypted) of every trigger row of ``trigger_class`` in the metadata DB."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    path = f"{trigger_class.__module__}.{trigger_class.__qualname__}"
    with create_session() as session:
        return [dict(row.kwargs) for row in session.scalars(select(Trigger).where(Trigger.classpath == path))]


def task_states(run: Any) -> dict[str, str]:
    """Return ``{task_id: state}`` of a DagRun (mapped tasks: ``task_id[map_index]``)."""
    return {
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": str(ti.state)
        for ti in run.get_task_instances()
    }


def task_logs() -> str:
    """Return every task log file written under the temp AIRFLOW_HOME so far."""
    return "".join(p.read_text(errors="replace") for p in (AIRFLOW_HOME / "logs").rglob("*") if p.is_file())


def assert_no_secret(text: str, *secrets: str) -> None:
    """Fail (without printing the secret) when any of ``secrets`` occurs in ``text``."""
    for index, secret in enumerate(secrets):
        assert secret, "an empty secret cannot be searched for"
        assert secret not in text, f"secret #{index} leaked"


@pytest.fixture(autouse=True)
def _fresh_secrets_maskers() -> Iterator[None]:
    """Forget the masked values of earlier tests (``tests.airflow_compat.reset_secrets_maskers``)."""
    yield
    from tests.airflow_compat import reset_secrets_maskers

    reset_secrets_maskers()
