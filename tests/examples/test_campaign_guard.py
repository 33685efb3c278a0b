"""The guard-rail example DAG against the emulator: it pauses exactly the campaigns over the CPA limit.

The expected campaigns are computed here, by hand, from the report rows the run itself read (so a run that
straddles midnight still compares like with like). Human approval (Airflow 3.3): a thread answers the
approval as the API server would, through Airflow's own ``PATCH .../hitlDetails`` handler, while
``dag.test()`` keeps the run waiting in ``awaiting_input``. On 3.1/3.2 the approval defers to Airflow's HITL
trigger, which ``dag.test()`` cannot run in process (its supervisor does not answer the trigger's
``GetHITLDetailResponse``): there the test shows the request is made and nothing is paused meanwhile.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import AIRFLOW_V_3_1, AIRFLOW_V_3_3
from tests.helpers import (
    EXAMPLE_DAGS,
    assert_no_secret,
    install_dag,
    run_traces,
    run_xcoms,
    task_logs,
    task_states,
)

pytestmark = pytest.mark.integration
EXAMPLE = EXAMPLE_DAGS / "example_trafficstars_campaign_guard.py"
REPORT = "/v1.1/advertiser/custom/report/by-campaign"
PAUSE = "/v2/campaigns/pause"
CAMPAIGNS = 24
TASKS = ("todays_report", "find_over_limit", "needs_approval", "approve_pausing", "pause_over_limit")


@pytest.fixture
def guard(airflow_db: Path) -> Any:
    """The DAG, parsed afresh for each test: ``dag.test()`` runs the very task objects, and a run's conf stays
    in their params for the next run in the same process (a scheduler's worker parses the DAG anew)."""
    return install_dag(EXAMPLE)


@pytest.fixture
def emu(start_emulator: Callable[..., TrafficStarsEmulator], clean_variables: None) -> TrafficStarsEmulator:
    return start_emulator(campaigns=CAMPAIGNS)


def over_limit(rows: list[dict[str, Any]], max_cpa: float) -> list[int]:
    """The oracle: spend / leads above max_cpa, or no lead yet and spend alone above it."""
    return sorted(
        r["campaign_id"]
        for r in rows
        if (r["leads"] and r["amount"] / r["leads"] > max_cpa) or (not r["leads"] and r["amount"] > max_cpa)
    )


def paused(emu: TrafficStarsEmulator) -> set[int]:
    return {c["id"] for c in emu.campaigns.snapshot()["campaigns"] if c["status"] == "paused"}


def sent(emu: TrafficStarsEmulator) -> list[list[int]]:
    return [json.loads(r.body)["campaign_ids"] for r in emu.request_log() if (r.method, r.path) == ("PUT", PAUSE)]


def check_report_call(emu: TrafficStarsEmulator, xcoms: dict[tuple[str, int], Any]) -> tuple[str, list[Any]]:
    """Return the day and rows the run read, after checking it asked for exactly that one day."""
    report = xcoms[("todays_report", -1)]
    (query,) = [r.query for r in emu.request_log() if r.path == REPORT]
    assert parse_qsl(query) == [("date_from", report["day"]), ("date_to", report["day"])]
    assert sorted(r["campaign_id"] for r in report["rows"]) == list(range(1, CAMPAIGNS + 1))
    return report["day"], report["rows"]


def test_dry_run_by_default_without_a_logical_date(
    guard: Any, emu: TrafficStarsEmulator, api_key: str, capfd: pytest.CaptureFixture[str]
) -> None:
    import pendulum

    before = emu.campaigns.snapshot()
    started = pendulum.now("UTC")
    run = guard.test(logical_date=None) if AIRFLOW_V_3_1 else guard.test()
    states = task_states(run)
    assert states == {**dict.fromkeys(TASKS, "success"), "approve_pausing": "skipped"}, states
    xcoms = run_xcoms(run)
    day, rows = check_report_call(emu, xcoms)
    assert day in {started.date().isoformat(), pendulum.now("UTC").date().isoformat()}  # the run's own day

    expected = over_limit(rows, 20.0)
    assert expected and len(expected) < CAMPAIGNS  # not vacuous: some over, some under
    initially_paused = {c["id"] for c in before["campaigns"] if c["status"] == "paused"}
    assert xcoms[("pause_over_limit", -1)] == {
        "changed": [i for i in expected if i not in initially_paused],
        "failed": [],
        "unchanged": [i for i in expected if i in initially_paused],
        "uncertain": [],
    }
    assert emu.campaigns.snapshot() == before and sent(emu) == []  # the dry run changed nothing
    assert_no_secret(run_traces(capfd, run), api_key, *emu.issued_tokens)


def test_pauses_exactly_the_campaigns_over_the_limit_and_a_rerun_changes_nothing(
    guard: Any, emu: TrafficStarsEmulator
) -> None:
    initially_paused = paused(emu)
    conf = {"dry_run": False, "max_cpa": 10.0, "approval_threshold": CAMPAIGNS}
    run = guard.test(run_conf=conf)
    assert task_states(run)["pause_over_limit"] == "success"
    xcoms = run_xcoms(run)
    _, rows = check_report_call(emu, xcoms)
    expected = over_limit(rows, 10.0)
    assert paused(emu) == initially_paused | set(expected)
    changed = [i for i in expected if i not in initially_paused]
    assert xcoms[("pause_over_limit", -1)]["changed"] == changed and sent(emu) == [changed]

    # The rerun reads the same day's report (same numbers) and finds nothing to do.
    again = run_xcoms(guard.test(run_conf=conf))[("pause_over_limit", -1)]
    assert again == {"changed": [], "failed": [], "unchanged": expected, "uncertain": []}
    assert sent(emu) == [changed]


def test_the_dry_run_predicts_what_the_real_run_pauses_and_fails(guard: Any, emu: TrafficStarsEmulator) -> None:
    """Draft and unapproved campaigns cannot be paused: the dry run says so, and the real run meets exactly that."""
    refused = {cid: ("draft", "unapproved", "rejected")[cid % 3] for cid in range(1, CAMPAIGNS + 1) if cid % 4 == 1}
    for cid, status in refused.items():
        emu.campaigns.set_campaign(cid, status=status)
    initially_paused = paused(emu)
    conf = {"max_cpa": 10.0, "approval_threshold": CAMPAIGNS}
    dry = guard.test(run_conf={**conf, "dry_run": True})
    xcoms = run_xcoms(dry)
    expected = over_limit(check_report_call(emu, xcoms)[1], 10.0)
    predicted = xcoms[("pause_over_limit", -1)]
    assert predicted == {
        "changed": [i for i in expected if i not in initially_paused and i not in refused],
        "failed": [i for i in expected if i in refused],
        "unchanged": [i for i in expected if i in initially_paused],
        "uncertain": [],
    }
    assert predicted["failed"] and predicted["changed"]  # not vacuous: some of each
    assert sent(emu) == []

    guard.get_task("pause_over_limit").retries = 0  # its failure is the point: no 2-minute retry
    real = guard.test(run_conf={**conf, "dry_run": False})
    assert task_states(real)["pause_over_limit"] == "failed"  # TrafficStars refused some: the task says so
    assert sent(emu) == [sorted(predicted["changed"] + predicted["failed"])]  # the refused ones were asked too
    assert paused(emu) == initially_paused | set(predicted["changed"])  # paused: what the dry run said
    assert {cid: emu.campaigns.get(cid)["status"] for cid in predicted["failed"]} == {  # type: ignore[index]
        cid: refused[cid] for cid in predicted["failed"]
    }


# -- above approval_threshold ----------------------------------------------------------------------
class _Approver:
    """Answer the run's approval request once it waits, through Airflow's own HITL API handler."""

    def __init__(self, option: str) -> None:
        self.option, self.answered, self.error = option, threading.Event(), None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hitl-approver", daemon=True)

    def __enter__(self) -> _Approver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
        from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select

        class Reviewer:  # the user the API server would take from the request
            def get_id(self) -> str:
                return "reviewer"

            def get_name(self) -> str:
                return "Reviewer"

        for _ in range(240):  # at most about 2 minutes; dag.test() is waiting for us meanwhile
            if self._stop.wait(0.5):
                return
            try:
                with create_session() as session:
                    ti = session.scalars(
                        select(TaskInstance)
                        .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
                        .where(
                            TaskInstance.task_id == "approve_pausing",
                            TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                        )
                    ).first()
                    if ti is None:
                        continue
                    update_hitl_detail(
                        dag_id=ti.dag_id,
                        dag_run_id=ti.run_id,
                        task_id=ti.task_id,
                        update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[self.option]),
                        user=Reviewer(),  # type: ignore[arg-type]
                        session=session,
                    )
                self.answered.set()
                return
            except Exception as exc:  # SQLite busy with the run's own session: try again on the next tick
                self.error = exc


