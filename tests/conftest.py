"""The suite's fixtures (only fixtures: what tests import lives in ``tests/helpers.py``).

Importing ``tests.helpers`` first points the process at the session's throwaway ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    AIRFLOW_HOME,
    CONN_ENV,
    CONN_ID,
    Clock,
    CountingStore,
    DictStore,
    Waits,
    World,
    conn_json,
    new_api_key,
)

# isort: split
from airflow_provider_trafficstars.hooks import _airflow as _compat
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator


@pytest.fixture
def api_key() -> str:
    return new_api_key()


@pytest.fixture
def emulator(api_key: str) -> Iterator[TrafficStarsEmulator]:
    """A real emulator on 127.0.0.1 with an ephemeral port, knowing ``api_key``."""
    with TrafficStarsEmulator(api_keys=[api_key]) as emu:
        yield emu


@pytest.fixture
def start_emulator(api_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TrafficStarsEmulator]]:
    """Return ``start(**options)``: a real emulator knowing ``api_key``, made with the emulator's ``options``
    (``campaigns=``, ``token_lifetime=``, ``rate_limit=``...), defined as ``trafficstars_default`` and stopped
    at the end of the test."""
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> TrafficStarsEmulator:
            emu = stack.enter_context(TrafficStarsEmulator(api_keys=[api_key], **options))
            monkeypatch.setenv(CONN_ENV, conn_json(emu.url, api_key))
            return emu

        yield start


@pytest.fixture
def ts_conn(monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator, api_key: str) -> str:
    """Define ``trafficstars_default`` (through ``AIRFLOW_CONN_...``) pointing at the emulator."""
    monkeypatch.setenv(CONN_ENV, conn_json(emulator.url, api_key))
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


@pytest.fixture(autouse=True)
def _fresh_secrets_maskers() -> Iterator[None]:
    """Forget the masked values of earlier tests (``tests.airflow_compat.reset_secrets_maskers``)."""
    yield
    from tests.airflow_compat import reset_secrets_maskers

    reset_secrets_maskers()


# -- fakes: recorded waits, clocks, Variable stores ---------------------------------------------------------
@pytest.fixture
def waits() -> Waits:
    """An injected ``sleep`` that records each wait."""
    return Waits()


@pytest.fixture
def clock() -> Clock:
    """An injected clock that moves only when the test moves it."""
    return Clock()


@pytest.fixture
def world() -> World:
    """A clock that moves only when the code sleeps (``clock=world, sleep=world.sleep``)."""
    return World()


@pytest.fixture
def store() -> DictStore:
    """A Variable store in a dict, logging every operation."""
    return DictStore()


# -- faults: a hook on a connection with chosen extras, a listener that never accepts (a connect timeout the
# emulator cannot produce: the kernel completes the handshake for any socket that listens) ----------------
@pytest.fixture
def counted_store(monkeypatch: pytest.MonkeyPatch) -> CountingStore:
    """Airflow's own Variables, with every get, set and delete the hooks built from now on make counted."""
    store = CountingStore(_compat.get_variable_store())
    monkeypatch.setattr(_compat, "get_variable_store", lambda: store)
    return store


@pytest.fixture
def make_hook(
    monkeypatch: pytest.MonkeyPatch, emulator: TrafficStarsEmulator, api_key: str, waits: Waits
) -> Callable[..., TrafficStarsHook]:
    """Return ``make(url=..., key=..., sleep=..., **extras)``: defines the connection, returns a hook.

    By default the hook points at the emulator, uses the test's API key and records its waits in ``waits``.
    """

    def make(
        *, url: str | None = None, key: str | None = None, sleep: Any = waits, hook_kwargs: Any = None, **extra: Any
    ) -> TrafficStarsHook:
        monkeypatch.setenv(CONN_ENV, conn_json(url or emulator.url, key or api_key, **extra))
        return TrafficStarsHook(sleep=sleep, **(hook_kwargs or {}))

    return make


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A URL whose TCP connect never completes: a listener with a full backlog that never accepts."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    for _ in range(8):  # fill the accept queue; the next SYN is dropped and connect() hangs
        filler = socket.socket()
        filler.settimeout(0.2)
        try:
            filler.connect(("127.0.0.1", port))
        except OSError:
            filler.close()
            break
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
