"""What TrafficStars will do with a change, decided once for the dry run and the real run.

:func:`predict_outcome` says which campaigns a run or pause would change, leave alone or see refused;
:func:`plan_update` applies the ``max_change`` guard. No Airflow imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from airflow_provider_trafficstars.client.campaigns._parse import (
    CAMPAIGN_STATUSES,
    STATE_STATUS,
    campaign_value,
    check_state,
)
from airflow_provider_trafficstars.client.errors import (
    TrafficStarsGuardError,
)

#: Statuses a run or a pause switches; TrafficStars refuses the others it knows (``failed`` inside the 200).
SWITCHABLE_STATUSES = frozenset({"enabled", "paused", "no_funds_paused"})


#: What :func:`predict_outcome` can say, in the order operators list them.
OUTCOMES = ("changed", "failed", "unchanged", "uncertain")


_TOLERANCE = 1e-9  # float noise: 0.45 is a 50 % move from 0.3, not 50.0000000000001 %


def predict_outcome(action: str, status: str | None) -> str:
    """Return what TrafficStars will do when asked to ``action`` a campaign whose status is ``status``.

    The one rule of which campaigns TrafficStars refuses: dry runs report it, real runs check the answer
    against it. ``"unchanged"``: already in that state (nothing to send); ``"failed"``: refused (an unknown
    id, or for a run or pause a ``rejected``, ``draft`` or ``unapproved`` campaign); ``"changed"``;
    ``"uncertain"``: a status this rule does not know, so nobody can say before TrafficStars answers.

    :param action: ``"run"``, ``"pause"`` or ``"update"`` (a bid or budget ``PATCH``, which any campaign
        TrafficStars knows takes; whether it changes a value is the caller's comparison).
    :param status: the campaign's status, None when TrafficStars does not know the id.
    """
    if status is None:
        return "failed"
    if status not in CAMPAIGN_STATUSES:
        return "uncertain"
    if action == "update":
        return "changed"
    if status == STATE_STATUS[check_state(action)]:
        return "unchanged"
    return "changed" if status in SWITCHABLE_STATUSES else "failed"


# -- the max_change guard --------------------------------------------------------------------------
def relative_change(before: float, after: float) -> float:
    """Return how far ``after`` moves from ``before``, as a fraction of ``before`` (inf from 0)."""
    if before == after:
        return 0.0
    return abs(after - before) / abs(before) if before else math.inf


def plan_update(
    campaign_id: int, campaign: Mapping[str, Any], wanted: Mapping[str, float], max_change: float | None
) -> dict[str, Any]:
    """Return ``{"campaign_id", "before", "after", "changed", "uncertain"}`` for setting ``wanted`` on ``campaign``.

    ``before``/``after`` hold the requested fields only; ``changed`` lists those whose value moves;
    ``uncertain`` is empty (a dry run moves ``changed`` there when :func:`predict_outcome` cannot tell).

    :raises TrafficStarsGuardError: when a field moves by more than ``max_change`` of its current value, or
        its current value is unknown (no relative move can be checked): nothing is sent.
    """
    before = {field: campaign_value(campaign, field) for field in wanted}
    for field, value in wanted.items():
        current = before[field]
        if max_change is None or current == value:
            continue
        change = math.inf if current is None else relative_change(current, value)
        if change > max_change + _TOLERANCE:
            moved = "an unknown current value" if current is None else f"{current:g} (a {change:.0%} move)"
            raise TrafficStarsGuardError(
                f"Refused to set {field} of campaign {campaign_id} to {value:g} from {moved}: max_change allows "
                f"{max_change:.0%}. Check the value, or raise max_change for this run.",
                campaign_id=campaign_id,
                field=field,
                before=current,
                after=value,
                max_change=max_change,
            )
    return {
        "campaign_id": campaign_id,
        "before": before,
        "after": dict(wanted),
        "changed": [field for field, value in wanted.items() if before[field] != value],
        "uncertain": [],
    }
