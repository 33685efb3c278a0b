"""The emulator's inspection and fault switches, apart from its server (so the request handler and the
control endpoint can name the emulator's type without importing the module that starts the server)."""

from __future__ import annotations

from airflow_provider_trafficstars.testing import _reports
from airflow_provider_trafficstars.testing._campaigns import CampaignStore
from airflow_provider_trafficstars.testing._state import (
    REDIRECT_LOCATION,
    TOKEN_PATH,
    EmulatorState,
    FaultRule,
    RecordedRequest,
    TokenOverride,
)


class EmulatorSwitches:
    """What a test reads and switches on the emulator: its state, campaigns and report switches."""

    state: EmulatorState
    campaigns: CampaignStore
    reports: _reports.ReportState

    # -- inspection ----------------------------------------------------------------------------
    @property
    def campaign_ids(self) -> list[int]:
        """The ids of the account's campaigns (the reports have rows for these)."""
        return self.campaigns.ids()

    def request_log(self) -> list[RecordedRequest]:
        return self.state.request_log()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return self.state.count(method, path)

    @property
    def token_requests(self) -> int:
        return self.state.count("POST", TOKEN_PATH)

    @property
    def issued_tokens(self) -> list[str]:
        return self.state.issued_tokens()

    # -- control -------------------------------------------------------------------------------
    def reset(self) -> None:
        self.state.reset()
        self.campaigns.reset()
        self.reports.reset()

    def add_api_key(self, key: str) -> None:
        self.state.add_api_key(key)

    def remove_api_key(self, key: str) -> None:
        self.state.remove_api_key(key)

    def revoke_all(self) -> None:
        self.state.revoke_all()

    def advance(self, seconds: float) -> None:
        self.state.advance(seconds)

    def fail_next(
        self,
        n: int,
        status: int = 503,
        *,
        retry_after: str | None = None,
        path: str | None = None,
        body: str | bytes | None = None,
        content_type: str = "application/json",
        method: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching calls (any path, or ``path``; any method, or ``method``) with ``status``."""
        raw, verb = _bytes(body), method and method.upper()
        self.state.add_fault(FaultRule("fail", n, status, retry_after, path, raw, content_type, method=verb))

    def drop_next(self, n: int, *, path: str | None = None) -> None:
        self.state.add_fault(FaultRule("drop", n, path=path))

    def truncate_next(self, n: int, *, path: str | None = None, body: str | bytes | None = None) -> None:
        """Answer the next ``n`` matching calls with 200, a full Content-Length and only half the body."""
        self.state.add_fault(FaultRule("truncate", n, 200, path=path, body=_bytes(body)))

    def redirect_next(
        self, n: int, *, path: str | None = None, status: int = 307, location: str = REDIRECT_LOCATION
    ) -> None:
        """Answer the next ``n`` matching calls with the 3xx ``status``, ``Location: location`` and no body."""
        self.state.add_fault(FaultRule("redirect", n, status, path=path, location=location))

    def set_latency(self, seconds: float, *, path: str | None = None) -> None:
        """Wait ``seconds`` before answering each call to ``path`` (every path: ``None``).

        A path's own setting wins over the one for every path; 0 removes it. The wait ends when the emulator
        stops (the call then gets no answer).
        """
        self.state.set_latency(seconds, path)

    def trickle(self, seconds_per_byte: float, *, path: str | None = None) -> None:
        """Send each answer's body on ``path`` (every path: ``None``) one byte at a time; 0 removes it.

        The headers (with the whole body's Content-Length) go out at once, then ``seconds_per_byte`` passes
        before each further byte: a client whose timeout bounds each read, not the whole call, waits about
        ``len(body) * seconds_per_byte``. The pauses end when the emulator stops.
        """
        self.state.set_trickle(seconds_per_byte, path)

    def set_rate_limit(self, rate_limit: tuple[int, float] | None, *, retry_after: bool = True) -> None:
        """Answer 429 once more than ``count`` calls arrive within ``window`` seconds.

        :param retry_after: whether the 429 says ``Retry-After`` (the seconds until a call leaves the window).
        """
        self.state.set_rate_limit(rate_limit, retry_after=retry_after)

    def forbid(self, path: str, status: int | None = 401) -> None:
        """Answer ``status`` to every call with a valid token on ``path``: an endpoint the API key may not use.

        A missing or invalid token still gets the usual 401 ``invalid_token``; ``status=None`` lifts the switch.
        """
        self.state.forbid(path, status)

    def set_token_response(
        self, body: str | bytes | None, *, status: int = 200, content_type: str = "application/json"
    ) -> None:
        raw = _bytes(body)
        self.state.set_token_override(None if raw is None else TokenOverride(raw, status, content_type))

    def echo_secrets_in_errors(self, on: bool = True) -> None:
        self.state.set_echo_secrets(on)


def _bytes(body: str | bytes | None) -> bytes | None:
    return body.encode() if isinstance(body, str) else body
