"""Campaign operators and the balance sensor (integration test DAG): each test runs the tasks it needs.

``ids`` is the upstream task whose XCom list the state operators take, through an ``XComArg`` or a template.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_trafficstars.operators.campaigns import (
    TrafficStarsCampaignStateOperator,
    TrafficStarsCampaignUpdateOperator,
)
from airflow_provider_trafficstars.operators.trafficstars import TrafficStarsApiOperator
from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor

FAST = {"poke_interval": 0.2, "timeout": 30}

with DAG(
    "ts_campaigns",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"dry_run": True, "price": 0.6},
    tags=["test"],
):

    @task
    def ids() -> list[int]:
        return [1, 2, 3, 4]

    campaign_ids = ids()
    TrafficStarsCampaignStateOperator(task_id="pause", campaign_ids=campaign_ids, state="pause")
    TrafficStarsCampaignStateOperator(
        task_id="pause_lenient", campaign_ids=campaign_ids, state="pause", fail_on_partial=False
    )
    # What a Jinja template renders from an XCom list is text ("[1, 2, 3, 4]"): the operator reads it back.
    pause_template = TrafficStarsCampaignStateOperator(
        task_id="pause_template", campaign_ids="{{ ti.xcom_pull(task_ids='ids') }}", state="pause"
    )
    campaign_ids >> pause_template
    TrafficStarsCampaignStateOperator(
        task_id="pause_dry", campaign_ids=campaign_ids, state="pause", dry_run="{{ params.dry_run }}"
    )
    TrafficStarsCampaignStateOperator(task_id="run_batches", campaign_ids=[1, 2, 3, 4, 5, 6], state="run", batch_size=4)
    # The same request as a dry run and for real: what the first says, the second must do.
    TrafficStarsCampaignStateOperator(task_id="run_dry", campaign_ids=campaign_ids, state="run", dry_run=True)
    TrafficStarsCampaignStateOperator(
        task_id="run_lenient", campaign_ids=campaign_ids, state="run", fail_on_partial=False
    )

    TrafficStarsCampaignUpdateOperator(
        task_id="update", campaign_id=1, price="{{ params.price }}", max_daily=150, max_change=0.5
    )
    TrafficStarsCampaignUpdateOperator(task_id="update_typo", campaign_id=1, price=9.0, max_change=0.5)
    TrafficStarsCampaignUpdateOperator(task_id="update_dry", campaign_id=1, price=0.6, max_daily=150, dry_run=True)
    TrafficStarsApiOperator(task_id="create", method="POST", endpoint="/v1.1/campaigns", json={"name": "new"})

    TrafficStarsBalanceSensor(task_id="balance_poke", min_balance=500, mode="poke", **FAST)
    TrafficStarsBalanceSensor(task_id="balance_reschedule", min_balance="{{ 250 * 2 }}", mode="reschedule", **FAST)
    TrafficStarsBalanceSensor(task_id="balance_deferrable", min_balance=500, deferrable=True, **FAST)
