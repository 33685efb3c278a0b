"""Run a system test DAG with pytest, as Airflow's ``tests_common.test_utils.system_tests.get_test_run`` does.

The DAG file ends with ``test_run = get_test_run(dag)``; pytest collects ``test_run`` from it (``example_*.py``
files are test files under ``tests/system``, see ``conftest.py`` there). Where the DAG talks to:

- the real TrafficStars API when ``TRAFFICSTARS_API_KEY`` is set (``TRAFFICSTARS_BASE_URL`` overrides
  ``https://api.trafficstars.com``): ``make system-test``;
- else the bundled emulator, on 127.0.0.1 with an ephemeral port (what ``make test`` runs; the Makefile
  hides a key from it).

Either way the connection ``trafficstars_system_test`` comes from the environment (``AIRFLOW_CONN_...``), the
run is ``dag.test()`` without a logical date on the temp SQLite Airflow home of the test session, and neither
the API key nor any access token may appear in the output, the task logs, the XComs or the rendered fields.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import (
    assert_no_secret,
    conn_json,
    install_dag,
    new_api_key,
    run_rendered_fields,
    run_xcoms,
    task_logs,
    task_states,
)

CONN_ID = "trafficstars_system_test"
REAL_API = "https://api.trafficstars.com"
#: Calls that change nothing on the account (everything else the emulator sees fails the test).
READ_ONLY = {("POST", "/v1/auth/token"), ("POST", "/v1/auth/info"), ("GET", "/v1/auth/logout")}


def get_test_run(dag: Any) -> Callable[..., None]:
    """Return a pytest test that runs ``dag`` once, against the real API or the emulator (see the module)."""

    def test_run(
        airflow_db: Path, clean_variables: None, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        from airflow_provider_trafficstars.client.auth._token import AccessToken
        from tests.airflow_compat import dag_test_without_date

        key = os.environ.get("TRAFFICSTARS_API_KEY", "").strip()
        emulator = None
        if key:
            url = os.environ.get("TRAFFICSTARS_BASE_URL", "").strip() or REAL_API
        else:
            key = new_api_key()
            emulator = TrafficStarsEmulator(api_keys=[key], campaigns=6, rate_limit=(100, 60.0)).start()
            url = emulator.url
        monkeypatch.setenv("AIRFLOW_CONN_" + CONN_ID.upper(), conn_json(url, key))
        # Every token the run obtains, to search the output for (on the real API nobody else can list them).
        tokens: list[str] = []
        parse = AccessToken.from_token_response.__func__  # type: ignore[attr-defined]

        def recording(cls: type[AccessToken], payload: object, **kwargs: Any) -> AccessToken:
            token = parse(cls, payload, **kwargs)
            tokens.append(token.access_token)
            id_token = payload.get("id_token") if isinstance(payload, dict) else None
            if isinstance(id_token, str) and id_token:
                tokens.append(id_token)
            return token

        monkeypatch.setattr(AccessToken, "from_token_response", classmethod(recording))
        try:
            before = emulator.campaigns.snapshot() if emulator else None
            installed = install_dag(Path(dag.fileloc))
            run = dag_test_without_date(installed)
            states = task_states(run)
            failed = sorted(task for task, state in states.items() if state not in ("success", "skipped"))
            assert not failed, f"the system test failed in {failed} (states {states}); see the task logs above"
            assert states["watcher"] == "skipped" and str(run.state) == "success", states
            if emulator is not None:  # every step ran (none skipped), and nothing was changed
                assert {t: s for t, s in states.items() if s != "success"} == {"watcher": "skipped"}, states
                sent = {(r.method, r.path) for r in emulator.request_log()}
                assert {c for c in sent if c[0] != "GET"} <= READ_ONLY, sorted(sent)
                assert emulator.campaigns.snapshot() == before
            xcoms = run_xcoms(run)
            out, err = capfd.readouterr()
            stored = json.dumps([list(xcoms.values()), list(run_rendered_fields(run).values())], default=str)
            assert tokens, "the run obtained no token"
            assert_no_secret(stored + out + err + task_logs(), key, *tokens)
            with capfd.disabled():
                target = "the emulator" if emulator else url
                print(
                    f"\nSystem test against {target}: {len(states)} tasks, {summary(xcoms)}; no secret in the output."
                )
        finally:
            if emulator is not None:
                emulator.stop()

    return test_run


def summary(xcoms: dict[tuple[str, int], Any]) -> str:
    """Return one line of what the run read (counts only)."""
    campaigns = xcoms.get(("read_campaigns", -1)) or {}
    report = xcoms.get(("read_report_yesterday", -1)) or {}
    return (
        f"{campaigns.get('count', '?')} campaign(s), {report.get('rows', '?')} report row(s) for {report.get('day')}, "
        f"balance read: {'yes' if ('read_balance', -1) in xcoms else 'no'}"
    )
