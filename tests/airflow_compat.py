"""Airflow version differences that only the tests need (the package's own live in ``_compat``).

Import this module after ``tests/conftest.py`` has set up the temp ``AIRFLOW_HOME`` (pytest loads the
conftest first, so a plain import at the top of a test module is fine).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_trafficstars._compat import AIRFLOW_V_3, AIRFLOW_V_3_1, AIRFLOW_V_3_2, AIRFLOW_V_3_3

requires_airflow_3 = pytest.mark.skipif(not AIRFLOW_V_3, reason="Task SDK behaviour: Airflow 3 only")
requires_airflow_2 = pytest.mark.skipif(AIRFLOW_V_3, reason="Airflow 2 only (Flask AppBuilder UI)")


def quiet_debug_logs() -> None:
    """Drop structlog debug lines in this process, as Airflow 3.1+ does by itself.

    Airflow 3.0 leaves structlog unconfigured outside a worker, so ``dag.test()`` prints every debug line of
    its in-process supervisor, including ``MaskSecret(value=<the secret>)`` requests that the masker itself
    sends: that is Airflow's echo, not a log line of ours, and later versions filter it at INFO.
    """
    if AIRFLOW_V_3 and not AIRFLOW_V_3_1:  # pragma: no cover - Airflow 3.0 leg of the version matrix
        import logging

        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))


def dagbag_class() -> type[Any]:
    """Return ``DagBag``: ``airflow.dag_processing.dagbag`` on recent 3.x, ``airflow.models.dagbag`` before."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.x, 3.0, 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]
    return DagBag  # type: ignore[no-any-return,unused-ignore]


def xcom_model() -> Any:
    """Return the ORM class of the ``xcom`` table (``XComModel`` on 3.x, ``XCom`` on 2.x)."""
    if AIRFLOW_V_3:
        from airflow.models.xcom import XComModel

        return XComModel
    from airflow.models.xcom import XCom  # pragma: no cover - Airflow 2

    return XCom


def dag_test(dag: Any, *, logical_date: Any = None, **kwargs: Any) -> Any:
    """Run ``dag.test()`` and return the DagRun; ``logical_date`` is ``execution_date`` on Airflow 2."""
    if logical_date is not None:
        kwargs["logical_date" if AIRFLOW_V_3 else "execution_date"] = logical_date
    return dag.test(**kwargs)


__all__ = [
    "AIRFLOW_V_3",
    "AIRFLOW_V_3_1",
    "AIRFLOW_V_3_2",
    "AIRFLOW_V_3_3",
    "dag_test",
    "dagbag_class",
    "quiet_debug_logs",
    "requires_airflow_2",
    "requires_airflow_3",
    "xcom_model",
]
