"""TrafficStarsBalanceTrigger: the deferred wait of the TrafficStarsBalanceSensor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_trafficstars.client._checks import BALANCE
from airflow_provider_trafficstars.client.campaigns._parse import parse_amount
from airflow_provider_trafficstars.triggers.base import TrafficStarsPollingTrigger

if TYPE_CHECKING:
    from pendulum import DateTime


class TrafficStarsBalanceTrigger(TrafficStarsPollingTrigger):
    """Poll until the account balance (``GET /v2/userinfo/balance``) is at least ``min_balance``.

    Each poll is :func:`~.client._checks.check_balance`, the very check of a sensor
    poke, run on the hook (and so through the one token policy of the client) in a worker thread. Its
    serialized arguments hold no secret.

    :param conn_id: the Airflow connection id (conn type ``trafficstars``).
    :param min_balance: the balance to wait for, in the account's currency.
    :param poke_interval: seconds between polls.
    :param timeout_at: when to give up (ISO 8601 or epoch seconds); None waits forever.
    """

    check = BALANCE

    def __init__(
        self,
        conn_id: str = "trafficstars_default",
        min_balance: float = 0.0,
        poke_interval: float = 60.0,
        timeout_at: str | float | DateTime | None = None,
    ) -> None:
        super().__init__(conn_id=conn_id, poke_interval=poke_interval, timeout_at=timeout_at)
        self.min_balance = parse_amount(min_balance, "min_balance", allow_zero=True)

    def check_kwargs(self) -> dict[str, Any]:
        return {"min_balance": self.min_balance}
