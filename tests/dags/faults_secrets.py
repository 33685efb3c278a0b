"""The hook in a real DAG run, for the no-leak proofs of tests/hooks/test_secrets.py.

``use_hook`` does what a task does (token, session info, API calls, a 401 recovery) and logs the objects a
careless author would log; ``templated`` renders the token cache Variable itself into a template field;
``fails`` ends in an API error whose answer echoes the token (the emulator's echo switch is on).
"""

from __future__ import annotations

import logging

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_trafficstars.hooks.trafficstars import default_token_variable

log = logging.getLogger("faults_secrets")


def _redact(value: str) -> object:
    from airflow.providers.common.compat.sdk import redact

    return redact(value)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"resource": "campaigns"},
    tags=["test"],
)
def faults_secrets() -> None:
    @task
    def use_hook() -> dict[str, object]:
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        # The most verbose transport logging there is: request lines of urllib3 must still hold no secret.
        for name in ("urllib3", "requests", "airflow_provider_trafficstars"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        hook = TrafficStarsHook()
        token = hook.get_token()
        info = hook.get_session_info()
        campaigns = hook.request("GET", "/v1.1/campaigns", params={"status": ["enabled", "paused"]}).json()
        log.info("hook=%s client=%r token=%s cache=%r", hook, hook.get_conn(), token, hook.get_conn().cache)
        log.info("config=%r", hook.get_conn().config)
        return {
            "campaigns": len(campaigns["response"]),
            "expires_in": info["expires_in"],
            "token_type": token.token_type,
            # Registered with the masker the moment they were obtained:
            "token_masked": _redact(token.access_token) == "***",
            "key_masked": _redact(hook.get_conn().config.api_key) == "***",
        }

    @task
    def templated(endpoint: str, cached: str) -> int:
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        return len(TrafficStarsHook().request("GET", endpoint).json()["response"])

    @task
    def fails() -> None:
        from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

        TrafficStarsHook().request("GET", "/v1.1/no-such-resource")  # 404 that echoes the token

    first = use_hook()
    second = templated(
        endpoint="/v1.1/{{ params.resource }}",
        cached="{{ var.value." + default_token_variable("trafficstars_default") + " }}",
    )
    first >> second >> fails()


faults_secrets()
