"""
### TrafficStars: the session flow, step by step

The documented way to use the TrafficStars provider. No task ever handles a token: the hook behind
every operator takes the connection's API key, keeps **one** access token per connection in the Airflow
Variable `trafficstars_access_token_<conn_id>`, shares it between all tasks and workers, and renews it
shortly before it expires.

1. **refresh_token** (`TrafficStarsRefreshTokenOperator`): makes sure the shared token stays valid for
   at least an hour, renewing it only if needed. Put it first: every task below reuses that token.
   Its XCom is `{"expires_at": "<ISO 8601 UTC>"}`.
2. **wait_for_session** (`TrafficStarsSessionSensor`, deferrable): waits until TrafficStars accepts the
   credentials, in the triggerer (`deferrable=True`, the mode to use in production: no worker slot is
   held while it waits; run `airflow triggerer`). Rate limiting (429), server errors (5xx) and network
   trouble mean "try again later"; a rejected API key fails at once.
3. **session_info** (`TrafficStarsSessionInfoOperator`): reads the session info. Its XCom holds
   `expires_in`, `expires_at` and `token_type` only, never a token.
4. **count_campaigns** (`TrafficStarsApiOperator`): an authenticated `GET /v1.1/campaigns`; the
   `response_filter` keeps only the number of campaigns, so no payload lands in the XCom table.
5. **logout** (`TrafficStarsLogoutOperator`): ends the session and clears the cached token. Other DAGs
   on the same connection then take a new token; leave this step out where they run often.

Connection `trafficstars_default` (type *TrafficStars*): the API key goes in the password field. The
tasks run in the pool `$TRAFFICSTARS_POOL` (default `default_pool`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_trafficstars.operators.trafficstars import (
    TrafficStarsApiOperator,
    TrafficStarsLogoutOperator,
    TrafficStarsRefreshTokenOperator,
    TrafficStarsSessionInfoOperator,
)
from airflow_provider_trafficstars.sensors.trafficstars import TrafficStarsSessionSensor

if TYPE_CHECKING:
    import requests

#: The pool of the tasks: $TRAFFICSTARS_POOL (a pool cannot be a DAG param: the scheduler gives a task its
#: pool before any param is read).
POOL = os.environ.get("TRAFFICSTARS_POOL") or "default_pool"


# [START howto_operator_trafficstars_api]
def count_campaigns(response: requests.Response) -> int:
    """Return the number of campaigns in a ``GET /v1.1/campaigns`` answer (a wrapped or a bare list)."""
    payload = response.json()
    campaigns = payload.get("response", []) if isinstance(payload, dict) else payload
    return len(campaigns)


# [END howto_operator_trafficstars_api]


with DAG(
    dag_id="example_trafficstars_session",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    default_args={"pool": POOL},
    tags=["example", "trafficstars"],
):
    # [START howto_operator_trafficstars_refresh_token]
    refresh_token = TrafficStarsRefreshTokenOperator(
        task_id="refresh_token",
        min_ttl=3600,
        doc_md="Renew the shared token if it has less than an hour left; downstream tasks reuse it.",
    )
    # [END howto_operator_trafficstars_refresh_token]
    # [START howto_sensor_trafficstars_session]
    wait_for_session = TrafficStarsSessionSensor(
        task_id="wait_for_session",
        min_ttl=3600,
        poke_interval=60,
        timeout=1800,
        deferrable=True,
        doc_md="Wait in the triggerer until TrafficStars accepts the credentials (429/5xx: poll again; bad key: fail).",
    )
    # [END howto_sensor_trafficstars_session]
    # [START howto_operator_trafficstars_session_info]
    session_info = TrafficStarsSessionInfoOperator(
        task_id="session_info",
        doc_md="Read the session info; the XCom holds expires_in, expires_at and token_type only.",
    )
    # [END howto_operator_trafficstars_session_info]
    # [START howto_operator_trafficstars_api_task]
    campaigns = TrafficStarsApiOperator(
        task_id="count_campaigns",
        endpoint="/v1.1/campaigns",
        response_filter=count_campaigns,
        doc_md="An authenticated API call; only the number of campaigns goes to XCom.",
    )
    # [END howto_operator_trafficstars_api_task]
    # [START howto_operator_trafficstars_logout]
    logout = TrafficStarsLogoutOperator(
        task_id="logout",
        doc_md="End the session and clear the cached token (every later task takes a new one).",
    )
    # [END howto_operator_trafficstars_logout]

    refresh_token >> wait_for_session >> session_info >> campaigns >> logout
