"""The TrafficStars client: HTTP, the token, the shared caches, reports and campaigns. No Airflow import.

Everything below this package runs without Airflow (a test imports it with Airflow blocked); the Airflow
glue (``hooks``, ``operators``, ``sensors``, ``triggers``, ``transfers``) gives it a connection's config,
Variables as its shared store, and Airflow's secrets masker. Public names resolve lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "TrafficStarsClient": "airflow_provider_trafficstars.client._client",
    "ClientConfig": "airflow_provider_trafficstars.client._config",
    "AccessToken": "airflow_provider_trafficstars.client.auth",
    "fingerprint": "airflow_provider_trafficstars.client.auth",
}

if TYPE_CHECKING:
    from airflow_provider_trafficstars.client._client import TrafficStarsClient
    from airflow_provider_trafficstars.client._config import ClientConfig
    from airflow_provider_trafficstars.client.auth import AccessToken, fingerprint

__all__ = ["AccessToken", "ClientConfig", "TrafficStarsClient", "fingerprint"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
