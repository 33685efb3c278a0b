"""TrafficStarsSessionTrigger: the deferred wait of the TrafficStarsSessionSensor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_trafficstars.client._checks import SESSION, check_seconds
from airflow_provider_trafficstars.triggers.base import TrafficStarsPollingTrigger

if TYPE_CHECKING:
    from pendulum import DateTime

TRIGGER_PATH = "airflow_provider_trafficstars.triggers.trafficstars.TrafficStarsSessionTrigger"


class TrafficStarsSessionTrigger(TrafficStarsPollingTrigger):
    """Poll until TrafficStars accepts the connection's credentials with ``min_ttl`` seconds of session left.

    Each poll is :func:`~airflow_provider_trafficstars.client._checks.check_session`, the very check of a
    sensor poke, run on the hook in a worker thread. Its serialized arguments hold no secret.

    :param conn_id: the Airflow connection id (conn type ``trafficstars``).
    :param min_ttl: seconds the session must stay valid for; the token is renewed if it has less.
    :param poke_interval: seconds between polls.
    :param timeout_at: when to give up (ISO 8601 or epoch seconds); None waits forever.
    """

    check = SESSION

    def __init__(
        self,
        conn_id: str = "trafficstars_default",
        min_ttl: float = 0.0,
        poke_interval: float = 60.0,
        timeout_at: str | float | DateTime | None = None,
    ) -> None:
        super().__init__(conn_id=conn_id, poke_interval=poke_interval, timeout_at=timeout_at)
        self.min_ttl = check_seconds(min_ttl)

    def check_kwargs(self) -> dict[str, Any]:
        return {"min_ttl": self.min_ttl}
