"""Fault injection, part 5: the token cache Variable holds garbage, cannot be written, or is shadowed;
and many threads start on a cold cache. Real Variables in the SQLite metadata DB."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pendulum
import pytest

from airflow_provider_trafficstars.client.auth._token import AccessToken, fingerprint
from airflow_provider_trafficstars.client.cache._record import VariableTokenCache
from airflow_provider_trafficstars.hooks import _airflow as _compat
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import CAMPAIGNS, TOKEN_PATH, TOKEN_VAR, new_api_key, variable

pytestmark = pytest.mark.integration
SHADOW_ENV = "AIRFLOW_VAR_" + TOKEN_VAR.upper()


def set_variable(key: str, value: str) -> None:
    from airflow.models import Variable

    Variable.set(key, value)


def record(url: str, api_key: str, *, age: float = 0, lifetime: float = 36000, **override: object) -> str:
    obtained = pendulum.now("UTC").subtract(seconds=age)
    token = AccessToken(
        "tok-cached-0123456789", "Bearer", obtained, obtained.add(seconds=lifetime), fingerprint(url, api_key)
    )
    data = json.loads(token.to_record())
    data.update(override)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def cached_values(url: str, api_key: str) -> list[tuple[str, str]]:
    return [
        ("not json", "garbage {{{"),
        ("empty", ""),
        ("json null", "null"),
        ("json list", '["access_token"]'),
        ("deeply nested", "[" * 5_000),  # deeper than the JSON parser's recursion limit
        ("missing field", record(url, api_key, fingerprint=None)),
        ("token not a string", record(url, api_key, access_token=1234567)),
        ("token with a newline", record(url, api_key, access_token="tok\r\nX-Injected: 1")),
        ("not bearer", record(url, api_key, token_type="mac")),
        ("bad time", record(url, api_key, expires_at="tomorrow-ish")),
        ("expires before obtained", record(url, api_key, expires_at="2000-01-01T00:00:00+00:00")),
        ("absurd lifetime", record(url, api_key, expires_at="9999-12-31T00:00:00+00:00")),
        ("other fingerprint", record(url, new_api_key())),
        ("other host", record("https://api.trafficstars.com", api_key)),
        ("expired", record(url, api_key, age=36001)),
        ("inside the refresh margin", record(url, api_key, age=36000 - 299)),
    ]


CASES = [name for name, _ in cached_values("u", "k")]


@pytest.mark.parametrize("case", CASES)
def test_unusable_cached_record_is_a_miss_refreshed_and_overwritten(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    api_key: str,
    case: str,
) -> None:
    set_variable(TOKEN_VAR, dict(cached_values(emulator.url, api_key))[case])
    hook = make_hook()
    assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert emulator.token_requests == 1
    stored = json.loads(variable(TOKEN_VAR) or "{}")
    assert stored["access_token"] == emulator.issued_tokens[0]
    assert stored["fingerprint"] == fingerprint(emulator.url, api_key)


def test_a_usable_cached_record_is_used_without_a_token_request(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    api_key: str,
) -> None:
    # The counterpart of the table above: the same helper's valid record is a hit (so the misses are real).
    token = make_hook().get_token().access_token
    set_variable(TOKEN_VAR, record(emulator.url, api_key, age=100).replace("tok-cached-0123456789", token))
    assert make_hook().request("GET", CAMPAIGNS).status_code == 200
    assert emulator.token_requests == 1


# -- the Variable cannot be written ----------------------------------------------------------------------
class WritesFail:
    """The real Variable store for reads; every write fails like an unreachable API server would."""

    def __init__(self) -> None:
        self._real = _compat.get_variable_store()

    def get(self, key: str) -> str | None:
        return self._real.get(key)

    def set(self, key: str, value: str) -> None:
        raise ConnectionError("the Variable store is unreachable")

    def delete(self, key: str) -> None:
        raise ConnectionError("the Variable store is unreachable")


def provider_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("airflow_provider_trafficstars")
    ]


def test_failed_variable_write_warns_once_and_the_task_goes_on_in_memory(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = make_hook(hook_kwargs={"token_cache": VariableTokenCache(TOKEN_VAR, WritesFail())})
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert emulator.token_requests == 1
    assert variable(TOKEN_VAR) is None
    warnings = provider_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "ConnectionError" in warnings[0] and "in memory" in warnings[0]


def test_variable_shadowed_by_an_env_var_warns_once_naming_it_and_the_task_goes_on(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert SHADOW_ENV == "AIRFLOW_VAR_TRAFFICSTARS_ACCESS_TOKEN_TRAFFICSTARS_DEFAULT"
    monkeypatch.setenv(SHADOW_ENV, record(emulator.url, api_key, age=36001))  # an old, expired record
    hook = make_hook()
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            assert hook.request("GET", CAMPAIGNS).status_code == 200
    assert emulator.token_requests == 1  # the task keeps its token in memory
    warnings = provider_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert SHADOW_ENV in warnings[0]
    # The write reached the metadata DB; only the env var hides it (what the warning tells the user).
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        stored = session.scalar(select(Variable).where(Variable.key == TOKEN_VAR))
        assert stored is not None and json.loads(stored.val)["access_token"] == emulator.issued_tokens[0]


# -- 32 threads on a cold cache ----------------------------------------------------------------------------
def test_32_threads_sharing_a_hook_on_a_cold_cache_make_one_token_request(
    airflow_db: Path,
    clean_variables: None,
    make_hook: Callable[..., TrafficStarsHook],
    emulator: TrafficStarsEmulator,
) -> None:
    # The budget far out of reach: a process's first window is a ramp (a first grant of limit / 16 calls, then
    # the account's rate), and this test's waits do not move the budget's clock.
    hook = make_hook(rate_limit=1000)
    emulator.set_latency(0.2, path=TOKEN_PATH)  # widen the race window
    barrier = threading.Barrier(32)
    seen: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            assert hook.request("GET", CAMPAIGNS).status_code == 200
            seen.append(hook.get_token().access_token)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[:3]
    assert emulator.token_requests == 1
    assert len(seen) == 32 and set(seen) == {emulator.issued_tokens[0]}
    assert emulator.count("GET", CAMPAIGNS) == 32
    assert json.loads(variable(TOKEN_VAR) or "{}")["access_token"] == emulator.issued_tokens[0]
