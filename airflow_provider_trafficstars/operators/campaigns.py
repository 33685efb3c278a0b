"""Operators that change campaigns: run or pause them, and set their bid and daily budget, safely.

Both read before they write, so a rerun changes nothing and says so; both take ``dry_run`` (read, compute,
log what would change, change nothing, return the same shape); and TrafficStars' failures inside an HTTP
200 fail the task with a typed error instead of passing unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_trafficstars.client.campaigns import _parse as campaigns
from airflow_provider_trafficstars.client.campaigns import _rules as rules
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsApiError,
    TrafficStarsConfigError,
    TrafficStarsPartialFailureError,
)
from airflow_provider_trafficstars.operators._base import DEFAULT_CONN_ID, TrafficStarsBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class TrafficStarsCampaignStateOperator(TrafficStarsBaseOperator):
    """Run or pause campaigns; return ``{"changed": [...], "failed": [...], "unchanged": [...], "uncertain": [...]}``.

    The campaigns are read first (``GET /v1.1/campaigns``, and ``GET /v1.1/campaigns/{id}`` for an id that
    list lacks): those already in the requested state (``enabled`` for run, ``paused`` for pause) are
    ``unchanged`` and not sent, so a rerun changes nothing and says so. The others are sent in batches of
    ``batch_size`` (``PUT /v2/campaigns/run|pause``). TrafficStars answers 200 even when it could not
    change a campaign: such ids are ``failed``. With ``dry_run`` nothing is sent and the same rule
    (:func:`~.rules.predict_outcome`) says what the real run would do: ``changed``; ``failed`` (an
    unknown id, a ``rejected``, ``draft`` or ``unapproved`` campaign); ``uncertain`` (a status the rule does
    not know: only TrafficStars' answer can tell). A real run's ``uncertain`` is always empty.

    :param campaign_ids: the campaigns: a list, or an XCom holding one (``XComArg`` or a template) (templated).
    :param state: ``"run"`` or ``"pause"``.
    :param fail_on_partial: fail with :class:`~.exceptions.TrafficStarsPartialFailureError` naming the failed
        ids (after sending every batch); with False, return them in ``failed`` and succeed.
    :param dry_run: read and log what would change, change nothing (templated, as the attribute
        ``dry_run_flag``: ``"{{ params.dry_run }}"`` works).
    :param batch_size: ids per call (default :data:`~.campaigns.DEFAULT_BATCH_SIZE`, at most 1000).
    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id", "campaign_ids", "dry_run_flag")
    template_fields_renderers = {"campaign_ids": "json"}

    def __init__(
        self,
        *,
        campaign_ids: Any,
        state: str,
        fail_on_partial: bool = True,
        dry_run: bool | str = False,
        batch_size: int = campaigns.DEFAULT_BATCH_SIZE,
        trafficstars_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(trafficstars_conn_id=trafficstars_conn_id, **kwargs)
        if isinstance(campaign_ids, (list, tuple)) and not any(isinstance(v, str) for v in campaign_ids):
            campaigns.parse_campaign_ids(campaign_ids)  # a typo fails the DAG's import, not a run
        self.campaign_ids = campaign_ids
        self.state = campaigns.check_state(state)
        self.fail_on_partial = fail_on_partial
        self.dry_run_flag = dry_run  # BaseOperator.dry_run is a method: not shadowed
        self.batch_size = campaigns.check_batch_size(batch_size)

    def execute(self, context: Context) -> dict[str, list[int]]:
        ids = campaigns.parse_campaign_ids(self.campaign_ids)
        dry_run = campaigns.check_flag(self.dry_run_flag, "dry_run")
        target = campaigns.STATE_STATUS[self.state]
        statuses = self._statuses(ids)
        predicted = {cid: rules.predict_outcome(self.state, statuses[cid]) for cid in ids}
        if dry_run:
            result = {outcome: [cid for cid in ids if predicted[cid] == outcome] for outcome in rules.OUTCOMES}
            self.log.info(
                "Dry run: would %s campaigns %s; already %s: %s; would fail: %s; cannot tell (unknown status): %s. "
                "Nothing was sent.",
                self.state, result["changed"], target, result["unchanged"], result["failed"], result["uncertain"],
            )  # fmt: skip
            return result
        # Every id not already there is sent, even one the rule expects TrafficStars to refuse: TrafficStars
        # decides, and a pause it would accept must never be skipped on a guess. Its answer is then checked
        # against the rule, so a rule that no longer matches TrafficStars is seen (dry runs rely on it).
        unchanged = [cid for cid in ids if predicted[cid] == "unchanged"]
        changed, failed = [], []
        for batch in campaigns.batches([cid for cid in ids if predicted[cid] != "unchanged"], self.batch_size):
            result = self.hook.set_campaigns_state(batch, self.state)
            changed += result["success"]
            failed += result["failed"]
        accepted = {cid: statuses[cid] for cid in changed if predicted[cid] == "failed"}
        refused = {cid: statuses[cid] for cid in failed if predicted[cid] == "changed"}
        if accepted or refused:
            self.log.warning(
                "TrafficStars answered against the rule dry runs use (rules.predict_outcome): it changed %s "
                "and refused %s (id: status).",
                accepted, refused,
            )  # fmt: skip
        self.log.info(
            "TrafficStars: %s campaigns %s; already %s: %s; failed: %s.", self.state, changed, target, unchanged, failed
        )
        if failed and self.fail_on_partial:
            reasons = {cid: statuses[cid] or "unknown id" for cid in failed}
            raise TrafficStarsPartialFailureError(
                f"TrafficStars could not {self.state} campaigns {failed} (their status: {reasons}; changed: "
                f"{changed}, already {target}: {unchanged}). Only {sorted(rules.SWITCHABLE_STATUSES)} campaigns "
                "can be run or paused; fix them in TrafficStars, or set fail_on_partial=False to carry on.",
                failed=failed,
                changed=changed,
                unchanged=unchanged,
                statuses=reasons,
            )
        return {"changed": changed, "failed": failed, "unchanged": unchanged, "uncertain": []}

    def _statuses(self, ids: list[int]) -> dict[int, str | None]:
        """Return each campaign's status (None: TrafficStars does not know the id).

        One ``GET /v1.1/campaigns`` gives most of them; an id it does not list (another page of a long
        list, or an unknown id) is read on its own (``GET /v1.1/campaigns/{id}``; 404 means unknown).
        """
        if not ids:
            return {}
        listed = campaigns.statuses_of(self.hook.get_campaigns())
        found: dict[int, str | None] = {cid: listed[cid] for cid in ids if cid in listed}
        for cid in ids:
            if cid not in found:
                try:
                    found[cid] = str(self.hook.get_campaign(cid)["status"])
                except TrafficStarsApiError as exc:
                    if exc.status_code != 404:
                        raise
                    found[cid] = None
        return found


class TrafficStarsCampaignUpdateOperator(TrafficStarsBaseOperator):
    """Set a campaign's bid (``price``) and/or daily budget (``max_daily``); return the before/after values.

    The campaign is read first; with ``max_change`` a value that would move by more than that fraction of
    its current value (0.5: 50 %) is refused with :class:`~.exceptions.TrafficStarsGuardError` and nothing is
    sent, so a typo in a DAG cannot multiply spend. Only the values that differ are sent
    (``PATCH /v1.1/campaigns/{id}``); a rerun sends nothing. The XCom:
    ``{"campaign_id", "before": {field: value}, "after": {field: value}, "changed": [fields], "uncertain":
    [fields]}``. A dry run on a campaign whose status :func:`~.rules.predict_outcome` does not know lists
    the fields in ``uncertain``, not ``changed`` (a real run's ``uncertain`` is always empty).

    :param campaign_id: the campaign (templated).
    :param price: the new bid (templated).
    :param max_daily: the new daily budget (templated).
    :param max_change: the largest relative move allowed per run, e.g. 0.5; None: no guard (templated).
    :param dry_run: read, check and log what would change, change nothing (templated, as ``dry_run_flag``).
    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    """

    template_fields: Sequence[str] = (
        "trafficstars_conn_id",
        "campaign_id",
        "price",
        "max_daily",
        "max_change",
        "dry_run_flag",
    )

    def __init__(
        self,
        *,
        campaign_id: int | str,
        price: float | str | None = None,
        max_daily: float | str | None = None,
        max_change: float | str | None = None,
        dry_run: bool | str = False,
        trafficstars_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(trafficstars_conn_id=trafficstars_conn_id, **kwargs)
        if price is None and max_daily is None:
            raise TrafficStarsConfigError(f"Task {self.task_id!r}: give price or max_daily (or both) to change.")
        # Values given as such (not templates) are checked now: a typo fails the DAG's import, not a run.
        if not isinstance(campaign_id, str):
            campaigns.parse_campaign_id(campaign_id)
        for name, value in (("price", price), ("max_daily", max_daily)):
            if value is not None and not isinstance(value, str):
                campaigns.parse_amount(value, name)
        if not isinstance(max_change, str):
            campaigns.parse_max_change(max_change)
        self.campaign_id = campaign_id
        self.price = price
        self.max_daily = max_daily
        self.max_change = max_change
        self.dry_run_flag = dry_run  # BaseOperator.dry_run is a method: not shadowed

    def execute(self, context: Context) -> dict[str, Any]:
        cid = campaigns.parse_campaign_id(self.campaign_id)
        wanted = {
            field: campaigns.parse_amount(value, field)
            for field, value in (("price", self.price), ("max_daily", self.max_daily))
            if value is not None and not (isinstance(value, str) and value.strip() in ("", "None"))
        }
        if not wanted:
            raise TrafficStarsConfigError(f"Task {self.task_id!r}: price and max_daily both rendered empty.")
        max_change = campaigns.parse_max_change(self.max_change)
        dry_run = campaigns.check_flag(self.dry_run_flag, "dry_run")
        campaign = self.hook.get_campaign(cid)
        plan = rules.plan_update(cid, campaign, wanted, max_change)
        changes = {field: plan["after"][field] for field in plan["changed"]}
        if not changes:
            self.log.info("Campaign %s already has %s: nothing to send.", cid, plan["after"])
            return plan
        if dry_run:
            if rules.predict_outcome("update", campaign["status"]) == "uncertain":
                plan["changed"], plan["uncertain"] = [], plan["changed"]
                self.log.info(
                    "Dry run: campaign %s has the status %r, unknown to this provider: whether TrafficStars takes "
                    "%s cannot be told before it answers; nothing sent.",
                    cid, campaign["status"], changes,
                )  # fmt: skip
                return plan
            self.log.info("Dry run: would set campaign %s from %s to %s; nothing sent.", cid, plan["before"], changes)
            return plan
        answer = self.hook.update_campaign(cid, **changes)
        for field in plan["after"]:
            confirmed = campaigns.campaign_value(answer or {}, field)
            if confirmed is not None:
                plan["after"][field] = confirmed  # what TrafficStars says it stored (it may round a bid)
        self.log.info("Updated campaign %s: %s -> %s.", cid, plan["before"], plan["after"])
        return plan
