"""Scenario 5: what the provider adds to a process's start-up and to DAG parsing.

Each figure is the median over separate interpreters, each on a throwaway ``AIRFLOW_HOME``:

- the time to import the hook module once ``airflow.sdk`` is imported (what every task process pays);
- each example DAG's parse time, measured like the DAG processor does it: Airflow already imported, the
  file parsed by a DagBag (the provider's own modules are imported during that parse, so they count).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
from benchmarks.common import REPO, airflow_env, median

_IMPORT = """
import time
import airflow.sdk
started = time.perf_counter()
import airflow_provider_trafficstars.hooks.trafficstars
print(time.perf_counter() - started)
"""

_PARSE = """
import sys, time
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(sys.argv[1])
took = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
print(took)
"""


def _python(code: str, *args: str) -> float:
    with AirflowHome.temporary("ts-import-cost-") as home:
        env = airflow_env(home.path)
        result = subprocess.run(
            [sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
        )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return float(result.stdout.strip().splitlines()[-1])


def hook_import_seconds(runs: int = 10) -> list[float]:
    """Return the import time of the hook module after ``import airflow.sdk``, one interpreter per run."""
    return [_python(_IMPORT) for _ in range(runs)]


def dag_parse_seconds(runs: int = 5) -> dict[str, list[float]]:
    """Return the parse times of every example DAG file, one interpreter per run."""
    return {
        path.name: [_python(_PARSE, str(path)) for _ in range(runs)]
        for path in sorted((REPO / "example_dags").glob("*.py"))
    }


def measure(import_runs: int = 10, parse_runs: int = 5) -> dict[str, Any]:
    imports = hook_import_seconds(import_runs)
    parses = dag_parse_seconds(parse_runs)
    return {
        "hook_import_median": median(imports),
        "hook_import_runs": imports,
        "dag_parse_median": {name: median(times) for name, times in parses.items()},
    }


if __name__ == "__main__":
    print(json.dumps(measure()))
