"""One HTTP attempt and its rules: where a call may go, what never leaves the process, how long to wait.

Names resolve lazily: the connection form (imported while Airflow starts) reads the URL rules from here
and must not pull in the transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_trafficstars.client.http._waits import RETRY_AFTER_MAX, Backoff, next_poll_delay

__all__ = ["RETRY_AFTER_MAX", "Backoff", "next_poll_delay"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airflow_provider_trafficstars.client.http import _waits

        return getattr(_waits, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
