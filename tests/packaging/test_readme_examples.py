"""What the README tells a new user to run, run as they would.

The connection is stored in the metadata DB (as ``airflow connections add`` or the UI store it), with no
``AIRFLOW_CONN_...`` variable. The hook example runs in a plain Python process: outside a task, Airflow 3's
Task SDK lookup does not read that DB, so the hook falls back to it (``_compat.get_connection``), as it does
for the token Variable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import AIRFLOW_V_3_3
from tests.helpers import CONN_ID, REPO, assert_no_secret, conn_json

pytestmark = pytest.mark.integration


def readme_hook_example() -> str:
    """Return the first ``python`` code block of the README's "Hook API" section."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Hook API\n") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block in the README's Hook API section"
    return match.group(1)


@pytest.fixture
def db_connection(airflow_db: Path, emulator: TrafficStarsEmulator, api_key: str) -> Iterator[str]:
    """Store ``trafficstars_default`` in the metadata DB only, pointing at the emulator."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.add(Connection(conn_id=CONN_ID, conn_type="trafficstars", host=emulator.url, password=api_key))
    yield CONN_ID
    with create_session() as session:
        session.execute(delete(Connection).where(Connection.conn_id == CONN_ID))


def plain_env(**extra: str) -> dict[str, str]:
    """The environment of a new process that has the Airflow configuration and no connection in env vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_") and k != "_AIRFLOW_PROCESS_CONTEXT"}
    env.update(extra)
    return env


def test_the_readme_hook_example_runs_in_a_plain_python_process_with_the_connection_in_the_metadata_db(
    db_connection: str, clean_variables: None, emulator: TrafficStarsEmulator, api_key: str, tmp_path: Path
) -> None:
    example = readme_hook_example()
    assert 'trafficstars_conn_id="trafficstars_default"' in example
    # After the example, report what it did (the README's lines are run as they are).
    report_line = "print(json.dumps({'status': resp.status_code, 'test': hook.test_connection()}))"
    script = f"{example}\nimport json\n{report_line}\n"
    result = subprocess.run(
        [sys.executable, "-c", script], env=plain_env(), cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 200
    assert report["test"][0] is True, report["test"]
    # It really talked to the emulator with the stored key (whatever lines the README adds later).
    assert emulator.token_requests >= 1 and emulator.count("GET", "/v1.1/campaigns") >= 1
    assert_no_secret(output, api_key, *emulator.issued_tokens)


def test_a_connection_without_an_api_key_fails_its_test_before_any_http_call(
    airflow_db: Path, emulator: TrafficStarsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form cannot require the API key (README): the connection test and every task refuse it instead."""
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", conn_json(emulator.url, None))
    ok, message = TrafficStarsHook().test_connection()
    assert not ok and "API key" in message
    assert emulator.count() == 0


# The README's workaround for the 3.3.2 Test button, through the real REST route (in a new process: the app
# would otherwise set up auth and providers in this one). What the 3.3.2 UI sends: the stored host, port 0
# for a connection without a port, and the masked password.
_REST_TEST = """
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

client = TestClient(create_app(apps="core"))
conn_id, host = sys.argv[1], sys.argv[2]
ui = {"connection_id": conn_id, "conn_type": "trafficstars", "host": host, "port": 0, "password": "***"}
readme = {"connection_id": conn_id, "conn_type": "trafficstars"}
answers = [client.post("/api/v2/connections/test", json=body) for body in (ui, readme)]
print(json.dumps([[a.status_code, a.json()] for a in answers]))
"""


@pytest.mark.skipif(not AIRFLOW_V_3_3, reason="the 3.3 API server's test route (apache/airflow#73298 is a 3.3.2 bug)")
def test_the_readme_rest_workaround_tests_the_stored_connection_where_the_3_3_2_ui_request_is_refused(
    db_connection: str, emulator: TrafficStarsEmulator, api_key: str, tmp_path: Path
) -> None:
    import airflow
    from packaging.version import Version

    env = plain_env(AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True", AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    result = subprocess.run(
        [sys.executable, "-c", _REST_TEST, db_connection, emulator.url],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    (ui_status, ui_body), (readme_status, readme_body) = json.loads(result.stdout.strip().splitlines()[-1])
    if Version(airflow.__version__) < Version("3.3.3"):  # the bug the README describes; gone once fixed
        assert ui_status == 400 and "differs from the stored connection" in ui_body["detail"]
    assert readme_status == 200 and readme_body["status"] is True, readme_body
    assert emulator.token_requests == 1  # only the README's request reached the hook
    assert_no_secret(output, api_key, *emulator.issued_tokens)


def test_the_readme_unpauses_every_dag_it_triggers_and_names_no_missing_url() -> None:
    """A paused DAG's triggered run stays queued without a word: every ``airflow dags trigger <dag>`` the
    README shows comes after an ``airflow dags unpause <dag>``; and it installs from the clone you have."""
    readme = (REPO / "README.md").read_text()
    triggered = {m.group(1): m.start() for m in re.finditer(r"airflow dags trigger ([a-z_]+)", readme)}
    assert triggered, "the README shows no airflow dags trigger command"
    for dag_id, at in triggered.items():
        unpause = readme.find(f"airflow dags unpause {dag_id}")
        assert 0 <= unpause < at, f"the README triggers {dag_id} without unpausing it first"
    assert "repository's URL" not in readme and "pip install ." in readme
