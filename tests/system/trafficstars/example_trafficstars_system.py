"""
### TrafficStars system test: the provider against your account, read-only

Run it before trusting the provider with an account: `TRAFFICSTARS_API_KEY=<key> make system-test` (and
`TRAFFICSTARS_BASE_URL` for another host than `https://api.trafficstars.com`); without a key it runs
against the bundled emulator (as `make test` does). Nothing on the account changes: every call reads,
and the two campaign changes are dry runs (`dry_run=True`, fixed here, never a param).

- **setup**: `refresh_token` exchanges the API key for a token (`TrafficStarsRefreshTokenOperator`).
- **body**: the token again from the cache (`get_token`), the connection test, the
  session info (operator) and the session sensor (deferrable: the trigger's path), one authenticated call
  (`TrafficStarsApiOperator`), yesterday's `advertiser/by-campaign` report (`get_report`), the campaigns
  (`get_campaigns`, `get_campaign`), the balance (`get_balance` and the balance sensor), then a dry-run
  pause and a dry-run bid change of the first campaign (skipped when the account has none, or it has no
  bid).
- **teardown**: `logout` ends the test's session (`trigger_rule=ALL_DONE`: also after a failure).
- **watcher**: fails the run when any task failed (the teardown alone would make it look green).

The connection is `trafficstars_system_test`; `tests/system/system_tests.py` defines it from the
environment. XComs hold counts and ids, never a token.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, AirflowSkipException, TriggerRule, chain, task

from airflow_provider_trafficstars.client.reports._catalogue import report_timezone
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.operators.campaigns import (
    TrafficStarsCampaignStateOperator,
    TrafficStarsCampaignUpdateOperator,
)
from airflow_provider_trafficstars.operators.trafficstars import (
    TrafficStarsApiOperator,
    TrafficStarsLogoutOperator,
    TrafficStarsRefreshTokenOperator,
    TrafficStarsSessionInfoOperator,
)
from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor
from airflow_provider_trafficstars.sensors.trafficstars import TrafficStarsSessionSensor

DAG_ID = "example_trafficstars_system"
CONN_ID = "trafficstars_system_test"
REPORT = "advertiser/by-campaign"
PICKED = "{{ ti.xcom_pull(task_ids='read_campaigns')"


def _hook() -> TrafficStarsHook:
    return TrafficStarsHook(CONN_ID)


with DAG(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    default_args={"retries": 0, "trafficstars_conn_id": CONN_ID},
    tags=["example", "trafficstars", "system"],
) as dag:
    # TEST SETUP
    refresh_token = TrafficStarsRefreshTokenOperator(task_id="refresh_token", min_ttl=600)

    # TEST BODY
    @task
    def read_token() -> dict[str, Any]:
        """The token from memory or the shared cache: no second token request; only its expiry goes to XCom."""
        hook = _hook()
        if not hook.get_token().access_token:
            raise AssertionError("get_token returned no access token")
        token = hook.get_token(min_ttl=60)
        return {"expires_at": token.expires_at.isoformat()}

    @task
    def check_connection() -> str:
        ok, message = _hook().test_connection()
        if not ok:
            raise AssertionError(f"the connection test failed: {message}")
        return message

    session_info = TrafficStarsSessionInfoOperator(task_id="session_info")
    wait_for_session = TrafficStarsSessionSensor(
        task_id="wait_for_session", min_ttl=60, deferrable=True, poke_interval=5, timeout=120
    )
    count_campaigns = TrafficStarsApiOperator(
        task_id="count_campaigns", endpoint="/v1.1/campaigns", response_filter=lambda r: len(r.json()["response"])
    )

    @task
    def read_report_yesterday() -> dict[str, Any]:
        """Yesterday, in the connection's report zone: the last complete day."""
        hook = _hook()
        zone = report_timezone(hook.get_conn().config.report_timezone, CONN_ID)
        day = pendulum.now(zone).subtract(days=1).date().isoformat()
        rows = hook.get_report(REPORT, date_from=day, date_to=day)
        return {"day": day, "rows": len(rows)}

    @task
    def read_campaigns() -> dict[str, Any]:
        """List the campaigns, read the first one again by id and pick it for the dry runs (if it has a bid)."""
        hook = _hook()
        listed = hook.get_campaigns()
        if not listed:
            raise AirflowSkipException("The account has no campaign: no dry run to make.")
        campaign = hook.get_campaign(int(listed[0]["id"]))
        price = campaign.get("price")
        if not isinstance(price, (int, float)) or price <= 0:
            raise AirflowSkipException(f"Campaign {campaign['id']} has no bid ({price!r}): no dry run to make.")
        return {"count": len(listed), "id": int(campaign["id"]), "status": campaign["status"], "price": price,
                "new_price": round(price * 1.1, 4)}  # fmt: skip

    @task
    def read_balance() -> float:
        return _hook().get_balance()

    balance_sensor = TrafficStarsBalanceSensor(task_id="balance_sensor", min_balance=0, poke_interval=5, timeout=120)
    campaigns = read_campaigns()
    # Dry runs: read, decide, log, send nothing (fixed to True: a system test never changes an account).
    dry_run_pause = TrafficStarsCampaignStateOperator(
        task_id="dry_run_pause",
        campaign_ids=PICKED + "['id'] }}",
        state="pause",
        dry_run=True,
        fail_on_partial=False,
    )
    dry_run_rebid = TrafficStarsCampaignUpdateOperator(
        task_id="dry_run_rebid",
        campaign_id=PICKED + "['id'] }}",
        price=PICKED + "['new_price'] }}",
        max_change=0.5,
        dry_run=True,
    )
    campaigns >> [dry_run_pause, dry_run_rebid]

    # TEST TEARDOWN
    logout = TrafficStarsLogoutOperator(task_id="logout", trigger_rule=TriggerRule.ALL_DONE)

    chain(
        refresh_token,
        [
            read_token(),
            check_connection(),
            session_info,
            wait_for_session,
            count_campaigns,
            read_report_yesterday(),
            read_balance(),
            balance_sensor,
            campaigns,
        ],
        logout,
    )
    [dry_run_pause, dry_run_rebid] >> logout

    from tests.system.watcher import watcher

    # The teardown succeeds after a failure too: the watcher is the leaf that fails the run then.
    list(dag.tasks) >> watcher()


from tests.system.system_tests import get_test_run  # noqa: E402

# Run with pytest (make system-test, make test): see tests/system/system_tests.py.
test_run = get_test_run(dag)
