"""The report calls of the client: one report call, the campaign list. No Airflow imports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_trafficstars.client._calls import JsonCalls
from airflow_provider_trafficstars.client.reports import _catalogue as reports
from airflow_provider_trafficstars.client.reports import _schema as schema


class ReportsApi(JsonCalls):
    """Report calls, mixed into :class:`~airflow_provider_trafficstars.client.TrafficStarsClient`."""

    def get_report(
        self, report: str, *, date_from: Any, date_to: Any, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Return the rows of one report call, as the API answers them.

        A range aggregates over its days, except for the by-day reports (one row per day).

        :param report: ``"advertiser/by-day"``, ``"advertiser/by-campaign"``, ``"advertiser/by-country"``,
            ``"advertiser/by-creative"``, ``"advertiser/by-spot"``, ``"publisher/by-day"``,
            ``"publisher/by-spot"`` or ``"publisher/by-country"``.
        :param date_from: first day, ``YYYY-MM-DD`` or a ``date`` (inclusive).
        :param date_to: last day (inclusive).
        :param filters: ``{"campaign_id": [...]}`` (advertiser) or ``{"spot_id": [...]}`` (publisher).
        :raises TrafficStarsConfigError: for an unknown report, a bad or reversed range or a bad filter,
            before any call.
        :raises TrafficStarsDataError: when the answer is not a list of rows, an empty body, a 204 or JSON
            ``null`` included (a day without rows is ``[]``).
        """
        spec = reports.report_spec(report)
        query = reports.report_query(spec, date_from, date_to, filters)
        payload = self.request_json("GET", spec.path, params=query)
        return schema.answer_rows(spec, payload, date_from=query["date_from"], date_to=query["date_to"])

    def get_campaigns(self, *, status: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Return the campaigns of the account (``GET /v1.1/campaigns``).

        :param status: only campaigns with this status or one of these, e.g. ``"enabled"`` (sent as ``status[]``).
        :raises TrafficStarsConfigError: for a status that is not a plain name, before any call.
        :raises TrafficStarsDataError: when the answer is not a list of campaigns (nothing, ``null``, ...).
        """
        spec = reports.CAMPAIGNS_SPEC
        query = reports.filter_values(spec, None if status is None else {"status": status})
        return schema.answer_rows(spec, self.request_json("GET", spec.path, params=query))
