"""The access token (:class:`AccessToken`) and the account's fingerprint; the token policy is the client's."""

from __future__ import annotations

from airflow_provider_trafficstars.client.auth._token import AccessToken, fingerprint

__all__ = ["AccessToken", "fingerprint"]
