"""Scenarios 1 and 2: DAG runs with ``dag.test()`` against the emulator, on a throwaway SQLite DB.

``python -m benchmarks.dag_runs EMULATOR_URL API_KEY OUT_JSON`` runs both in a process of its own (the
benchmark does this with a fresh ``AIRFLOW_HOME``); the tests call :func:`fanout` and :func:`calls` in
their own session.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DAGS = Path(__file__).resolve().parent / "dags"


def install(name: str, dags_folder: Path) -> Any:
    """Copy a benchmark DAG into the configured DAGs folder and return it parsed."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.x, 3.0, 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    target = dags_folder / f"{name}.py"
    shutil.copyfile(DAGS / f"{name}.py", target)
    bag = DagBag(str(target))
    if bag.import_errors:
        raise RuntimeError(str(bag.import_errors))
    return bag.dags[name]


def fanout(dag: Any, n: int, *, naive: bool, token_requests: Callable[[], int]) -> dict[str, Any]:
    """Run ``n`` mapped tasks in one DAG run; return the token requests it cost and its wall time."""
    before = token_requests()
    started = time.perf_counter()
    run = dag.test(run_conf={"n": n, "naive": naive})
    return {
        "state": str(run.state),
        "token_requests": token_requests() - before,
        "seconds": time.perf_counter() - started,
    }


def calls(dag: Any, n: int, *, token_requests: Callable[[], int]) -> dict[str, Any]:
    """Run one task making ``n`` API calls; return its counts and timings."""
    before = token_requests()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "calls.json"
        run = dag.test(run_conf={"calls": n, "out": str(out)})
        result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    return {"state": str(run.state), "token_requests": token_requests() - before, **result}


def _clear_variables() -> None:
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(Variable))


def main(url: str, api_key: str, out: Path) -> None:
    import os

    from benchmarks.common import conn_json

    # The emulator here enforces no rate limit and these scenarios count tokens: no client-side limit either.
    os.environ["AIRFLOW_CONN_TRAFFICSTARS_DEFAULT"] = conn_json(url, api_key, rate_limit=0)
    from airflow.utils.db import initdb

    from benchmarks.common import EmulatorProcess

    initdb()
    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dags_folder.mkdir(parents=True, exist_ok=True)

    def stats() -> int:
        return EmulatorProcess.stats_of(url)["token_requests"]

    results: dict[str, Any] = {}
    fan = install("ts_bench_fanout", dags_folder)
    for naive in (False, True):
        _clear_variables()
        results["fanout_naive" if naive else "fanout"] = fanout(fan, 50, naive=naive, token_requests=stats)
    _clear_variables()
    results["calls"] = calls(install("ts_bench_calls", dags_folder), 500, token_requests=stats)
    out.write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
