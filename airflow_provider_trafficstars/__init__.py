"""Apache Airflow provider for the TrafficStars advertising API.

Every public class is importable from here (``from airflow_provider_trafficstars import TrafficStarsHook``)
as well as from its own module. The names are resolved lazily, on first use: Airflow imports this package
(for ``get_provider_info``) while it starts, and that must not import Airflow's task SDK, requests or the
hook.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it (the README's import paths).
_EXPORTS: dict[str, str] = {
    "TrafficStarsHook": "airflow_provider_trafficstars.hooks.trafficstars",
    "TrafficStarsApiOperator": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsLogoutOperator": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsRefreshTokenOperator": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsSessionInfoOperator": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsResponseCheckError": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsCampaignStateOperator": "airflow_provider_trafficstars.operators.campaigns",
    "TrafficStarsCampaignUpdateOperator": "airflow_provider_trafficstars.operators.campaigns",
    "TrafficStarsSessionSensor": "airflow_provider_trafficstars.sensors.trafficstars",
    "TrafficStarsSessionTrigger": "airflow_provider_trafficstars.triggers.trafficstars",
    "TrafficStarsBalanceSensor": "airflow_provider_trafficstars.sensors.balance",
    "TrafficStarsBalanceTrigger": "airflow_provider_trafficstars.triggers.balance",
    "TrafficStarsReportToStorageOperator": "airflow_provider_trafficstars.transfers.report_to_storage",
    "TrafficStarsError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsConfigError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsDestinationError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsCoverageError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsAuthError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsBudgetError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsApiError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsRedirectError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsDataError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsTransportError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsPartialFailureError": "airflow_provider_trafficstars.exceptions",
    "TrafficStarsGuardError": "airflow_provider_trafficstars.exceptions",
    "AccessToken": "airflow_provider_trafficstars.token",
}

if TYPE_CHECKING:
    from airflow_provider_trafficstars.exceptions import (
        TrafficStarsApiError,
        TrafficStarsAuthError,
        TrafficStarsBudgetError,
        TrafficStarsConfigError,
        TrafficStarsCoverageError,
        TrafficStarsDataError,
        TrafficStarsDestinationError,
        TrafficStarsError,
        TrafficStarsGuardError,
        TrafficStarsPartialFailureError,
        TrafficStarsRedirectError,
        TrafficStarsTransportError,
    )
    from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
    from airflow_provider_trafficstars.operators.campaigns import (
        TrafficStarsCampaignStateOperator,
        TrafficStarsCampaignUpdateOperator,
    )
    from airflow_provider_trafficstars.operators.trafficstars import (
        TrafficStarsApiOperator,
        TrafficStarsLogoutOperator,
        TrafficStarsRefreshTokenOperator,
        TrafficStarsResponseCheckError,
        TrafficStarsSessionInfoOperator,
    )
    from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor
    from airflow_provider_trafficstars.sensors.trafficstars import TrafficStarsSessionSensor
    from airflow_provider_trafficstars.token import AccessToken
    from airflow_provider_trafficstars.transfers.report_to_storage import TrafficStarsReportToStorageOperator
    from airflow_provider_trafficstars.triggers.balance import TrafficStarsBalanceTrigger
    from airflow_provider_trafficstars.triggers.trafficstars import TrafficStarsSessionTrigger

__all__ = [
    "AccessToken",
    "TrafficStarsApiError",
    "TrafficStarsApiOperator",
    "TrafficStarsAuthError",
    "TrafficStarsBalanceSensor",
    "TrafficStarsBalanceTrigger",
    "TrafficStarsBudgetError",
    "TrafficStarsCampaignStateOperator",
    "TrafficStarsCampaignUpdateOperator",
    "TrafficStarsConfigError",
    "TrafficStarsCoverageError",
    "TrafficStarsDataError",
    "TrafficStarsDestinationError",
    "TrafficStarsError",
    "TrafficStarsGuardError",
    "TrafficStarsHook",
    "TrafficStarsLogoutOperator",
    "TrafficStarsPartialFailureError",
    "TrafficStarsRedirectError",
    "TrafficStarsRefreshTokenOperator",
    "TrafficStarsReportToStorageOperator",
    "TrafficStarsResponseCheckError",
    "TrafficStarsSessionInfoOperator",
    "TrafficStarsSessionSensor",
    "TrafficStarsSessionTrigger",
    "TrafficStarsTransportError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import a public class from its module the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:  # a submodule (``from airflow_provider_trafficstars import _compat``) or a typo
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
