"""TrafficStarsBalanceSensor: wait until the TrafficStars account balance reaches an amount."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_trafficstars.client._checks import BALANCE
from airflow_provider_trafficstars.client.campaigns._parse import parse_amount
from airflow_provider_trafficstars.sensors.base import TrafficStarsPollingSensor


class TrafficStarsBalanceSensor(TrafficStarsPollingSensor):
    """Wait until the account balance is at least ``min_balance``; the XCom is ``{"balance", "min_balance"}``.

    A poke (or a poll of :class:`~airflow_provider_trafficstars.triggers.balance.TrafficStarsBalanceTrigger`
    in deferrable mode) reads ``GET /v2/userinfo/balance`` with the shared token. HTTP 429, 5xx and network
    errors mean "not yet"; an answer without a balance fails the task.

    :param min_balance: the balance to wait for, in the account's currency (templated).
    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poke_interval: seconds between pokes.
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id", "min_balance")
    check = BALANCE
    trigger_classpath = "airflow_provider_trafficstars.triggers.balance.TrafficStarsBalanceTrigger"

    def __init__(self, *, min_balance: float | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(min_balance, str):  # a template is checked once rendered, still before any call
            parse_amount(min_balance, "min_balance", allow_zero=True)
        self.min_balance = min_balance

    def check_kwargs(self) -> dict[str, Any]:
        # min_balance is checked once rendered, before any call.
        return {"min_balance": parse_amount(self.min_balance, "min_balance", allow_zero=True)}
