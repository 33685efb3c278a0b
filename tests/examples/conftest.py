"""Fixtures of the example DAGs' tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The load DAG's SQL connection ``trafficstars_warehouse``: a SQLite file."""
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path
