"""The one call the resource mixins (reports, campaigns) make on the client. No Airflow imports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class JsonCalls:
    """Base of the resource mixins: :class:`~airflow_provider_trafficstars.client.TrafficStarsClient` gives
    :meth:`request_json`."""

    def request_json(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        raise NotImplementedError