def clear_hitl() -> None:
    from airflow.models.hitl import HITLDetail
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(HITLDetail))


def hitl_subject() -> str:
    from airflow.models.hitl import HITLDetail
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        (detail,) = session.scalars(select(HITLDetail)).all()
        return str(detail.subject)


@pytest.mark.skipif(AIRFLOW_V_3_1, reason="Airflow 2.x / 3.0: no human-in-the-loop operators")
def test_above_the_threshold_without_hitl_pauses_with_a_log_line(
    guard: Any, emu: TrafficStarsEmulator, capfd: pytest.CaptureFixture[str]
) -> None:  # pragma: no cover - Airflow 2.x and 3.0 legs of the version matrix
    run = guard.test(run_conf={"dry_run": False, "approval_threshold": 0})
    assert task_states(run)["approve_pausing"] == "skipped"
    assert task_states(run)["pause_over_limit"] == "success" and sent(emu)
    out, err = capfd.readouterr()
    assert "human approval needs Airflow 3.1+" in out + err + task_logs()


@pytest.mark.skipif(AIRFLOW_V_3_3 or not AIRFLOW_V_3_1, reason="Airflow 3.1 and 3.2 only")
def test_above_the_threshold_an_approval_is_requested(
    guard: Any, emu: TrafficStarsEmulator
) -> None:  # pragma: no cover - Airflow 3.1 / 3.2 legs of the version matrix
    clear_hitl()
    run = guard.test(run_conf={"dry_run": False, "approval_threshold": 2})
    expected = over_limit(check_report_call(emu, run_xcoms(run))[1], 20.0)
    assert len(expected) > 2
    assert hitl_subject() == f"Pause {len(expected)} TrafficStars campaigns?"
    assert task_states(run)["pause_over_limit"] != "success" and sent(emu) == []


@pytest.mark.skipif(not AIRFLOW_V_3_3, reason="dag.test() answers human-in-the-loop requests from Airflow 3.3")
@pytest.mark.parametrize("option", ["Approve", "Reject"])
def test_above_the_threshold_a_human_decides(guard: Any, emu: TrafficStarsEmulator, option: str) -> None:
    clear_hitl()
    initially_paused = paused(emu)
    with _Approver(option) as approver:
        run = guard.test(run_conf={"dry_run": False, "approval_threshold": 2})
    assert approver.answered.is_set(), approver.error
    states = task_states(run)
    xcoms = run_xcoms(run)
    expected = over_limit(check_report_call(emu, xcoms)[1], 20.0)
    assert len(expected) > 2
    assert hitl_subject() == f"Pause {len(expected)} TrafficStars campaigns?"
    assert states["approve_pausing"] == "success"
    if option == "Approve":
        assert states["pause_over_limit"] == "success"
        assert paused(emu) == initially_paused | set(expected)
    else:
        assert states["pause_over_limit"] == "skipped"
        assert paused(emu) == initially_paused and sent(emu) == []
