"""The campaign guard example's own rule: which campaigns cost too much per lead."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "example_trafficstars_campaign_guard.py"


@pytest.fixture(scope="module")
def guard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_campaign_guard_under_test", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_campaigns_over_cpa(guard: ModuleType) -> None:
    rows = [
        {"campaign_id": 1, "amount": 30.0, "leads": 2},  # 15 per lead
        {"campaign_id": 2, "amount": 30.0, "leads": 3},  # 10: at the limit, not over
        {"campaign_id": 3, "amount": 10.5, "leads": 0},  # no lead yet, but spent more than one may cost
        {"campaign_id": 4, "amount": 9.0, "leads": 0},  # no lead yet, a lead now would keep it under
        {"campaign_id": 5, "amount": 6.0, "leads": 1},
        {"campaign_id": 5, "amount": 6.0, "leads": 0},  # two rows of one campaign add up: 12 per lead
        {"id": 6, "cost": "40", "conversions": "2"},
    ]
    over = guard.campaigns_over_cpa(rows, 10)
    assert [o["campaign_id"] for o in over] == [1, 3, 5, 6]
    assert over[0] == {"campaign_id": 1, "cost": 30.0, "leads": 2.0, "cpa": 15.0}
    assert over[1]["cpa"] is None
    with pytest.raises(TrafficStarsConfigError):
        guard.campaigns_over_cpa([{"campaign_id": "x", "amount": 1}], 10)
    with pytest.raises(TrafficStarsConfigError):
        guard.campaigns_over_cpa(rows, 0)
