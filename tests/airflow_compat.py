"""Airflow version differences that only the tests need (the package's own live in ``_compat``).

Import this module after ``tests.helpers`` has set up the temp ``AIRFLOW_HOME`` (``tests/conftest.py`` imports
it and pytest loads the conftest first, so a plain import at the top of a test module is fine).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_trafficstars.hooks._airflow import AIRFLOW_V_3, AIRFLOW_V_3_1, AIRFLOW_V_3_2, AIRFLOW_V_3_3

requires_airflow_3 = pytest.mark.skipif(not AIRFLOW_V_3, reason="Airflow 3 only (Task SDK, airflow.sdk authoring API)")
requires_airflow_2 = pytest.mark.skipif(AIRFLOW_V_3, reason="Airflow 2 only (Flask AppBuilder UI)")


def configure_test_logging() -> None:
    """Make task logs reach the console of the running test the way Airflow 3.1+ does by itself.

    - Airflow 3.0 leaves structlog unconfigured outside a worker, so ``dag.test()`` prints every debug
      line of its in-process supervisor, including ``MaskSecret(value=<the secret>)`` requests that the
      masker itself sends: Airflow's echo, not a log line of ours; later versions filter it at INFO.
      Its default renderer also prints the local variables of every frame of a traceback (3.1+ does so
      only with ``DEV`` set), so use the plain traceback of 3.1+.
    - Airflow 2: ``airflow db migrate`` leaves alembic's logging config in place (a root handler bound
      to the stderr of the moment), so re-apply Airflow's, whose root handler writes to the current
      stdout.
    - Airflow 2.x and 3.0: ``dag.test()`` adds ``StreamHandler(sys.stdout)`` to ``airflow.task`` once per
      process, bound to the stdout of the first test that runs a DAG (closed by pytest afterwards: "---
      Logging error ---"); a handler that writes nothing keeps it out, the root handler prints each line
      once.

    Call it after the metadata DB is migrated.
    """
    if AIRFLOW_V_3 and not AIRFLOW_V_3_1:  # pragma: no cover - Airflow 3.0 leg of the version matrix
        import structlog

        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S"),
                structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        )
    if not AIRFLOW_V_3:  # pragma: no cover - Airflow 2 leg of the version matrix
        from airflow.logging_config import configure_logging

        configure_logging()
    if not AIRFLOW_V_3_1:  # pragma: no cover - Airflow 2.x and 3.0 legs of the version matrix
        task_log = logging.getLogger("airflow.task")
        if not any(isinstance(h, logging.StreamHandler) for h in task_log.handlers):
            task_log.addHandler(_SilentStreamHandler())


class _SilentStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes nothing: its presence stops Airflow 2's ``dag.test()`` adding one."""

    def emit(self, record: logging.LogRecord) -> None:
        return None


def reuse_the_in_process_execution_api() -> None:
    """Build ``dag.test()``'s in-process Execution API once per process, as Airflow 3.3 does.

    Airflow 3.0-3.2 build a new FastAPI app for every task that ``dag.test()`` runs (about 3 s of CPU
    each on 3.2, so a run of 50 mapped tasks takes minutes); 3.3 keeps one
    (``functools.lru_cache(maxsize=1)`` on ``supervisor.in_process_api_server``). The same cache here
    changes only the time the tests take, not what they run. Call it once, before the first DAG run.
    """
    if not AIRFLOW_V_3 or AIRFLOW_V_3_3:
        return
    from airflow.sdk.execution_time import supervisor  # pragma: no cover - Airflow 3.0-3.2

    if not hasattr(supervisor.in_process_api_server, "cache_info"):  # pragma: no cover - Airflow 3.0-3.2
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)


