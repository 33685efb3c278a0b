"""Fixtures of the fault-injection suite: a hook on a connection with chosen extras, recorded waits, and a
listener that never accepts (a connect timeout the emulator cannot produce, since the kernel completes the
handshake for any socket that listens)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_trafficstars.hooks import _airflow as _compat
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.conftest import conn_json
from tests.fakes import CountingStore, Waits

CONN_ENV = "AIRFLOW_CONN_TRAFFICSTARS_DEFAULT"
CAMPAIGNS = "/v1.1/campaigns"
TOKEN_PATH = "/v1/auth/token"


@pytest.fixture
def waits() -> Waits:
    return Waits()


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
