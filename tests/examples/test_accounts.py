"""Many accounts in one DAG: example_trafficstars_accounts on two emulators (two accounts), real Connections.

Each account is an emulator of its own (another base URL: another account fingerprint) that allows 2 calls
per 60 s and answers 429 beyond; each connection says ``rate_limit: 2`` and ``max_retries: 0``, so a
429 fails the task. One run costs each account exactly 2 calls (its token, its report day): if the two
accounts shared one token, one budget or one cursor, a task would wait a whole window (62 s), take a
second token, or export nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_trafficstars.client.auth import fingerprint
from airflow_provider_trafficstars.client.cache._budget import budget_key
from airflow_provider_trafficstars.client.cache._grants import PERIOD
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import (
    assert_no_secret,
    install_dag,
    new_api_key,
    run_rendered_fields,
    run_xcoms,
    task_logs,
    task_states,
)

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "example_trafficstars_accounts.py"
#: connection id -> campaigns of its account (different counts: a row filed under the wrong account shows)
ACCOUNTS = {"ts_account_a": 3, "ts_account_b": 5}
LIMIT = 2


@pytest.fixture
def accounts(airflow_db: Path, clean_variables: None) -> Iterator[dict[str, tuple[TrafficStarsEmulator, str]]]:
    """Two emulators, one per account, and their Connections stored in the metadata DB (removed after)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    started: dict[str, tuple[TrafficStarsEmulator, str]] = {}
    try:
        for conn_id, campaigns in ACCOUNTS.items():
            key = new_api_key()
            emu = TrafficStarsEmulator(api_keys=[key], campaigns=campaigns, rate_limit=(LIMIT, PERIOD)).start()
            started[conn_id] = (emu, key)
        with create_session() as session:
            for conn_id, (emu, key) in started.items():
                extra = json.dumps({"rate_limit": LIMIT, "max_retries": 0})
                session.add(
                    Connection(conn_id=conn_id, conn_type="trafficstars", host=emu.url, password=key, extra=extra)
                )
        yield started
    finally:
        with create_session() as session:
            session.execute(delete(Connection).where(Connection.conn_id.in_(list(ACCOUNTS))))
        for emu, _ in started.values():
            emu.stop()


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def _table(path: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(path)
    try:
        query = (
            "SELECT account, COUNT(*), COUNT(DISTINCT campaign_id), MIN(day), MAX(day), MAX(campaign_id)"
            " FROM trafficstars_accounts_by_campaign GROUP BY account"
        )
        return {
            row[0]: {"rows": row[1], "campaigns": row[2], "days": (row[3], row[4]), "max_id": row[5]}
            for row in conn.execute(query)
        }
    finally:
        conn.close()


def test_two_accounts_one_dag_each_with_its_own_token_budget_and_rows(
    accounts: dict[str, tuple[TrafficStarsEmulator, str]],
    warehouse: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.airflow_compat import dag_test_without_date

    dag = install_dag(EXAMPLE)
    lake = tmp_path / "lake"
    conf = {"accounts": list(ACCOUNTS), "base_url": f"file://{lake}"}
    run = dag_test_without_date(dag, run_conf=conf)
    assert task_states(run) == {
        "accounts": "success",
        "export_by_campaign[0]": "success",
        "export_by_campaign[1]": "success",
        "load": "success",
    }
    xcoms = run_xcoms(run)

    # One task per account, each for the day before the run (no logical date), filed under the account.
    exported = [xcoms[("export_by_campaign", i)] for i in range(len(ACCOUNTS))]
    (day,) = {item["day"] for items in exported for item in items}
    due = [run.start_date, getattr(run, "run_after", None) or run.start_date]  # no run_after on Airflow 2
    assert date.fromisoformat(day) in {(t - timedelta(days=1)).date() for t in due}
    for items, (conn_id, campaigns) in zip(exported, ACCOUNTS.items(), strict=True):
        url = f"file://{lake}/{conn_id}/advertiser/by-campaign/day={day}/part.csv"
        assert items == [{"day": day, "url": url, "rows": campaigns, "account": conn_id}]
        assert Path(url.removeprefix("file://")).is_file()

    # Each account: one token request, its 2 calls under its own limit of 2 (no 429, so no task failed);
    # the 4 calls fit in less than one window, which one budget for both accounts could not allow.
    times = []
    for emu, _ in accounts.values():
        log = emu.request_log()
        assert emu.token_requests == 1
        assert [(r.method, r.path) for r in log] == [
            ("POST", "/v1/auth/token"),
            ("GET", "/v1.1/advertiser/custom/report/by-campaign"),
        ]
        assert [r.status for r in log] == [200, 200]
        times += [r.at for r in log]
    assert max(times) - min(times) < PERIOD

    # One table, the account column telling the rows apart.
    expected = {
        conn_id: {"rows": n, "campaigns": n, "days": (day, day), "max_id": n} for conn_id, n in ACCOUNTS.items()
    }
    assert _table(warehouse) == expected
    assert xcoms[("load", -1)] == {"table": "trafficstars_accounts_by_campaign", "rows": 8, "accounts": ACCOUNTS}

    # A second run re-exports the run's own day (a late conversion may have changed it); the load replaces
    # each account's rows of that day instead of adding them again. (Limits lifted: a third call in the
    # window would wait for it, as it should: each account's budget Variable is deleted.) Each account reuses
    # its token.
    from airflow.models import Variable

    for emu, key in accounts.values():
        emu.set_rate_limit(None)
        Variable.delete(budget_key(fingerprint(emu.url, key)))
    again = dag_test_without_date(dag, run_conf=conf)
    assert set(task_states(again).values()) == {"success"}
    assert [run_xcoms(again)[("export_by_campaign", i)] for i in range(len(ACCOUNTS))] == exported
    assert [(emu.token_requests, emu.count()) for emu, _ in accounts.values()] == [(1, 3), (1, 3)]
    assert _table(warehouse) == expected

    out, err = capfd.readouterr()
    stored = json.dumps([list(run_xcoms(r).values()) + list(run_rendered_fields(r).values()) for r in (run, again)])
    secrets = [s for emu, key in accounts.values() for s in (key, *emu.issued_tokens)]
    assert_no_secret(stored + out + err + task_logs(), *secrets)
