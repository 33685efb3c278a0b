"""TrafficStarsSessionSensor: wait until TrafficStars accepts the connection's credentials."""

from __future__ import annotations

from typing import Any

from airflow_provider_trafficstars.client._checks import SESSION, check_seconds
from airflow_provider_trafficstars.sensors.base import TrafficStarsPollingSensor


class TrafficStarsSessionSensor(TrafficStarsPollingSensor):
    """Wait until TrafficStars accepts our credentials with at least ``min_ttl`` seconds of session left.

    A poke (or a poll of :class:`~airflow_provider_trafficstars.triggers.trafficstars.TrafficStarsSessionTrigger`
    in deferrable mode) reads the session info with the shared token, renewing the token first when it has
    less than ``min_ttl`` seconds left. The XCom is the same secret-free dict as
    :class:`~airflow_provider_trafficstars.operators.trafficstars.TrafficStarsSessionInfoOperator` returns:
    ``{"expires_in", "expires_at", "token_type"}``.

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``).
    :param min_ttl: seconds the session must stay valid for.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poke_interval: seconds between pokes.
    """

    check = SESSION
    trigger_classpath = "airflow_provider_trafficstars.triggers.trafficstars.TrafficStarsSessionTrigger"

    def __init__(self, *, min_ttl: float = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_ttl = check_seconds(min_ttl)

    def check_kwargs(self) -> dict[str, Any]:
        return {"min_ttl": self.min_ttl}
