"""The load example trusts only what the ETL wrote: forged Asset events, posted through a real api-server.

Airflow 3.3: the events go through ``POST /api/v2/assets/events`` of an ``airflow api-server`` process that
shares this session's metadata DB. The load run then gets them as its triggering events, as the scheduler
gives them (``DagRun.consumed_asset_events``), next to the ETL's own events. Nothing may be opened, deleted
or created for them. Airflow 2 has no api-server (its REST API is the FAB webserver's): there the events are
recorded the way its ``POST /api/v1/datasets/events`` does, and a manual load must pass over them.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import AIRFLOW_V_3, dag_test_without_date, replaced_run_creation
from tests.api_server import api_server
from tests.helpers import EXAMPLE_DAGS, HOME, install_dag, run_xcoms, task_states

pytestmark = pytest.mark.integration
ETL, LOAD = "example_trafficstars_report_etl", "example_trafficstars_report_load"


@pytest.fixture(scope="module")
def rest_api(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``airflow api-server`` on this test session's metadata DB; yield its base URL."""
    env = HOME.env(AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True")  # every request is an admin's
    with api_server(env, tmp_path_factory.mktemp("rest-api") / "api-server.log") as base:
        yield base


@pytest.fixture
def report_emulator(start_emulator: Callable[..., TrafficStarsEmulator]) -> TrafficStarsEmulator:
    return start_emulator(campaigns=6)


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Return every table of the warehouse with all its rows, sorted."""
    conn = sqlite3.connect(path)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in sorted(tables)}
    finally:
        conn.close()


@contextlib.contextmanager
def consuming(event_ids: list[int]) -> Iterator[None]:
    """Make ``dag.test()`` runs consume these Asset events, as the scheduler's asset-triggered run does.

    The scheduler creates the run and then ``dag_run.consumed_asset_events.extend(events)``; ``dag.test()``
    creates a manual run (``replaced_run_creation``), after which the same is done here.
    """
    from airflow.models.asset import AssetEvent
    from sqlalchemy import select

    def wrap(create: Callable[..., Any]) -> Callable[..., Any]:
        def create_and_consume(**kwargs: Any) -> Any:
            run = create(**kwargs)
            session = kwargs["session"]
            query = select(AssetEvent).where(AssetEvent.id.in_(event_ids)).order_by(AssetEvent.timestamp)
            run.consumed_asset_events.extend(session.scalars(query))
            session.commit()
            return run

        return create_and_consume

    with replaced_run_creation(wrap):
        yield


def etl_event_ids(run: Any) -> list[int]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent.id).where(AssetEvent.source_dag_id == ETL, AssetEvent.source_run_id == run.run_id)
        return list(session.scalars(query))


def rest_api_auth(rest_api: str) -> dict[str, str]:
    """Return the header of an admin's token: with every user an admin, the simple auth manager hands one out
    at ``GET /auth/token`` (Airflow 3.1/3.2 refuse the REST API without it; 3.3 lets such requests through)."""
    answer = requests.get(f"{rest_api}/auth/token", timeout=30)
    assert answer.status_code in (200, 201), answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def post_event(rest_api: str, asset: str, extra: dict[str, Any]) -> int:
    """Post an Asset event through the REST API as any user allowed to may; return its id."""
    auth = rest_api_auth(rest_api)
    assets = requests.get(f"{rest_api}/api/v2/assets", params={"name_pattern": asset}, headers=auth, timeout=30).json()[
        "assets"
    ]
    (asset_id,) = [a["id"] for a in assets if a["name"] == asset]
    answer = requests.post(
        f"{rest_api}/api/v2/assets/events", json={"asset_id": asset_id, "extra": extra}, headers=auth, timeout=30
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # What Airflow 3.3 records for an event of the REST API: no source task or run, and its mark in the extra.
    assert (body["source_dag_id"], body["source_task_id"], body["source_run_id"]) == (None, None, None)
    assert body["extra"] == {**extra, "from_rest_api": True}
    return int(body["id"])


def post_like_airflow_2s_rest_api(uri: str, extra: dict[str, Any]) -> int:  # pragma: no cover - Airflow 2 legs
    """Record a Dataset event as Airflow 2's ``POST /api/v1/datasets/events`` does (``create_dataset_event``)."""
    from airflow.datasets import Dataset
    from airflow.datasets.manager import dataset_manager
    from airflow.utils import timezone
    from airflow.utils.session import create_session

    with create_session() as session:
        event = dataset_manager.register_dataset_change(
            dataset=Dataset(uri), timestamp=timezone.utcnow(), extra={**extra, "from_rest_api": True}, session=session
        )
        assert event is not None and event.source_dag_id is None
        return int(event.id)


def etl_and_first_load(tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Any]:
    """Run the ETL (no date) and a manual load; return both DAGs and the ETL run, after checking the tables."""
    monkeypatch.setenv("TRAFFICSTARS_REPORT_BASE_URL", f"file://{tmp_path}/reports")  # both DAG files read it
    etl, load = install_dag(EXAMPLE_DAGS / f"{ETL}.py"), install_dag(EXAMPLE_DAGS / f"{LOAD}.py")
    etl_run = dag_test_without_date(etl)
    assert set(task_states(etl_run).values()) == {"success"}
    assert task_states(dag_test_without_date(load)) == {"load": "success"}
    tables = dump(warehouse)
    assert set(tables) == {
        "trafficstars_" + t
        for t in ("advertiser_by_day", "advertiser_by_campaign", "advertiser_by_country", "campaigns")
    }
    assert all(tables.values())
    return etl, load, etl_run


def forged_events(tmp_path: Path, day: str) -> dict[str, dict[str, Any]]:
    """Return ``{asset: extra}`` of four forged events, after writing the files their author controls.

    Another team's file, and one planted under the ETL's destination for a day the ETL never wrote.
    """
    base = f"file://{tmp_path}/reports"
    other_team = tmp_path / "other-team" / "advertiser" / "by-campaign" / f"day={day}" / "part.csv"
    other_team.parent.mkdir(parents=True)
    other_team.write_text(f"day,campaign_id,name\n{day},999,Other team\n")
    planted = tmp_path / "reports" / "campaigns" / "day=2020-01-01" / "part.csv"
    planted.parent.mkdir(parents=True)
    planted.write_text("day,id,name,status\n2020-01-01,999,Planted,enabled\n")
    return {
        "trafficstars_advertiser_by_day": {
            "report": "advertiser/by-day",
            "days": [day],
            "urls": ["file:///etc/os-release"],
        },
        "trafficstars_advertiser_by_campaign": {
            "report": "advertiser/by-campaign",
            "days": [day],
            "urls": [f"file://{other_team}"],
        },
        "trafficstars_advertiser_by_country": {  # would create trafficstars_publisher_by_spot
            "report": "publisher/by-spot",
            "days": [day],
            "urls": [f"{base}/publisher/by-spot/day={day}/part.csv"],
        },
        "trafficstars_campaigns": {
            "report": "campaigns",
            "days": ["2020-01-01"],
            "urls": [f"{base}/campaigns/day=2020-01-01/part.csv"],
        },
    }


def refusals(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """Return ``(asset, reason)`` of each event the load ignored since the last ``caplog.clear()``."""
    return sorted(re.findall(r"Ignoring an Asset event of (\w+) \[(\w+)\]", caplog.text))


#: What the load says of the four forged events: three from the REST API, one for a report it does not know.
REFUSED_AS_EXTERNAL = [
    ("trafficstars_advertiser_by_campaign", "external"),
    ("trafficstars_advertiser_by_country", "unknown_report"),
    ("trafficstars_advertiser_by_day", "external"),
    ("trafficstars_campaigns", "external"),
]


@pytest.mark.skipif(not AIRFLOW_V_3, reason="Airflow 3's api-server (POST /api/v2/assets/events)")
def test_forged_rest_events_open_delete_and_create_nothing(
    airflow_db: Path,
    clean_variables: None,
    report_emulator: TrafficStarsEmulator,
    warehouse: Path,
    rest_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, load, etl_run = etl_and_first_load(tmp_path, warehouse, monkeypatch)
    before = dump(warehouse)
    day = run_xcoms(etl_run)[("advertiser_by_day", -1)][-1]["day"]
    posted = [post_event(rest_api, asset, extra) for asset, extra in forged_events(tmp_path, day).items()]

    # The load run the scheduler starts from these events and the ETL's own: the ETL's days load again,
    # the forged events are ignored, each with a warning saying why.
    etl_events = etl_event_ids(etl_run)
    assert len(etl_events) == 4  # one per report task, each recorded with its source DAG, task and run
    with consuming(etl_events + posted):
        caplog.clear()
        run = dag_test_without_date(load)
        assert task_states(run) == {"load": "success"}
        assert set(run_xcoms(run)[("load", -1)]) == set(before)  # the ETL's events did trigger a load
        assert dump(warehouse) == before  # nothing deleted, nothing inserted, no table created
        assert refusals(caplog) == REFUSED_AS_EXTERNAL

        # The same events with allow_external_events: they pass the source rule, and the object planted under
        # the ETL's destination loads (so it was the rule that refused it above, not a lost event); the other
        # three stay refused, for what they name.
        caplog.clear()
        run = dag_test_without_date(load, run_conf={"allow_external_events": True})
        assert task_states(run) == {"load": "success"}
        planted = ("2020-01-01", 999, "Planted", "enabled")
        assert dump(warehouse) == {
            **before,
            "trafficstars_campaigns": sorted([*before["trafficstars_campaigns"], planted], key=repr),
        }
        assert refusals(caplog) == [
            ("trafficstars_advertiser_by_campaign", "foreign_url"),
            ("trafficstars_advertiser_by_country", "unknown_report"),
            ("trafficstars_advertiser_by_day", "foreign_url"),
        ]


def test_a_manual_load_passes_over_forged_latest_events(
    airflow_db: Path,
    clean_variables: None,
    report_emulator: TrafficStarsEmulator,
    warehouse: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    """A manual run loads each Asset's newest event it trusts: forged events posted after the ETL's are passed over."""
    _, load, etl_run = etl_and_first_load(tmp_path, warehouse, monkeypatch)
    before = dump(warehouse)
    day = run_xcoms(etl_run)[("advertiser_by_day", -1)][-1]["day"]
    forged = forged_events(tmp_path, day)
    if AIRFLOW_V_3:
        rest_api = request.getfixturevalue("rest_api")
        for asset, extra in forged.items():
            post_event(rest_api, asset, extra)
    else:  # pragma: no cover - Airflow 2 legs of the version matrix
        for asset, extra in forged.items():
            post_like_airflow_2s_rest_api(asset, extra)
    caplog.clear()
    run = dag_test_without_date(load)
    assert task_states(run) == {"load": "success"}
    assert dump(warehouse) == before
    assert refusals(caplog) == REFUSED_AS_EXTERNAL
