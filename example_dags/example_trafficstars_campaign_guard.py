"""
### TrafficStars: pause the campaigns whose cost per lead runs over a limit

An hourly guard rail on spend. Every hour it reads today's by-campaign report, computes each campaign's
cost per lead (CPA) and pauses those above the DAG param `max_cpa`. It is safe to run again at any
time: a campaign already paused is left alone and reported as `unchanged`.

1. **todays_report**: `advertiser/by-campaign` for the day of the run (in the connection's
   `report_timezone`, UTC by default), through `TrafficStarsHook.get_report`.
2. **find_over_limit**: spend / leads per campaign; a campaign without a lead yet counts as over the
   limit once its spend alone exceeds `max_cpa` (even a lead now could not bring it under). Its XCom:
   `ids` (the campaigns to pause) and `campaigns` (their cost, leads and CPA).
3. **needs_approval**: pausing more than `approval_threshold` campaigns at once (not in a dry run)
   asks a human first, on Airflow 3.1+ (Airflow's human-in-the-loop `ApprovalOperator`:
   *Required actions* in the UI). On older Airflow there is no such step: it is skipped with a log line.
4. **approve_pausing**: the approval. "Reject", or no answer within 50 minutes, pauses nothing.
5. **pause_over_limit** (`TrafficStarsCampaignStateOperator`): `PUT /v2/campaigns/pause` in batches. A
   campaign TrafficStars could not pause (an unknown id; a rejected, draft or unapproved campaign) fails
   the task, naming it and its status.

Params: `max_cpa` (default 20), `dry_run` (default **true**: it reads, computes and logs what it would
pause, and changes nothing; trigger with `{"dry_run": false}` to act), `approval_threshold` (default 5).
A dry run's XCom predicts the real run: `changed` (would be paused), `failed` (TrafficStars would refuse
them: the real run fails naming them), `unchanged` (paused already) and `uncertain` (a status this
provider does not know: only a real run can tell).

Connection `trafficstars_default` (type *TrafficStars*): the API key goes in the password field. The
tasks run in the pool `$TRAFFICSTARS_POOL` (default `default_pool`).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import Param, dag, task

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.empty import EmptyOperator  # type: ignore[no-redef,unused-ignore]

try:  # human-in-the-loop operators: the standard provider on Airflow 3.1+
    from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
except Exception:  # ImportError, or "Human in the loop functionality needs Airflow 3.1+."
    ApprovalOperator = HITLOperator = None

from airflow_provider_trafficstars.client.campaigns import parse_amount, parse_campaign_id
from airflow_provider_trafficstars.client.reports import report_timezone
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.operators.campaigns import TrafficStarsCampaignStateOperator

REPORT = "advertiser/by-campaign"
#: The pool of the tasks (a pool cannot be a DAG param: the scheduler gives a task its pool before params are read).
POOL = os.environ.get("TRAFFICSTARS_POOL") or "default_pool"
APPROVAL_WAIT = timedelta(minutes=50)  # then "Reject": a run ends before the next hourly one starts
log = logging.getLogger(__name__)


# -- cost per lead: the guard's own rule ----------------------------------------------------------
def _number(value: Any) -> float | None:
    try:
        return float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _field(row: Mapping[str, Any], names: Iterable[str]) -> float:
    return next((n for n in (_number(row.get(name)) for name in names) if n is not None), 0.0)


def campaigns_over_cpa(rows: Iterable[Mapping[str, Any]], max_cpa: float) -> list[dict[str, Any]]:
    """Return the campaigns whose cost per lead exceeds ``max_cpa``, in campaign id order.

    Rows of one campaign are added up (spend: ``amount``, else ``cost``; leads: ``leads``, else
    ``conversions``). A campaign with leads is over the limit when spend / leads > ``max_cpa``; one with
    spend but no lead yet when its spend alone exceeds ``max_cpa`` (even a lead now could not bring its cost
    per lead under the limit). Each entry: ``{"campaign_id", "cost", "leads", "cpa"}`` (``cpa`` None
    without leads).
    """
    limit = parse_amount(max_cpa, "max_cpa")
    totals: dict[int, list[float]] = {}
    for row in rows:
        cid = row.get("campaign_id", row.get("id"))
        entry = totals.setdefault(parse_campaign_id(cid, "a report row's campaign_id"), [0.0, 0.0])
        entry[0] += _field(row, ("amount", "cost"))
        entry[1] += _field(row, ("leads", "conversions"))
    over = []
    for cid, (cost, leads) in sorted(totals.items()):
        cpa = cost / leads if leads else None
        if (cpa if cpa is not None else cost) > limit:
            over.append({"campaign_id": cid, "cost": round(cost, 2), "leads": leads, "cpa": cpa and round(cpa, 2)})
    return over


def run_day(context: dict[str, Any], zone: str) -> str:
    """Return the day a run looks at: the day of its run time in ``zone`` (a manual run may have no date)."""
    dag_run = context.get("dag_run")
    moment: datetime | None = context.get("data_interval_end") or getattr(dag_run, "run_after", None)
    when = pendulum.instance(moment) if moment is not None else pendulum.now("UTC")
    return when.astimezone(report_timezone(zone)).date().isoformat()


def approval_wait() -> dict[str, timedelta]:
    """Return the approval's time limit argument: ``response_timeout`` in newer standard providers (on Airflow
    3.3 an ``execution_timeout`` is moved there with a deprecation warning), ``execution_timeout`` before."""
    newer = "response_timeout" in inspect.signature(HITLOperator.__init__).parameters
    return {"response_timeout" if newer else "execution_timeout": APPROVAL_WAIT}


@dag(
    dag_id="example_trafficstars_campaign_guard",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    params={
        "max_cpa": Param(20.0, type="number", exclusiveMinimum=0, description="Pause above this cost per lead."),
        "dry_run": Param(True, type="boolean", description="Only log what would be paused."),
        "approval_threshold": Param(
            5, type="integer", minimum=0, description="Ask a human before pausing more campaigns than this."
        ),
    },
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2), "pool": POOL},
    tags=["example", "trafficstars"],
)
def example_trafficstars_campaign_guard() -> None:
    @task
    def todays_report(**context: Any) -> dict[str, Any]:
        """Return ``{"day", "rows"}``: today's spend and leads of each campaign."""
        hook = TrafficStarsHook()
        day = run_day(context, hook.get_conn().config.report_timezone)
        rows = hook.get_report(REPORT, date_from=day, date_to=day)
        keep = ("campaign_id", "amount", "leads")
        return {"day": day, "rows": [{k: row.get(k) for k in keep} for row in rows]}

    @task(multiple_outputs=True)
    def find_over_limit(report: dict[str, Any], **context: Any) -> dict[str, Any]:
        over = campaigns_over_cpa(report["rows"], context["params"]["max_cpa"])
        log.info("%s: %d campaigns over a CPA of %s: %s", report["day"], len(over), context["params"]["max_cpa"], over)
        return {"ids": [c["campaign_id"] for c in over], "campaigns": over}

    @task.branch
    def needs_approval(ids: list[int], **context: Any) -> str:
        params = context["params"]
        if params["dry_run"] or len(ids) <= params["approval_threshold"]:
            return "pause_over_limit"
        if ApprovalOperator is None:
            log.info(
                "Pausing %d campaigns, more than approval_threshold=%s: human approval needs Airflow 3.1+, so "
                "that step is skipped on this Airflow.",
                len(ids),
                params["approval_threshold"],
            )
            return "pause_over_limit"
        return "approve_pausing"

    over = find_over_limit(todays_report())
    if ApprovalOperator is not None:
        approve = ApprovalOperator(
            task_id="approve_pausing",
            subject="Pause {{ ti.xcom_pull(task_ids='find_over_limit', key='ids') | length }} TrafficStars campaigns?",
            body="Cost per lead above {{ params.max_cpa }} today:\n\n"
            "{% for c in ti.xcom_pull(task_ids='find_over_limit', key='campaigns') %}"
            "- campaign {{ c.campaign_id }}: spent {{ c.cost }}, {{ c.leads | int }} leads\n{% endfor %}",
            defaults="Reject",  # no answer in time: pause nothing
            **approval_wait(),
        )
    else:  # a placeholder the branch always skips
        approve = EmptyOperator(task_id="approve_pausing")
    # [START howto_operator_trafficstars_campaign_state]
    pause = TrafficStarsCampaignStateOperator(
        task_id="pause_over_limit",
        campaign_ids=over["ids"],
        state="pause",
        dry_run="{{ params.dry_run }}",
        trigger_rule="none_failed_min_one_success",  # after the approval, or straight from the branch
    )
    # [END howto_operator_trafficstars_campaign_state]
    needs_approval(over["ids"]) >> [approve, pause]
    approve >> pause


example_trafficstars_campaign_guard()
