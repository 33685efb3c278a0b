"""The campaign operators and the balance sensor in real DAG runs against the emulator's campaign state.

The emulator's state is the proof: what a run changed, and that a dry run or a refused change did not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_trafficstars.exceptions import TrafficStarsPartialFailureError
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from airflow_provider_trafficstars.triggers.balance import TrafficStarsBalanceTrigger
from tests.airflow_compat import AIRFLOW_V_3, AIRFLOW_V_3_1
from tests.helpers import (
    TEST_DAGS,
    assert_no_secret,
    install_dag,
    run_rendered_fields,
    run_xcoms,
    task_logs,
    trigger_kwargs,
)

pytestmark = pytest.mark.integration
PAUSE, RUN, BALANCE = "/v2/campaigns/pause", "/v2/campaigns/run", "/v2/userinfo/balance"


@pytest.fixture(scope="module")
def dag(airflow_db: Path) -> Any:
    return install_dag(TEST_DAGS / "ts_campaigns.py")


@pytest.fixture
def emu(start_emulator: Callable[..., TrafficStarsEmulator], clean_variables: None) -> TrafficStarsEmulator:
    """An emulator with 6 campaigns (3 and 6 paused, the others enabled), set as ``trafficstars_default``."""
    return start_emulator(campaigns=6)


def run(dag: Any, *task_ids: str, **kwargs: Any) -> tuple[dict[str, str], dict[str, Any], Any]:
    """Run ``task_ids`` of the DAG (marking the others done); return their states, their XComs and the run."""
    others = sorted(t for t in dag.task_ids if t not in task_ids)
    dag_run = dag.test(mark_success_pattern="^(" + "|".join(map(re.escape, others)) + ")$", **kwargs)
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances() if ti.task_id in task_ids}
    xcoms = {task: value for (task, _), value in run_xcoms(dag_run).items() if task in task_ids}
    return states, xcoms, dag_run


def sent(emu: TrafficStarsEmulator, method: str, path: str) -> list[Any]:
    """Return the JSON bodies of the calls the emulator answered for ``method path``, in order."""
    return [json.loads(r.body) for r in emu.request_log() if (r.method, r.path) == (method, path)]


def statuses(emu: TrafficStarsEmulator) -> dict[int, str]:
    return {c["id"]: c["status"] for c in emu.campaigns.snapshot()["campaigns"]}


def output(capfd: pytest.CaptureFixture[str]) -> str:
    """Return what was printed since the last call, and the task log files (``dag.test()`` prints the logs)."""
    out, err = capfd.readouterr()
    return out + err + task_logs()


def assert_nothing_leaked(emu: TrafficStarsEmulator, api_key: str, printed: str, *runs: Any) -> None:
    stored = json.dumps([[list(run_xcoms(r).values()), list(run_rendered_fields(r).values())] for r in runs])
    assert_no_secret(stored + printed, api_key, *emu.issued_tokens)


# -- run / pause -----------------------------------------------------------------------------------
def test_partial_failure_fails_naming_the_ids_then_a_lenient_rerun_sends_only_those(
    dag: Any, emu: TrafficStarsEmulator, api_key: str, capfd: pytest.CaptureFixture[str]
) -> None:
    emu.campaigns.set_campaign(2, status="rejected")
    states, _, first = run(dag, "ids", "pause")
    assert states == {"ids": "success", "pause": "failed"}
    assert sent(emu, "PUT", PAUSE) == [{"campaign_ids": [1, 2, 4]}]  # 3 was paused already: not sent
    assert statuses(emu) == {1: "paused", 2: "rejected", 3: "paused", 4: "paused", 5: "enabled", 6: "paused"}
    printed = output(capfd)
    assert "TrafficStarsPartialFailureError" in printed
    assert re.search(r"could not pause campaigns \[2\]", printed)

    states, xcoms, second = run(dag, "ids", "pause_lenient")
    assert states == {"ids": "success", "pause_lenient": "success"}
    assert xcoms["pause_lenient"] == {"changed": [], "failed": [2], "unchanged": [1, 3, 4], "uncertain": []}
    assert sent(emu, "PUT", PAUSE)[1:] == [{"campaign_ids": [2]}]
    assert emu.token_requests == 1  # the second run reused the first run's token
    assert_nothing_leaked(emu, api_key, printed + output(capfd), first, second)


def test_the_partial_failure_error_carries_the_ids(emu: TrafficStarsEmulator) -> None:
    from airflow_provider_trafficstars.operators.campaigns import TrafficStarsCampaignStateOperator

    emu.campaigns.set_campaign(5, status="rejected")
    operator = TrafficStarsCampaignStateOperator(task_id="t", campaign_ids=[5, 6, 1, 404], state="run")
    with pytest.raises(TrafficStarsPartialFailureError) as caught:
        operator.execute({})  # type: ignore[arg-type]
    assert (caught.value.changed, caught.value.failed, caught.value.unchanged) == ([6], [5, 404], [1])


def test_ids_missing_from_the_list_are_read_one_by_one(emu: TrafficStarsEmulator) -> None:
    from airflow_provider_trafficstars.operators.campaigns import TrafficStarsCampaignStateOperator

    # The list answers only its first "page": the other ids are read on their own.
    emu.fail_next(1, 200, path="/v1.1/campaigns", method="GET", body='{"response": [{"id": 1, "status": "paused"}]}')
    operator = TrafficStarsCampaignStateOperator(task_id="t", campaign_ids=[1, 3, 4], state="pause", dry_run=True)
    assert operator.execute({}) == {  # type: ignore[arg-type]
        "changed": [4],
        "failed": [],
        "unchanged": [1, 3],
        "uncertain": [],
    }
    assert [r.path for r in emu.request_log() if r.method == "GET"] == [
        "/v1.1/campaigns",
        "/v1.1/campaigns/3",
        "/v1.1/campaigns/4",
    ]


def test_a_rerun_changes_nothing_and_says_so(dag: Any, emu: TrafficStarsEmulator) -> None:
    _, xcoms, first = run(dag, "ids", "pause_template")
    assert xcoms["pause_template"] == {"changed": [1, 2, 4], "failed": [], "unchanged": [3], "uncertain": []}
    assert run_rendered_fields(first)[("pause_template", -1)]["campaign_ids"] == "[1, 2, 3, 4]"
    _, xcoms, _ = run(dag, "ids", "pause_template")
    assert xcoms["pause_template"] == {"changed": [], "failed": [], "unchanged": [1, 2, 3, 4], "uncertain": []}
    assert len(sent(emu, "PUT", PAUSE)) == 1
    assert emu.count("GET", "/v1.1/campaigns") == 2  # each run read the state first, in one call
    assert emu.count("GET", "/v1.1/campaigns/1") == 0


def test_dry_run_changes_nothing(dag: Any, emu: TrafficStarsEmulator) -> None:
    emu.campaigns.set_campaign(2, status="rejected")
    before = emu.campaigns.snapshot()
    states, xcoms, _ = run(dag, "ids", "pause_dry", "update_dry")
    assert states == {"ids": "success", "pause_dry": "success", "update_dry": "success"}
    assert xcoms["pause_dry"] == {"changed": [1, 4], "failed": [2], "unchanged": [3], "uncertain": []}
    assert xcoms["update_dry"] == {
        "campaign_id": 1,
        "before": {"price": 0.47, "max_daily": 120.0},
        "after": {"price": 0.6, "max_daily": 150.0},
        "changed": ["price", "max_daily"],
        "uncertain": [],
    }
    assert emu.campaigns.snapshot() == before
    assert [r.method for r in emu.request_log() if r.method not in ("GET", "POST")] == []  # no PUT, no PATCH


@pytest.mark.parametrize(
    ("dry", "real", "state"), [("pause_dry", "pause_lenient", "pause"), ("run_dry", "run_lenient", "run")]
)
def test_a_dry_run_predicts_the_real_run(
    dag: Any, emu: TrafficStarsEmulator, capfd: pytest.CaptureFixture[str], dry: str, real: str, state: str
) -> None:
    """Draft and unapproved campaigns cannot be switched: the dry run says ``failed``, as the real run finds."""
    emu.campaigns.set_campaign(2, status="draft")
    emu.campaigns.set_campaign(4, status="unapproved")
    emu.campaigns.set_campaign(1, status="no_funds_paused")  # 3 is paused (seeded)
    before = emu.campaigns.snapshot()
    states, xcoms, _ = run(dag, "ids", dry)
    assert states == {"ids": "success", dry: "success"}
    predicted = xcoms[dry]
    assert emu.campaigns.snapshot() == before and emu.count("PUT") == 0
    assert (
        predicted
        == {
            "pause": {"changed": [1], "failed": [2, 4], "unchanged": [3], "uncertain": []},
            "run": {"changed": [1, 3], "failed": [2, 4], "unchanged": [], "uncertain": []},
        }[state]
    )

    states, xcoms, _ = run(dag, "ids", real)
    assert states == {"ids": "success", real: "success"}
    assert xcoms[real] == predicted  # the real run did what the dry run said, TrafficStars answering
    # Every campaign not already there was sent, the refused ones too: TrafficStars decides, not the rule.
    assert sent(emu, "PUT", PAUSE if state == "pause" else RUN) == [
        {"campaign_ids": [1, 2, 4] if state == "pause" else [1, 2, 3, 4]}
    ]
    assert "against the rule dry runs use" not in output(capfd)  # the emulator agreed with the rule


def test_a_dry_run_says_uncertain_for_a_status_it_does_not_know(dag: Any, emu: TrafficStarsEmulator) -> None:
    listed = [{"id": 1, "status": "enabled"}, {"id": 2, "status": "archived"}, {"id": 3, "status": "paused"}]
    emu.fail_next(1, 200, path="/v1.1/campaigns", method="GET", body=json.dumps({"response": listed}))
    emu.fail_next(
        1, 200, path="/v1.1/campaigns/1", method="GET", body=json.dumps({**listed[1], "id": 1, "price": 0.47})
    )
    states, xcoms, _ = run(dag, "ids", "pause_dry", "update_dry")
    assert states == {"ids": "success", "pause_dry": "success", "update_dry": "success"}
    # 4 is not in the (scripted) list: read on its own, enabled.
    assert xcoms["pause_dry"] == {"changed": [1, 4], "failed": [], "unchanged": [3], "uncertain": [2]}
    assert xcoms["update_dry"] == {
        "campaign_id": 1,
        "before": {"price": 0.47, "max_daily": None},
        "after": {"price": 0.6, "max_daily": 150.0},
        "changed": [],
        "uncertain": ["price", "max_daily"],
    }
    assert [r.method for r in emu.request_log() if r.method not in ("GET", "POST")] == []  # no PUT, no PATCH


def test_the_failure_names_each_failed_campaigns_status(emu: TrafficStarsEmulator) -> None:
    from airflow_provider_trafficstars.operators.campaigns import TrafficStarsCampaignStateOperator

    emu.campaigns.set_campaign(5, status="draft")
    operator = TrafficStarsCampaignStateOperator(task_id="t", campaign_ids=[5, 404], state="pause")
    with pytest.raises(TrafficStarsPartialFailureError) as caught:
        operator.execute({})  # type: ignore[arg-type]
    assert caught.value.statuses == {5: "draft", 404: "unknown id"}


def test_batches_and_a_503_on_put_is_retried_and_a_503_on_post_is_not(dag: Any, emu: TrafficStarsEmulator) -> None:
    for cid in (1, 2, 4, 5):
        emu.campaigns.set_campaign(cid, status="paused")
    emu.campaigns.set_campaign(6, status="no_funds_paused")
    emu.fail_next(1, 503, path=RUN, method="PUT")
    states, xcoms, _ = run(dag, "run_batches")
    assert states == {"run_batches": "success"}
    assert xcoms["run_batches"] == {"changed": [1, 2, 3, 4, 5, 6], "failed": [], "unchanged": [], "uncertain": []}
    # Batches of 4; the first call answered 503 and was sent again (PUT is idempotent).
    assert sent(emu, "PUT", RUN) == [{"campaign_ids": [1, 2, 3, 4]}] * 2 + [{"campaign_ids": [5, 6]}]
    assert [r.status for r in emu.request_log() if r.method == "PUT"] == [503, 200, 200]

    emu.fail_next(1, 503, path="/v1.1/campaigns", method="POST")
    states, _, _ = run(dag, "create")
    assert states == {"create": "failed"}
    assert emu.count("POST", "/v1.1/campaigns") == 1  # a POST is not idempotent: never sent twice


# -- bid and budget --------------------------------------------------------------------------------
def test_max_change_refuses_a_bid_jump_and_a_patch_is_retried_after_503(
    dag: Any, emu: TrafficStarsEmulator, api_key: str, capfd: pytest.CaptureFixture[str]
) -> None:
    states, _, refused = run(dag, "update_typo")
    assert states == {"update_typo": "failed"}
    assert emu.count("PATCH") == 0 and emu.campaigns.get(1)["price"] == 0.47  # type: ignore[index]
    printed = output(capfd)
    assert "TrafficStarsGuardError" in printed

    emu.fail_next(1, 503, path="/v1.1/campaigns/1", method="PATCH")
    states, xcoms, updated = run(dag, "update")
    assert states == {"update": "success"}
    assert xcoms["update"] == {
        "campaign_id": 1,
        "before": {"price": 0.47, "max_daily": 120.0},
        "after": {"price": 0.6, "max_daily": 150.0},
        "changed": ["price", "max_daily"],
        "uncertain": [],
    }
    campaign = emu.campaigns.get(1) or {}
    assert (campaign["price"], campaign["max_daily"]) == (0.6, 150.0)
    # Sent twice: the PATCH sets absolute values, so the hook marks it idempotent and it is retried.
    assert sent(emu, "PATCH", "/v1.1/campaigns/1") == [{"price": 0.6, "max_daily": 150.0}] * 2

    _, xcoms, _ = run(dag, "update")
    assert xcoms["update"]["changed"] == [] and emu.count("PATCH") == 2  # the rerun sent nothing
    assert_nothing_leaked(emu, api_key, printed + output(capfd), refused, updated)


# -- the balance sensor ----------------------------------------------------------------------------
@pytest.mark.parametrize("task_id", ["balance_poke", "balance_reschedule", "balance_deferrable"])
def test_balance_sensor_waits_for_the_balance(
    dag: Any, emu: TrafficStarsEmulator, api_key: str, capfd: pytest.CaptureFixture[str], task_id: str
) -> None:
    below = [100, 499.99]  # two reads below 500, then enough
    if task_id == "balance_reschedule" and AIRFLOW_V_3 and not AIRFLOW_V_3_1:  # pragma: no cover - 3.0 leg
        # Airflow 3.0's BaseSensorOperator fails a sensor rescheduled twice (its first reschedule date comes
        # back as text: "datetime - str"); fixed in 3.1. Any sensor in reschedule mode meets it.
        below = [100]
    emu.campaigns.set_balance(1000, then=below)
    started = pendulum.now("UTC")
    states, xcoms, dag_run = run(dag, task_id)
    assert states == {task_id: "success"}
    assert xcoms[task_id] == {"balance": 1000.0, "min_balance": 500.0}
    assert emu.count("GET", BALANCE) == len(below) + 1
    assert emu.token_requests == 1  # every poke (and the trigger) took the one shared token
    if task_id == "balance_deferrable" and AIRFLOW_V_3:  # Airflow 2's dag.test() stores no trigger row
        rows = trigger_kwargs(TrafficStarsBalanceTrigger, created_since=started)
        assert rows and all(set(row) == {"conn_id", "min_balance", "poke_interval", "timeout_at"} for row in rows)
        assert {row["min_balance"] for row in rows} == {500.0}
    assert_nothing_leaked(emu, api_key, output(capfd), dag_run)
