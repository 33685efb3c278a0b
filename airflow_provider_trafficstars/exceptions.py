"""The provider's errors as Airflow sees them: the client's error tree, rooted under ``AirflowException``.

The classes are those of :mod:`airflow_provider_trafficstars.client.errors` (one tree, not a copy):
importing this module makes :class:`TrafficStarsError` an ``AirflowException`` subclass, so a task's
``except AirflowException`` catches them and Airflow treats them as its own. Every hook, operator, sensor
and trigger of the provider imports this module.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_trafficstars.client.errors import (
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
    root_under,
)
from airflow_provider_trafficstars.client.http._retry import is_transient

root_under(AirflowException)

__all__ = [
    "TrafficStarsApiError",
    "TrafficStarsAuthError",
    "TrafficStarsBudgetError",
    "TrafficStarsConfigError",
    "TrafficStarsCoverageError",
    "TrafficStarsDataError",
    "TrafficStarsDestinationError",
    "TrafficStarsError",
    "TrafficStarsGuardError",
    "TrafficStarsPartialFailureError",
    "TrafficStarsRedirectError",
    "TrafficStarsResponseCheckError",
    "TrafficStarsTransportError",
    "is_transient",
]
