"""
### TrafficStars: set a campaign's bid once the account has money

A change of bid or daily budget that waits for the balance first: raising a bid on an account that has run
dry buys nothing.

1. **wait_for_balance** (`TrafficStarsBalanceSensor`, deferrable): waits in the triggerer until the
   account's balance (`GET /v2/userinfo/balance`) reaches the DAG param `min_balance`. 429, 5xx and
   network trouble mean "poll again later"; a rejected API key fails at once.
2. **set_bid** (`TrafficStarsCampaignUpdateOperator`): sets the campaign's bid (`price`) and daily budget
   (`max_daily`) with one `PATCH /v1.1/campaigns/{id}`. The guard `max_change=0.5` refuses a value more
   than 50 % away from the current one (a typo of 9.0 for 0.9), naming both, and sends nothing. Its XCom:
   `before`, `after` and `changed`.

Params: `campaign_id` (default 1), `price` (default 0.6), `max_daily` (default 150), `min_balance`
(default 100) and `dry_run` (default **true**: it reads, checks and logs what it would change, and changes
nothing; trigger with `{"dry_run": false}` to act).

Connection `trafficstars_default` (type *TrafficStars*): the API key goes in the password field.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_trafficstars.operators.campaigns import TrafficStarsCampaignUpdateOperator
from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor

with DAG(
    dag_id="example_trafficstars_bids",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    params={
        "campaign_id": Param(1, type="integer", minimum=1, description="The campaign to change."),
        "price": Param(0.6, type="number", exclusiveMinimum=0, description="The new bid."),
        "max_daily": Param(150, type="number", exclusiveMinimum=0, description="The new daily budget."),
        "min_balance": Param(100, type="number", minimum=0, description="Wait until the balance reaches this."),
        "dry_run": Param(True, type="boolean", description="Only log what would change."),
    },
    tags=["example", "trafficstars"],
):
    # [START howto_sensor_trafficstars_balance]
    wait_for_balance = TrafficStarsBalanceSensor(
        task_id="wait_for_balance",
        min_balance="{{ params.min_balance }}",
        poke_interval=300,
        timeout=6 * 3600,
        deferrable=True,
    )
    # [END howto_sensor_trafficstars_balance]
    # [START howto_operator_trafficstars_campaign_update]
    set_bid = TrafficStarsCampaignUpdateOperator(
        task_id="set_bid",
        campaign_id="{{ params.campaign_id }}",
        price="{{ params.price }}",
        max_daily="{{ params.max_daily }}",
        max_change=0.5,
        dry_run="{{ params.dry_run }}",
    )
    # [END howto_operator_trafficstars_campaign_update]

    wait_for_balance >> set_bid
