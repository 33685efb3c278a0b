"""The TrafficStars operators on real Airflow (SQLite metadata DB) against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pendulum
import pytest

from airflow_provider_trafficstars.client._checks import SUMMARY_KEYS
from airflow_provider_trafficstars.exceptions import TrafficStarsApiError, TrafficStarsConfigError
from airflow_provider_trafficstars.operators.trafficstars import (
    TrafficStarsApiOperator,
    TrafficStarsLogoutOperator,
    TrafficStarsRefreshTokenOperator,
    TrafficStarsResponseCheckError,
    TrafficStarsSessionInfoOperator,
)
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.helpers import (
    TEST_DAGS,
    TOKEN_VAR,
    assert_no_secret,
    conn_json,
    install_dag,
    run_rendered_fields,
    run_traces,
    run_xcoms,
    task_states,
    variable,
)

pytestmark = pytest.mark.integration


def close_to(iso: str, expected: pendulum.DateTime, slack: float = 30) -> bool:
    parsed = pendulum.parse(iso)
    assert isinstance(parsed, pendulum.DateTime) and parsed.utcoffset() == pendulum.duration(0)
    return abs((parsed - expected).total_seconds()) <= slack


@pytest.fixture
def short_emulator(start_emulator: Callable[..., TrafficStarsEmulator]) -> TrafficStarsEmulator:
    """An emulator whose tokens live 1000 s, set as ``trafficstars_default``."""
    return start_emulator(token_lifetime=1000)


def rewrite_expiry(seconds_left: float) -> None:
    """Make the cached token record say it expires in ``seconds_left`` seconds."""
    from airflow.models import Variable

    record = json.loads(variable(TOKEN_VAR) or "{}")
    record["expires_at"] = pendulum.now("UTC").add(seconds=seconds_left).isoformat()
    Variable.set(TOKEN_VAR, json.dumps(record))


# -- every operator in one DAG run ---------------------------------------------------------------
def test_operators_in_one_dag_run(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator, api_key: str, capfd
) -> None:
    dag = install_dag(TEST_DAGS / "ts_operators.py")
    run = dag.test()
    assert task_states(run) == dict.fromkeys(["refresh", "info", "count", "raw", "logout"], "success")
    now = pendulum.now("UTC")

    xcoms = run_xcoms(run)
    assert set(xcoms[("refresh", -1)]) == {"expires_at"}
    assert close_to(xcoms[("refresh", -1)]["expires_at"], now.add(seconds=36000))
    info = xcoms[("info", -1)]
    assert set(info) == set(SUMMARY_KEYS) and info["token_type"] == "Bearer"
    assert 35900 <= info["expires_in"] <= 36000
    assert close_to(info["expires_at"], now.add(seconds=info["expires_in"]))
    assert xcoms[("count", -1)] == 3
    assert [c["id"] for c in xcoms[("raw", -1)]["response"]] == [1, 2, 3]
    assert ("logout", -1) not in xcoms

    # One token for the whole run, ended by the logout, which also cleared the shared cache.
    assert emulator.token_requests == 1
    assert emulator.count("GET", "/v1/auth/logout") == 1
    assert variable(TOKEN_VAR) is None

    # Templated endpoint, query parameters (lists as name[]) and headers; no DAG param leaks in.
    call = next(r for r in emulator.request_log() if r.path == "/v1.1/campaigns")
    ds = run.logical_date.strftime("%Y-%m-%d")
    assert parse_qsl(call.query) == [("status[]", "enabled"), ("status[]", "paused"), ("day", ds)]
    assert call.header("X-Run") == run.run_id
    rendered = run_rendered_fields(run)[("count", -1)]
    assert rendered["endpoint"] == "/v1.1/campaigns"
    assert rendered["query_params"] == {"status": ["enabled", "paused"], "day": ds}

    assert_no_secret(run_traces(capfd, run), api_key, *emulator.issued_tokens)


# -- refresh ---------------------------------------------------------------------------------------
def test_refresh_reuses_a_token_with_enough_time_left(
    airflow_db: Path, clean_variables: None, short_emulator: TrafficStarsEmulator
) -> None:
    first = TrafficStarsRefreshTokenOperator(task_id="r1", min_ttl=400).execute({})
    second = TrafficStarsRefreshTokenOperator(task_id="r2", min_ttl=400).execute({})
    assert first == second
    assert short_emulator.token_requests == 1
    assert close_to(first["expires_at"], pendulum.now("UTC").add(seconds=1000))


def test_refresh_renews_a_token_with_less_than_min_ttl_left(
    airflow_db: Path, clean_variables: None, short_emulator: TrafficStarsEmulator
) -> None:
    TrafficStarsRefreshTokenOperator(task_id="r1", min_ttl=0).execute({})
    rewrite_expiry(450)  # still outside the refresh margin, but shorter than min_ttl below
    kept = TrafficStarsRefreshTokenOperator(task_id="r2", min_ttl=400).execute({})
    assert short_emulator.token_requests == 1
    assert close_to(kept["expires_at"], pendulum.now("UTC").add(seconds=450))

    renewed = TrafficStarsRefreshTokenOperator(task_id="r3", min_ttl=600).execute({})
    assert short_emulator.token_requests == 2
    assert close_to(renewed["expires_at"], pendulum.now("UTC").add(seconds=1000))
    record = json.loads(variable(TOKEN_VAR) or "{}")
    assert record["access_token"] == short_emulator.issued_tokens[-1]


def test_refresh_with_force_always_renews(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    TrafficStarsRefreshTokenOperator(task_id="r1").execute({})
    TrafficStarsRefreshTokenOperator(task_id="r2", force=True).execute({})
    assert emulator.token_requests == 2


def test_refresh_min_ttl_beyond_the_token_lifetime_fails_after_one_renewal(
    airflow_db: Path, clean_variables: None, short_emulator: TrafficStarsEmulator
) -> None:
    with pytest.raises(TrafficStarsConfigError) as info:
        TrafficStarsRefreshTokenOperator(task_id="r", min_ttl=3600).execute({})
    assert "3600" in str(info.value)
    assert short_emulator.token_requests == 1


@pytest.mark.parametrize("bad", [-1, float("nan"), "3600", True])
def test_refresh_rejects_a_bad_min_ttl(bad: Any) -> None:
    with pytest.raises(TrafficStarsConfigError):
        TrafficStarsRefreshTokenOperator(task_id="r", min_ttl=bad)


# -- session info and logout -----------------------------------------------------------------------
def test_session_info_holds_no_secret(
    airflow_db: Path, clean_variables: None, short_emulator: TrafficStarsEmulator, api_key: str
) -> None:
    result = TrafficStarsSessionInfoOperator(task_id="i").execute({})
    assert set(result) == set(SUMMARY_KEYS)
    assert 990 <= result["expires_in"] <= 1000
    assert_no_secret(json.dumps(result), api_key, *short_emulator.issued_tokens)


def test_logout_without_a_cached_token_succeeds_without_a_call(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    TrafficStarsLogoutOperator(task_id="l").execute({})
    assert emulator.count() == 0


def test_logout_succeeds_when_the_server_says_the_token_is_invalid(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    TrafficStarsRefreshTokenOperator(task_id="r").execute({})
    assert variable(TOKEN_VAR) is not None
    emulator.revoke_all()
    TrafficStarsLogoutOperator(task_id="l").execute({})
    assert emulator.count("GET", "/v1/auth/logout") == 1
    assert variable(TOKEN_VAR) is None


# -- any API call ----------------------------------------------------------------------------------
def test_api_operator_returns_none_for_an_empty_answer(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    emulator.fail_next(1, 204, path="/v1.1/campaigns", body=b"")
    assert TrafficStarsApiOperator(task_id="a", endpoint="/v1.1/campaigns").execute({}) is None


def test_api_operator_response_check_failure_names_the_endpoint(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    op = TrafficStarsApiOperator(task_id="a", endpoint="/v1.1/campaigns", response_check=lambda r: False)
    with pytest.raises(TrafficStarsResponseCheckError) as info:
        op.execute({})
    assert (info.value.method, info.value.endpoint, info.value.status_code) == ("GET", "/v1.1/campaigns", 200)
    assert "/v1.1/campaigns" in str(info.value)


def test_api_operator_errors_carry_the_status(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator
) -> None:
    with pytest.raises(TrafficStarsApiError) as info:
        TrafficStarsApiOperator(task_id="a", endpoint="/v1.1/nowhere").execute({})
    assert info.value.status_code == 404 and info.value.endpoint == "/v1.1/nowhere"

    emulator.fail_next(1, 200, path="/v1.1/campaigns", body="<html>ok</html>", content_type="text/html")
    with pytest.raises(TrafficStarsApiError) as info:
        TrafficStarsApiOperator(task_id="b", endpoint="/v1.1/campaigns").execute({})
    assert info.value.status_code == 200

    emulator.fail_next(1, 200, path="/v1.1/campaigns", body="<html>ok</html>", content_type="text/html")
    op = TrafficStarsApiOperator(task_id="c", endpoint="/v1.1/campaigns", response_filter=lambda r: r.text)
    assert op.execute({}) == "<html>ok</html>"


def test_operators_do_no_io_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", raising=False)
    for op in (
        TrafficStarsSessionInfoOperator(task_id="i", trafficstars_conn_id="nowhere"),
        TrafficStarsLogoutOperator(task_id="l", trafficstars_conn_id="nowhere"),
        TrafficStarsRefreshTokenOperator(task_id="r", trafficstars_conn_id="nowhere"),
        TrafficStarsApiOperator(task_id="a", endpoint="/x", trafficstars_conn_id="nowhere"),
    ):
        assert "hook" not in vars(op)
    with pytest.raises(TrafficStarsConfigError):
        TrafficStarsApiOperator(task_id="bad", endpoint="/x", method="GET /x")


def _every_task_class() -> list[tuple[type, dict[str, Any]]]:
    from airflow_provider_trafficstars.operators.campaigns import (
        TrafficStarsCampaignStateOperator,
        TrafficStarsCampaignUpdateOperator,
    )
    from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor
    from airflow_provider_trafficstars.sensors.trafficstars import TrafficStarsSessionSensor
    from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator

    return [
        (TrafficStarsSessionInfoOperator, {}),
        (TrafficStarsLogoutOperator, {}),
        (TrafficStarsRefreshTokenOperator, {}),
        (TrafficStarsApiOperator, {"endpoint": "/v1.1/campaigns"}),
        (TrafficStarsCampaignStateOperator, {"campaign_ids": [1], "state": "pause"}),
        (TrafficStarsCampaignUpdateOperator, {"campaign_id": 1, "price": 0.5}),
        (TrafficStarsSessionSensor, {}),
        (TrafficStarsBalanceSensor, {"min_balance": 1}),
        (TrafficStarsReportToStorageOperator, {"report": "campaigns", "destination": "/tmp/never/{day}.{ext}"}),
    ]


@pytest.mark.parametrize(("cls", "kwargs"), _every_task_class(), ids=lambda v: getattr(v, "__name__", ""))
def test_every_task_takes_its_account_from_a_template_and_builds_its_hook_after_rendering(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch, cls: type, kwargs: dict[str, Any]
) -> None:
    """``trafficstars_conn_id`` is templated everywhere, so ``.expand(trafficstars_conn_id=[...])`` and
    ``"{{ params.account }}"`` work; the hook is built on first use, from the rendered id."""
    from airflow.providers.common.compat.sdk import DAG

    monkeypatch.setenv("AIRFLOW_CONN_TS_ACCOUNT_B", conn_json("http://127.0.0.1:9", "key-b"))
    with DAG("templated_conn_ids", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        op = cls(task_id="t", trafficstars_conn_id="{{ params.account }}", **kwargs)
    assert "trafficstars_conn_id" in op.template_fields
    assert "hook" not in vars(op)  # nothing built from the unrendered id
    op.render_template_fields({"params": {"account": "ts_account_b"}, "dag": dag, "task": op})
    assert op.trafficstars_conn_id == "ts_account_b"
    assert op.hook.trafficstars_conn_id == "ts_account_b"
    # The partial of a mapped task keeps the id as an expand argument (mapping over accounts is allowed).
    with DAG("mapped_conn_ids", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        mapped = cls.partial(task_id="m", **kwargs).expand(trafficstars_conn_id=["a", "b"])
    assert mapped.expand_input.value == {"trafficstars_conn_id": ["a", "b"]}
