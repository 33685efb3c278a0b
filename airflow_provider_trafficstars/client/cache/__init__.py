"""What every process of an account shares: the token record, the lease that renews it once, the report
cursor (and the call budget)."""

from __future__ import annotations

from airflow_provider_trafficstars.client.cache._lease_record import LeaseTimings
from airflow_provider_trafficstars.client.cache._record import LEASE_SUFFIX

__all__ = ["LEASE_SUFFIX", "LeaseTimings"]
