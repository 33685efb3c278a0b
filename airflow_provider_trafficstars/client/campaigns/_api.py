"""The campaign and balance calls of the client. No Airflow imports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_trafficstars.client._calls import JsonCalls
from airflow_provider_trafficstars.client.campaigns import _parse as campaigns
from airflow_provider_trafficstars.client.errors import TrafficStarsConfigError


class CampaignsApi(JsonCalls):
    """Campaign and balance calls, mixed into :class:`~airflow_provider_trafficstars.client.TrafficStarsClient`."""

    def get_campaign(self, campaign_id: int) -> dict[str, Any]:
        """Return one campaign (``GET /v1.1/campaigns/{id}``): ``id``, ``name``, ``status``, ``price``, ...

        :raises TrafficStarsConfigError: for a malformed id, before any call.
        :raises TrafficStarsApiError: for an error answer (404: no such campaign) or one that is not a campaign.
        """
        cid = campaigns.parse_campaign_id(campaign_id)
        return campaigns.parse_campaign(self.request_json("GET", campaigns.campaign_path(cid)), cid)

    def set_campaigns_state(self, campaign_ids: Sequence[int], state: str) -> dict[str, Any]:
        """Run or pause campaigns in one call (``PUT /v2/campaigns/run|pause``); return the parsed answer.

        TrafficStars answers 200 even when some campaigns could not be changed: the result
        ``{"success": [...], "failed": [...], "total": n}`` says which. The call is idempotent (a campaign
        already in ``state`` stays so), so it is retried after 5xx like any PUT.

        :param campaign_ids: the campaigns (at least one).
        :param state: ``"run"`` or ``"pause"``.
        :raises TrafficStarsConfigError: for a bad id, an empty list or a bad state, before any call.
        """
        ids, path = campaigns.parse_campaign_ids(campaign_ids), campaigns.state_path(state)
        if not ids:
            raise TrafficStarsConfigError("set_campaigns_state needs at least one campaign id.")
        answer = self.request_json("PUT", path, json={"campaign_ids": ids})
        return campaigns.parse_state_result(answer, ids, state)

    def update_campaign(
        self, campaign_id: int, *, price: float | None = None, max_daily: float | None = None
    ) -> dict[str, Any] | None:
        """Set the bid (``price``) and/or the daily budget (``max_daily``) of a campaign; return the answer.

        :raises TrafficStarsConfigError: for a bad id or amount, or when neither value is given, before any call.
        """
        cid = campaigns.parse_campaign_id(campaign_id)
        given = (("price", price), ("max_daily", max_daily))
        body = {name: campaigns.parse_amount(value, name) for name, value in given if value is not None}
        if not body:
            raise TrafficStarsConfigError("update_campaign needs price or max_daily (or both).")
        # PATCH is not idempotent by method (RFC 9110), but this one sets absolute values: sending it twice
        # leaves the campaign as sending it once does, so a 5xx or a read timeout may be retried.
        answer = self.request_json("PATCH", campaigns.campaign_path(cid), json=body, idempotent=True)
        return answer if isinstance(answer, dict) else None

    def get_balance(self) -> float:
        """Return the account balance (``GET /v2/userinfo/balance``; see :func:`.campaigns.parse_balance`)."""
        return campaigns.parse_balance(self.request_json("GET", campaigns.BALANCE_PATH))
