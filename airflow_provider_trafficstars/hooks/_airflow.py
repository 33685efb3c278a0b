"""What Airflow's own compatibility layer does not cover: Variables and connections inside and outside a task,
the secrets masker, and the version flags.

Task-facing names (``BaseHook``, ``BaseOperator``, ``BaseSensorOperator``, ``PokeReturnValue``, ``conf``, the
``Airflow*Exception`` classes, ...) come from ``airflow.providers.common.compat.sdk``, as in the official
providers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook
from packaging.version import Version

if TYPE_CHECKING:
    from airflow_provider_trafficstars.client.cache._record import VariableStore

_base_version = Version(Version(AIRFLOW_VERSION).base_version)
AIRFLOW_V_3 = _base_version >= Version("3.0")
# What each 3.x minor added to the Task SDK that we use (checked against the installed wheels):
AIRFLOW_V_3_1 = _base_version >= Version("3.1")  # airflow.sdk.execution_time.cache
AIRFLOW_V_3_2 = _base_version >= Version("3.2")  # the connection form from conn-fields (get_provider_info)
AIRFLOW_V_3_3 = _base_version >= Version("3.3")  # the tests: the API server's connection-test route, HITL in dag.test()

log = logging.getLogger(__name__)

if AIRFLOW_V_3 and _base_version < Version("3.0.6"):
    # pyproject.toml excludes these releases; this names the reason where pip's check was bypassed.
    raise ImportError(
        f"airflow-provider-trafficstars needs Apache Airflow 3.0.6 or later on the 3.x line, found {AIRFLOW_VERSION}: "
        "before 3.0.6 a secret that a task registers with the log masker (an access token) is not masked in "
        "its task log. Upgrade Airflow (pip install 'apache-airflow>=3.0.6')."
    )

if AIRFLOW_V_3:
    from airflow.sdk.log import mask_secret as _mask_secret
else:  # pragma: no cover - exercised by the Airflow 2 leg of the version matrix
    from airflow.utils.log.secrets_masker import (  # type: ignore[no-redef,unused-ignore]
        mask_secret as _mask_secret,
    )

if TYPE_CHECKING:
    from airflow.sdk import Connection


def mask_secret(value: str) -> None:
    """Register a secret with Airflow's masker so that no log line shows it."""
    try:
        _mask_secret(value)
    except Exception:  # the masker must never fail a task; the value is still never logged by us
        log.debug("Could not register a value with the secrets masker.", exc_info=True)


def get_connection(conn_id: str) -> Connection:
    """Return a connection wherever the code runs, from the store that context can reach.

    Inside a task (and on Airflow 2) this is ``BaseHook.get_connection``. Outside one on Airflow 3 (a Python
    shell, a script) the Task SDK's lookup reads only environment variables and secrets backends, not the
    metadata DB: a connection it does not find there is then read from the metadata DB, as Airflow's own
    CLI and API server do (the same decision as :func:`get_variable_store`).

    :param conn_id: the connection id.
    :raises AirflowNotFoundException: when no store defines ``conn_id``.
    """
    try:
        conn: Connection = BaseHook.get_connection(conn_id)
        return conn
    except AirflowNotFoundException:
        if not AIRFLOW_V_3 or in_task_context():
            raise
    from airflow.models.connection import Connection as MetadataConnection

    db_conn: Any = MetadataConnection.get_connection_from_secrets(conn_id)
    return db_conn  # type: ignore[no-any-return,unused-ignore]


#: Where each Airflow line keeps the masker's rule for sensitive names (newest first).
_MASKER_MODULES = (
    "airflow._shared.secrets_masker",
    "airflow.sdk._shared.secrets_masker",
    "airflow.sdk.execution_time.secrets_masker",
    "airflow.utils.log.secrets_masker",
)


def is_masked_key(key: str) -> bool:
    """Return True when Airflow hides the value of a Variable with this key (in logs and the UI)."""
    import importlib

    for name in _MASKER_MODULES:
        try:
            rule = importlib.import_module(name).should_hide_value_for_key
        except (ImportError, AttributeError):
            continue
        return bool(rule(key))
    return any(word in key.lower() for word in ("access_token", "secret", "password"))  # pragma: no cover


def in_task_context() -> bool:
    """Return True inside a task run by a Task SDK supervisor (a worker, ``dag.test()``, a triggerer)."""
    if not AIRFLOW_V_3:
        return False
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def _forget_cached_variable(key: str) -> None:
    """Drop ``key`` from Airflow's SecretCache, so that the next read sees the latest stored value.

    That cache is off in task runs ([secrets] use_cache only covers DAG parsing), but it is on in a DAG
    processor's callbacks; a process waiting for the token another one renews must never read a stale copy.
    """
    try:
        if AIRFLOW_V_3_1:
            from airflow.sdk.execution_time.cache import SecretCache
        else:  # pragma: no cover - Airflow 2.x and 3.0
            from airflow.secrets.cache import SecretCache  # type: ignore[no-redef,unused-ignore]
        SecretCache.invalidate_variable(key)
    except Exception:  # no such cache in this Airflow version: nothing to forget
        log.debug("Could not invalidate the SecretCache entry of a Variable.", exc_info=True)


class _SdkVariableStore:
    """Variables through the Task SDK (inside a task on Airflow 3)."""

    def get(self, key: str) -> str | None:
        from airflow.sdk import Variable

        _forget_cached_variable(key)
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

        _forget_cached_variable(key)
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
    "AIRFLOW_V_3_1",
    "AIRFLOW_V_3_2",
    "AIRFLOW_V_3_3",
    "get_connection",
    "get_variable_store",
    "in_task_context",
    "is_masked_key",
    "mask_secret",
]
