"""Campaign control and the account balance: argument checks, answer parsing, and the refusal rule that a
dry run and the real run share (:func:`predict_outcome`)."""

from __future__ import annotations

from airflow_provider_trafficstars.client.campaigns._parse import (
    CAMPAIGN_STATES,
    CAMPAIGN_STATUSES,
    parse_amount,
    parse_campaign_id,
    parse_campaign_ids,
)
from airflow_provider_trafficstars.client.campaigns._rules import OUTCOMES, predict_outcome

__all__ = [
    "CAMPAIGN_STATES",
    "CAMPAIGN_STATUSES",
    "OUTCOMES",
    "parse_amount",
    "parse_campaign_id",
    "parse_campaign_ids",
    "predict_outcome",
]
