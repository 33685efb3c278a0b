"""Shared fixtures: a throwaway Airflow home on SQLite, the emulator, and a trafficstars connection.

The Airflow environment is set at import time, before anything imports Airflow, so that every test
(unit or integration) runs against a temp ``AIRFLOW_HOME`` and never touches a developer's own.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="ts-airflow-home-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ.update(
    AIRFLOW_HOME=str(AIRFLOW_HOME),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{AIRFLOW_HOME}/airflow.db",
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
    AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    AIRFLOW__CORE__TEST_CONNECTION="Enabled",
)
for name in list(os.environ):
    if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
        del os.environ[name]

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator  # noqa: E402

CONN_ID = "trafficstars_default"


def new_api_key() -> str:
    """Return a random, recognisable API key, so a leak is found by searching for it."""
    return "tsk-" + secrets.token_hex(16)


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

    db.initdb()
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
    from airflow.dag_processing.dagbag import DagBag

    target = DAGS_FOLDER / source.name
    shutil.copyfile(source, target)
    bag = DagBag(str(target))
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dags) == 1, sorted(bag.dags)
    return next(iter(bag.dags.values()))


def variable(key: str) -> str | None:
    """Return a Variable's value straight from the metadata DB."""
    from airflow.models import Variable

    value: str | None = Variable.get(key, default_var=None)
    return value
