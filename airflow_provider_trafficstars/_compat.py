"""The one place that knows how Airflow versions differ (import paths, Variable API, task context)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

if TYPE_CHECKING:
    from airflow_provider_trafficstars.token_cache import VariableStore

AIRFLOW_V_3 = Version(Version(AIRFLOW_VERSION).base_version) >= Version("3.0")

log = logging.getLogger(__name__)

if AIRFLOW_V_3:
    from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator, PokeReturnValue
    from airflow.sdk.log import mask_secret as _mask_secret
else:  # pragma: no cover - exercised by the Airflow 2 leg of the version matrix
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined,unused-ignore]
    from airflow.models import BaseOperator  # type: ignore[no-redef,assignment,unused-ignore]
    from airflow.sensors.base import (  # type: ignore[no-redef,assignment,unused-ignore]
        BaseSensorOperator,
        PokeReturnValue,
    )
    from airflow.utils.log.secrets_masker import (  # type: ignore[no-redef,unused-ignore]
        mask_secret as _mask_secret,
    )


def mask_secret(value: str) -> None:
    """Register a secret with Airflow's masker so that no log line shows it."""
    try:
        _mask_secret(value)
    except Exception:  # the masker must never fail a task; the value is still never logged by us
        log.debug("Could not register a value with the secrets masker.", exc_info=True)


def in_task_context() -> bool:
    """Return True inside a task run by a Task SDK supervisor (a worker, ``dag.test()``, a triggerer)."""
    if not AIRFLOW_V_3:
        return False
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


class _SdkVariableStore:
    """Variables through the Task SDK (inside a task on Airflow 3)."""

    def get(self, key: str) -> str | None:
        from airflow.sdk import Variable

        value: Any = Variable.get(key, default=None)
        return value

    def set(self, key: str, value: str) -> None:
        from airflow.sdk import Variable

        Variable.set(key, value)

    def delete(self, key: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(key)


class _MetadataVariableStore:
    """Variables straight from the metadata DB (Airflow 2, or Airflow 3 outside a task)."""

    def get(self, key: str) -> str | None:
        from airflow.models import Variable

        value: Any = Variable.get(key, default_var=None)
        return value

    def set(self, key: str, value: str) -> None:
        from airflow.models import Variable

        Variable.set(key, value)

    def delete(self, key: str) -> None:
        from airflow.models import Variable

        Variable.delete(key)


def get_variable_store() -> VariableStore:
    """Return the Variable operations that work in the current context."""
    if in_task_context():
        return _SdkVariableStore()
    return _MetadataVariableStore()


__all__ = [
    "AIRFLOW_V_3",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "PokeReturnValue",
    "get_variable_store",
    "in_task_context",
    "mask_secret",
]