def sync_like_dag_processor(bag: Any) -> None:
    """Store a parsed DagBag in the metadata DB the way a DAG processor does (Airflow 2.x and 3.0).

    Their ``dag.test()`` does not store the DAG first, so its Assets (Datasets) have no rows: on 3.0 a
    task with an Asset outlet fails (``AirflowInactiveAssetInInletOrOutletException``), on 2.x its
    Dataset event is silently dropped. In a deployment the DAG processor stored the DAG long before a
    run. 3.1+ store it in ``dag.test()`` itself.
    """
    if AIRFLOW_V_3_1:
        return
    if not AIRFLOW_V_3:  # pragma: no cover - Airflow 2 legs of the version matrix
        bag.sync_to_db()
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager  # pragma: no cover - Airflow 3.0

    DagBundlesManager().sync_bundles_to_db()  # pragma: no cover - Airflow 3.0
    bag.sync_to_db("dags-folder", None)  # pragma: no cover - Airflow 3.0


def secrets_masker_functions() -> tuple[Any, Any]:
    """Return ``(redact, reset_secrets_maskers)`` for the masker that ``_compat.mask_secret`` feeds."""
    if not AIRFLOW_V_3:  # pragma: no cover - Airflow 2 legs of the version matrix
        from airflow.utils.log.secrets_masker import redact
    elif AIRFLOW_V_3_1:
        from airflow.sdk._shared.secrets_masker import redact
    else:  # pragma: no cover - Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import redact  # type: ignore[no-redef,unused-ignore]
    return redact, reset_secrets_maskers


def reset_secrets_maskers() -> None:
    """Forget every value registered with this process's secrets maskers, as a new task process starts.

    Each registered value (a ~2 KB id_token per token answer, each Variable record read) grows one regex
    that every masker recompiles on each registration: without a reset between tests that alone costs
    seconds per test after a few dozen (a 3.0.6 leg took 305 s instead of about 100).
    """
    if not AIRFLOW_V_3:  # pragma: no cover - Airflow 2 legs of the version matrix
        from airflow.utils.log.secrets_masker import _secrets_masker

        try:
            masker = _secrets_masker()
        except RuntimeError:  # logging not configured yet: no masker, nothing registered
            return
        masker.patterns = set()
        masker.replacer = None
        return
    # 3.1+: the Task SDK's masker and the core one; 3.0 has only the Task SDK's, elsewhere.
    modules = (
        ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker")
        if AIRFLOW_V_3_1
        else ("airflow.sdk.execution_time.secrets_masker",)
    )
    for module in modules:
        importlib.import_module(module).reset_secrets_masker()


def secret_cache_class() -> Any:
    """Return Airflow's ``SecretCache`` (in the Task SDK since 3.1)."""
    if AIRFLOW_V_3_1:
        from airflow.sdk.execution_time.cache import SecretCache

        return SecretCache
    from airflow.secrets.cache import SecretCache  # pragma: no cover - Airflow 2.x and 3.0

    return SecretCache


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


def xcom_value(row: Any) -> Any:
    """Return the value of a row of :func:`xcom_model` (Airflow 2 deserializes it when the row loads)."""
    if AIRFLOW_V_3:
        return row.deserialize_value(row)
    return row.value  # pragma: no cover - Airflow 2


def asset_event_extras(name: str) -> list[Any]:
    """Return the ``extra`` of every event of the Asset ``name`` (a Dataset, keyed by its URI, on Airflow 2)."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if AIRFLOW_V_3:
        from airflow.models.asset import AssetEvent, AssetModel

        query = select(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id).where(AssetModel.name == name)
    else:  # pragma: no cover - Airflow 2 legs of the version matrix
        from airflow.models.dataset import DatasetEvent, DatasetModel

        query = (
            select(DatasetEvent)
            .join(DatasetModel, DatasetModel.id == DatasetEvent.dataset_id)
            .where(DatasetModel.uri == name)
        )
    with create_session() as session:
        return [dict(event.extra) for event in session.scalars(query)]


def delete_asset_events() -> None:
    """Delete every Asset (Dataset) event, so that a later test sees only its own runs' events."""
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    if AIRFLOW_V_3:
        from airflow.models.asset import AssetEvent as Event
    else:  # pragma: no cover - Airflow 2 legs of the version matrix
        from airflow.models.dataset import DatasetEvent as Event
    with create_session() as session:
        session.execute(delete(Event))


