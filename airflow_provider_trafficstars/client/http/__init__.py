"""One HTTP attempt and its rules: where a call may go, what never leaves the process, how long to wait."""

from __future__ import annotations

from airflow_provider_trafficstars.client.http._waits import RETRY_AFTER_MAX, Backoff, next_poll_delay

__all__ = ["RETRY_AFTER_MAX", "Backoff", "next_poll_delay"]
