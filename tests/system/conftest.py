"""System tests are DAG files named ``example_*.py`` with a ``test_run`` (Airflow's layout): collect them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_collect_file(file_path: Path, parent: Any) -> Any:
    if file_path.suffix == ".py" and file_path.name.startswith("example_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
