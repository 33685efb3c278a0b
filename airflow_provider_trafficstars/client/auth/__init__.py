"""The access token (:class:`AccessToken`), its lifetimes, and the account's fingerprint."""

from __future__ import annotations

from airflow_provider_trafficstars.client.auth._token import (
    DEFAULT_LIFETIME_WHEN_MISSING,
    MAX_LIFETIME,
    AccessToken,
    fingerprint,
)

__all__ = ["DEFAULT_LIFETIME_WHEN_MISSING", "MAX_LIFETIME", "AccessToken", "fingerprint"]
