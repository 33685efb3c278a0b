"""The hook on real Airflow (SQLite metadata DB, real Variables and Connections) against the emulator."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_trafficstars.client.auth._token import fingerprint
from airflow_provider_trafficstars.exceptions import TrafficStarsAuthError
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import (
    TEST_DAGS,
    TOKEN_VAR,
    DictStore,
    age_token_variable,
    assert_no_secret,
    conn_json,
    install_dag,
    new_api_key,
    task_logs,
    variable,
)

pytestmark = pytest.mark.integration


def test_two_task_runs_share_one_token_through_the_variable(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator, api_key: str, capfd
) -> None:
    dag = install_dag(TEST_DAGS / "hook_two_tasks.py")
    run = dag.test()
    assert run.state == "success"
    assert emulator.token_requests == 1
    assert emulator.count("GET", "/v1.1/campaigns") == 20

    record = json.loads(variable(TOKEN_VAR) or "{}")
    assert set(record) == {"access_token", "token_type", "obtained_at", "expires_at", "fingerprint"}
    assert record["access_token"] == emulator.issued_tokens[0]
    assert record["token_type"] == "Bearer"
    assert record["fingerprint"] == fingerprint(emulator.url, api_key)
    assert record["obtained_at"].endswith("+00:00") and record["expires_at"].endswith("+00:00")

    out, err = capfd.readouterr()
    assert_no_secret(out + err + task_logs(), api_key, emulator.issued_tokens[0])


def test_plain_python_shell_uses_the_metadata_db_variable(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    token = TrafficStarsHook().get_token().access_token
    assert json.loads(variable(TOKEN_VAR) or "{}")["access_token"] == token
    # A second hook (another task, say) reads the Variable instead of asking for a token.
    assert TrafficStarsHook().get_token().access_token == token
    assert emulator.token_requests == 1


def test_logout_clears_the_variable_and_the_next_call_gets_a_new_token(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    hook = TrafficStarsHook()
    first = hook.get_token().access_token
    hook.logout()
    assert variable(TOKEN_VAR) is None
    assert emulator.count("GET", "/v1/auth/logout") == 1
    hook.logout()  # idempotent: nothing cached, no HTTP call
    assert emulator.count("GET", "/v1/auth/logout") == 1
    hook.request("GET", "/v1.1/campaigns")
    assert emulator.token_requests == 2
    assert hook.get_token().access_token != first


def test_changed_api_key_is_noticed(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator, monkeypatch
) -> None:
    old = TrafficStarsHook().get_token().access_token
    rotated = new_api_key()
    emulator.add_api_key(rotated)
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, rotated))
    new = TrafficStarsHook().get_token().access_token
    assert new != old
    assert emulator.token_requests == 2
    assert json.loads(variable(TOKEN_VAR) or "{}")["fingerprint"] == fingerprint(emulator.url, rotated)


def test_revoked_tokens_are_recovered_with_one_refresh(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    hook = TrafficStarsHook()
    hook.request("GET", "/v1.1/campaigns")
    age_token_variable()  # revoked an hour after it was obtained (a 401 within a minute is a refusal)
    emulator.revoke_all()
    assert hook.request("GET", "/v1.1/campaigns").status_code == 200
    assert emulator.token_requests == 2
    # The renewed token went to the Variable: another hook uses it without a new request.
    TrafficStarsHook().request("GET", "/v1.1/campaigns")
    assert emulator.token_requests == 2


def test_session_info_and_test_connection(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    hook = TrafficStarsHook()
    info = hook.get_session_info()
    assert info["token_type"] == "Bearer" and 0 < info["expires_in"] <= 36000
    ok, message = hook.test_connection()
    assert ok, message
    # The test exchanged its own token and left the shared one alone.
    assert json.loads(variable(TOKEN_VAR) or "{}")["access_token"] == emulator.issued_tokens[0]


def test_test_connection_reports_a_rejected_key_without_leaking_it(
    airflow_db: Path, emulator: TrafficStarsEmulator, monkeypatch
) -> None:
    wrong = new_api_key()
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, wrong))
    ok, message = TrafficStarsHook().test_connection()
    assert not ok
    assert "rejected" in message and wrong not in message


def test_missing_api_key_fails_before_any_http_call(
    airflow_db: Path, emulator: TrafficStarsEmulator, monkeypatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, None))
    with pytest.raises(TrafficStarsAuthError) as info:
        TrafficStarsHook().get_token()
    assert info.value.reason == "missing_api_key"
    assert emulator.count() == 0


def test_airflow_connections_test_cli(airflow_db: Path, ts_conn: str, emulator: TrafficStarsEmulator, api_key: str):
    env = dict(os.environ, AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "connections", "test", "trafficstars_default"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Connection success!" in result.stdout
    assert emulator.token_requests == 1
    assert_no_secret(result.stdout + result.stderr, api_key, *emulator.issued_tokens)


def test_unreachable_variable_store_falls_back_to_memory_with_one_warning(
    ts_conn: str, emulator: TrafficStarsEmulator, caplog
) -> None:
    from airflow_provider_trafficstars.client.cache._record import VariableTokenCache

    broken = DictStore(broken={"get", "set", "delete"}, error=ImportError("no supervisor"))
    hook = TrafficStarsHook(token_cache=VariableTokenCache(TOKEN_VAR, broken))
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            hook.request("GET", "/v1.1/campaigns")
    assert emulator.token_requests == 1
    warnings = [r for r in caplog.records if "token cache Variable" in r.getMessage()]
    assert len(warnings) == 1
