"""The watcher of a system test, as in Airflow's own ``tests_common.test_utils.watcher`` (not importable here).

A system test ends with a teardown task whose trigger rule is ``ALL_DONE``: it runs, and succeeds, even when
the body failed, and a DAG run's state follows its leaves, so the run would say "success". Making the
watcher downstream of every task (``list(dag.tasks) >> watcher()``) gives the run a leaf that fails as soon
as any task failed.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException, TriggerRule, task


@task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
def watcher() -> None:
    """Fail the DAG run: it runs only when an upstream task failed."""
    raise AirflowException("Failing task because one or more upstream tasks failed.")
