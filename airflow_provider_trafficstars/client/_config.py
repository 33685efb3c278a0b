"""The settings of one TrafficStars client, usually read from an Airflow connection. No Airflow imports."""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_trafficstars.client.auth._token import fingerprint
from airflow_provider_trafficstars.client.cache._grants import DEFAULT_CALLS, DEFAULT_MARGIN, PERIOD
from airflow_provider_trafficstars.client.cache._lease_record import LeaseTimings
from airflow_provider_trafficstars.client.http._waits import Backoff


@dataclass(frozen=True)
class ClientConfig:
    """Settings of one client, usually read from an Airflow connection.

    :param base_url: e.g. ``https://api.trafficstars.com``.
    :param api_key: the TrafficStars API key (never shown by ``repr``).
    :param timeout: seconds one attempt of a call may take, from connect to the last byte.
    :param max_retries: retries after the first attempt for 429, 5xx and connection errors.
    :param refresh_margin: renew this many seconds before expiry (at most half the token's lifetime).
    :param backoff_base: first backoff wait in seconds; exponential with jitter.
    :param backoff_max: longest single backoff wait in seconds.
    :param backoff_budget: most seconds one call may take, all attempts and waits together.
    :param single_flight: renew a stale token in one process while the others wait for it.
    :param lease: the delays of that lease.
    :param rate_limit: calls per ``rate_period`` the account may receive, all processes together (0: no limit).
    :param rate_period: the window of ``rate_limit`` in seconds (the server's: 60).
    :param rate_margin: seconds added to that window before a call's slot is reused.
    :param report_timezone: IANA zone in which the account's report days start.
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = 30.0
    max_retries: int = 5
    refresh_margin: float = 300.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    backoff_budget: float = 120.0
    single_flight: bool = True
    lease: LeaseTimings = field(default_factory=LeaseTimings)
    rate_limit: int = DEFAULT_CALLS
    rate_period: float = PERIOD
    rate_margin: float = DEFAULT_MARGIN
    report_timezone: str = "UTC"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.base_url, self.api_key)

    @property
    def rate_window(self) -> float:
        """Seconds after which the server's rate-limit window has surely rolled over (its period and our
        margin: the one window of the budget and of the retries after a 429 without ``Retry-After``)."""
        return self.rate_period + self.rate_margin

    @property
    def backoff(self) -> Backoff:
        """Return the wait rule of this client's retries."""
        return Backoff(base=self.backoff_base, cap=self.backoff_max, retries=self.max_retries, window=self.rate_window)
