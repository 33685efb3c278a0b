"""Apache Airflow provider for the TrafficStars advertising API.

Every public class is importable from here (``from airflow_provider_trafficstars import TrafficStarsHook``)
as well as from its own module. The names are resolved lazily, on first use: Airflow imports this package
(for ``get_provider_info``) while it starts, and that must not import Airflow's task SDK, requests or the
hook.
"""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it (the README's import paths).
_EXPORTS: dict[str, str] = {
    "TrafficStarsHook": "airflow_provider_trafficstars.hooks.trafficstars",
    "TrafficStarsApiOperator": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsLogoutOperator": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsRefreshTokenOperator": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsSessionInfoOperator": "airflow_provider_trafficstars.operators.trafficstars",
    "TrafficStarsResponseCheckError": "airflow_provider_trafficstars.exceptions",
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
    "AccessToken": "airflow_provider_trafficstars.client",
}

if TYPE_CHECKING:
    from airflow_provider_trafficstars.client import AccessToken
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
        TrafficStarsResponseCheckError,
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
        TrafficStarsSessionInfoOperator,
    )
    from airflow_provider_trafficstars.sensors.balance import TrafficStarsBalanceSensor
    from airflow_provider_trafficstars.sensors.trafficstars import TrafficStarsSessionSensor
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


#: Modules of 0.1 that moved in 0.2 (the layout of client/ under thin Airflow glue) -> where their public
#: names are now. ``import airflow_provider_trafficstars.token`` still works, with a DeprecationWarning.
_MOVED: dict[str, str] = {
    "token": "client.auth",
    "token_cache": "client.cache",
    "lease": "client.cache",
    "waits": "client.http",
    "reports": "client.reports",
    "report_files": "client.reports",
    "report_storage": "client.reports",
    "coverage": "client.reports",
    "campaigns": "client.campaigns",
    "testing.airflow_home": "testing",
    "testing.emulator_state": "testing",
}


class _MovedModules(MetaPathFinder, Loader):
    """Import a moved module's old path as its new package (one finder, one table: :data:`_MOVED`)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        old = fullname.removeprefix(__name__ + ".")
        return ModuleSpec(fullname, self) if fullname != old and old in _MOVED else None

    def create_module(self, spec: ModuleSpec) -> None:
        """A placeholder module (import machinery's default), replaced in :meth:`exec_module`."""

    def exec_module(self, module: ModuleType) -> None:
        """Put the new package in sys.modules under the old name (the import returns what is there)."""
        new = f"{__name__}.{_MOVED[module.__name__.removeprefix(__name__ + '.')]}"
        warnings.warn(f"{module.__name__} moved: import from {new}.", DeprecationWarning, stacklevel=2)
        sys.modules[module.__name__] = import_module(new)


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def __getattr__(name: str) -> Any:
    """Import a public class from its module the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:  # a submodule or a typo
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