def dag_test_without_date(dag: Any, **kwargs: Any) -> Any:
    """Run ``dag.test()`` as ``airflow dags trigger`` without a date does: ``logical_date=None`` on Airflow 3.

    Airflow 2 has no run without a logical date (a manual run gets the time it was triggered); there this is
    a plain ``dag.test()``.
    """
    if AIRFLOW_V_3:
        return dag.test(logical_date=None, **kwargs)
    return dag.test(**kwargs)  # pragma: no cover - Airflow 2 legs of the version matrix


def clear_and_rerun(dag: Any, run_id: str) -> Any:
    """Clear every task of a finished DAG run as the UI's Clear does, then run it again here; return the DagRun.

    ``clear_task_instances`` is what the UI and the REST API call: the run is queued again and its
    ``start_date`` reset to now. The scheduler would then start it; here ``dag.test()`` runs it, given the
    existing run instead of the new one it makes (Airflow 3: ``models.dagrun.get_or_create_dagrun``).
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run_id)
        ).all()
        assert tis, f"no task instances in {run_id}"
        clear_task_instances(list(tis), session)

    def the_cleared_run(*, dag: Any, session: Any, **kwargs: Any) -> Any:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id))
        run.state = DagRunState.RUNNING  # what the scheduler does to a queued run
        session.commit()
        run.dag = dag  # as create_dagrun() does: the run's tasks come from it
        return run

    with replaced_run_creation(lambda _create: the_cleared_run):
        return dag.test(logical_date=None)


#: Where ``dag.test()`` finds the function that creates its run: models.dagrun on 3.3, models.dag (with an
#: underscore) on 3.0-3.2.
_RUN_CREATION = (("airflow.models.dagrun", "get_or_create_dagrun"), ("airflow.models.dag", "_get_or_create_dagrun"))


@contextlib.contextmanager
def replaced_run_creation(wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    """Let ``dag.test()`` create its run through ``wrap(original)`` (to hand it an existing run, or to act on the
    new one as the scheduler would), on every Airflow 3 line."""
    from unittest import mock

    with contextlib.ExitStack() as stack:
        for module_name, name in _RUN_CREATION:
            module = importlib.import_module(module_name)
            if hasattr(module, name):
                stack.enter_context(mock.patch.object(module, name, wrap(getattr(module, name))))
        yield


def dag_test(dag: Any, *, logical_date: Any = None, only: str | None = None, **kwargs: Any) -> Any:
    """Run ``dag.test()`` and return the DagRun.

    :param logical_date: the run's logical date (``execution_date`` on Airflow 2).
    :param only: run just this task and mark every other one successful. Airflow 2 compiles
        ``mark_success_pattern`` with re2, which has no lookahead, so the pattern lists the other tasks.
    """
    if logical_date is not None:
        kwargs["logical_date" if AIRFLOW_V_3 else "execution_date"] = logical_date
    if only is not None:
        others = sorted(t for t in dag.task_ids if t != only)
        assert len(others) < len(dag.task_ids), f"no task {only!r} in {dag.dag_id}"
        if others:
            kwargs["mark_success_pattern"] = "^(" + "|".join(re.escape(t) for t in others) + ")$"
    return dag.test(**kwargs)


__all__ = [
    "AIRFLOW_V_3",
    "AIRFLOW_V_3_1",
    "AIRFLOW_V_3_2",
    "AIRFLOW_V_3_3",
    "asset_event_extras",
    "clear_and_rerun",
    "configure_test_logging",
    "dag_test",
    "dag_test_without_date",
    "dagbag_class",
    "delete_asset_events",
    "requires_airflow_2",
    "requires_airflow_3",
    "reset_secrets_maskers",
    "reuse_the_in_process_execution_api",
    "secret_cache_class",
    "secrets_masker_functions",
    "sync_like_dag_processor",
    "xcom_model",
    "xcom_value",
]
