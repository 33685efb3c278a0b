"""State and deterministic data of the TrafficStars emulator (stdlib only, no Airflow).

:class:`EmulatorState` holds everything the emulated API remembers (API keys, issued tokens,
revocations, injected faults, the request log and counters) behind ONE lock, so the HTTP
handler threads and the test thread can share it safely. Routing lives in ``emulator_http.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable

#: Paths under this prefix are control endpoints: not logged, not counted, never faulted.
CONTROL_PREFIX = "/_emulator/"
#: The request log keeps at most this many entries (counters stay exact).
MAX_LOG_ENTRIES = 100_000
#: Where a redirect fault sends the client unless told otherwise: another host than the emulator.
TOKEN_PATH = "/v1/auth/token"
REDIRECT_LOCATION = "http://other.example/x"
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class ApiError(Exception):
    """A request the emulated API refuses: ``status``, an OAuth-style ``error`` code, a description and
    any extra response ``headers`` (``Allow`` on a 405, say). Every emulator module raises this one type."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.headers = headers or {}


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request the emulator received (control requests excluded).

    ``status`` is the answered status code, ``0`` when the connection was dropped on purpose.
    ``headers`` keep the names as the client sent them. ``at`` is the emulator clock.
    """

    method: str
    path: str
    query: str
    status: int
    headers: dict[str, str]
    body: bytes
    at: float

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default

    def __repr__(self) -> str:  # never show credentials (pytest prints reprs on failure)
        shown = {k: ("<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in self.headers.items()}
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, query=<{len(self.query)} chars>, "
            f"status={self.status}, headers={shown!r}, body=<{len(self.body)} bytes>, at={self.at!r})"
        )


class IssuedToken(NamedTuple):
    api_key: str
    issued_at: float
    expires_at: float


@dataclass
class FaultRule:
    """An injected fault: ``kind`` is ``"fail"`` (answer status/body), ``"drop"`` (close the socket),
    ``"truncate"`` (announce the whole body, send half of it, close the socket) or ``"redirect"`` (answer
    the 3xx ``status`` with ``Location: location`` and an empty body)."""

    kind: str
    remaining: int
    status: int = 503
    retry_after: str | None = None
    path: str | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    location: str | None = None
    method: str | None = None  # None: any method (a GET and a PATCH of one path are told apart)


@dataclass(frozen=True)
class TokenOverride:
    body: bytes
    status: int
    content_type: str


@dataclass(repr=False)
class EmulatorState:
    """Everything the emulator remembers. All public methods take the single ``lock``."""

    api_keys: set[str]
    token_lifetime: int = 36000
    rate_limit: tuple[int, float] | None = None
    rate_retry_after: bool = True
    rate_limited_answers: int = 0
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    faults: list[FaultRule] = field(default_factory=list)
    latency: dict[str | None, float] = field(default_factory=dict)
    trickle: dict[str | None, float] = field(default_factory=dict)
    token_override: TokenOverride | None = None
    echo_secrets: bool = False
    forbidden: dict[str, int] = field(default_factory=dict)
    clock_offset: float = 0.0
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    log: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=MAX_LOG_ENTRIES))
    _window: deque[float] = field(default_factory=deque)

    def __repr__(self) -> str:
        counts = f"keys={len(self.api_keys)}, tokens={len(self.tokens)}, revoked={len(self.revoked)}"
        return f"EmulatorState({counts})"

    # -- clock ------------------------------------------------------------------------------
    def _now(self) -> float:  # caller holds the lock
        return self.clock() + self.clock_offset

    def advance(self, seconds: float) -> None:
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError("seconds must be a finite number >= 0")
        with self.lock:
            self.clock_offset += seconds

    # -- keys and tokens ----------------------------------------------------------------------
    def add_api_key(self, key: str) -> None:
        if not key:
            raise ValueError("API key must not be empty")
        with self.lock:
            self.api_keys.add(key)

    def remove_api_key(self, key: str) -> None:
        """Forget a key: new token requests with it get 401; tokens already issued stay valid."""
        with self.lock:
            self.api_keys.discard(key)

    def is_known_key(self, key: str) -> bool:
        with self.lock:
            return key in self.api_keys

    def issue_token(self, api_key: str) -> tuple[str, IssuedToken]:
        """Issue a NEW access token (earlier ones stay valid until they expire)."""
        with self.lock:
            now = self._now()
            token = secrets.token_urlsafe(32)
            record = IssuedToken(api_key, now, now + self.token_lifetime)
            self.tokens[token] = record
            return token, record

    def valid_token(self, token: str) -> IssuedToken | None:
        """The token's record when it is known, not revoked and not expired, else ``None``."""
        with self.lock:
            record = self.tokens.get(token)
            if record is None or token in self.revoked or self._now() >= record.expires_at:
                return None
            return record

    def remaining_seconds(self, record: IssuedToken) -> int:
        with self.lock:
            return max(0, int(record.expires_at - self._now()))

    def revoke(self, token: str) -> None:
        with self.lock:
            if token in self.tokens:
                self.revoked.add(token)

    def revoke_all(self) -> None:
        with self.lock:
            self.revoked.update(self.tokens)

    # -- faults -------------------------------------------------------------------------------
    def add_fault(self, rule: FaultRule) -> None:
        if rule.remaining < 0:
            raise ValueError("n must be >= 0")
        if rule.kind in ("fail", "truncate") and not 200 <= rule.status <= 599:
            raise ValueError("status must be a final HTTP status code (200-599)")
        if rule.kind == "redirect" and not 300 <= rule.status <= 399:
            raise ValueError("status must be a redirect status code (300-399)")
        if rule.kind == "redirect" and (not rule.location or not rule.location.isprintable()):
            raise ValueError("location must be a non-empty header value without control characters")
        if rule.remaining:
            with self.lock:
                self.faults.append(rule)

    def take_fault(self, path: str, method: str | None = None) -> FaultRule | None:
        """Consume one use of the first queued rule that matches ``path`` (and ``method``, if the rule names one)."""
        with self.lock:
            for index, rule in enumerate(self.faults):
                if (rule.path is None or rule.path == path) and (rule.method is None or rule.method == method):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del self.faults[index]
                    return rule
            return None

    def set_latency(self, seconds: float, path: str | None) -> None:
        """Wait ``seconds`` before answering a call to ``path`` (every path: ``None``); 0 removes it."""
        self._set_per_path(self.latency, seconds, path)

    def latency_for(self, path: str) -> float:
        """Path-specific latency if set, else the global one."""
        return self._per_path(self.latency, path)

    def set_trickle(self, seconds_per_byte: float, path: str | None) -> None:
        """Send answer bodies on ``path`` (every path: ``None``) one byte at a time; 0 removes it."""
        self._set_per_path(self.trickle, seconds_per_byte, path)

    def trickle_for(self, path: str) -> float:
        """Path-specific pause between body bytes if set, else the global one."""
        return self._per_path(self.trickle, path)

    def _set_per_path(self, table: dict[str | None, float], seconds: float, path: str | None) -> None:
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError("seconds must be a finite number >= 0")
        with self.lock:
            if seconds == 0:
                table.pop(path, None)
            else:
                table[path] = seconds

    def _per_path(self, table: dict[str | None, float], path: str) -> float:
        with self.lock:
            return table.get(path, table.get(None, 0.0))

    def set_token_override(self, override: TokenOverride | None) -> None:
        with self.lock:
            self.token_override = override

    def get_token_override(self) -> TokenOverride | None:
        with self.lock:
            return self.token_override

    def set_echo_secrets(self, on: bool) -> None:
        with self.lock:
            self.echo_secrets = on

    def echoing(self) -> bool:
        with self.lock:
            return self.echo_secrets

    def set_rate_limit(self, rate_limit: tuple[int, float] | None, *, retry_after: bool = True) -> None:
        """Limit requests to ``(count, window seconds)``; ``None`` lifts the limit.

        :param retry_after: whether its 429 answers say ``Retry-After`` (an API may omit it).
        """
        if rate_limit is not None and (rate_limit[0] < 1 or not 0 < rate_limit[1] < math.inf):
            raise ValueError("rate_limit must be (requests >= 1, finite window seconds > 0)")
        with self.lock:
            self.rate_limit = rate_limit
            self.rate_retry_after = retry_after
            self._window.clear()

    def rate_limited(self) -> dict[str, str] | None:
        """Register one request; return the headers of a 429 when it exceeds the rate limit, else None."""
        with self.lock:
            if self.rate_limit is None:
                return None
            limit, window = self.rate_limit
            now = self._now()
            while self._window and self._window[0] <= now - window:
                self._window.popleft()
            if len(self._window) >= limit:
                self.rate_limited_answers += 1
                after = max(1, math.ceil(self._window[0] + window - now))
                return {"Retry-After": str(after)} if self.rate_retry_after else {}
            self._window.append(now)
            return None

    def forbid(self, path: str, status: int | None) -> None:
        """Answer ``status`` to valid tokens on ``path`` (an endpoint the key may not use); None lifts it."""
        if status is not None and not 400 <= status <= 499:
            raise ValueError("status must be a 4xx code")
        with self.lock:
            if status is None:
                self.forbidden.pop(path, None)
            else:
                self.forbidden[path] = status

    def forbidden_status(self, path: str) -> int | None:
        with self.lock:
            return self.forbidden.get(path)

    # -- log and counters ---------------------------------------------------------------------
    def count_request(self, method: str, path: str) -> float:
        """Count a received request; returns its arrival time on the emulator clock."""
        with self.lock:
            key = (method.upper(), path)
            self.counters[key] = self.counters.get(key, 0) + 1
            return self._now()

    def record(self, entry: RecordedRequest) -> None:
        with self.lock:
            self.log.append(entry)

    def request_log(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self.log)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        wanted = method.upper() if method is not None else None
        with self.lock:
            return sum(
                n
                for (m, p), n in self.counters.items()
                if (wanted is None or m == wanted) and (path is None or p == path)
            )

    def issued_tokens(self) -> list[str]:
        with self.lock:
            return list(self.tokens)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            now = self._now()
            active = sum(1 for t, r in self.tokens.items() if t not in self.revoked and now < r.expires_at)
            return {
                "token_requests": self.counters.get(("POST", "/v1/auth/token"), 0),
                "answers_429": self.rate_limited_answers,
                "counts": {f"{m} {p}": n for (m, p), n in sorted(self.counters.items())},
                "issued_tokens": len(self.tokens),
                "active_tokens": active,
                "revoked_tokens": len(self.revoked),
            }

    def reset(self) -> None:
        """Clear log, counters, tokens, faults, latency, trickle, overrides and the clock offset (keys stay)."""
        with self.lock:
            self.tokens.clear()
            self.revoked.clear()
            self.faults.clear()
            self.latency.clear()
            self.trickle.clear()
            self.token_override = None
            self.echo_secrets = False
            self.forbidden.clear()
            self.clock_offset = 0.0
            self.counters.clear()
            self.rate_limited_answers = 0
            self.log.clear()
            self._window.clear()


# -- data ------------------------------------------------------------------------------------------
def new_api_key() -> str:
    """Return a random, recognisable API key (``tsk-`` + 32 hex digits), so a leak is found by searching."""
    return "tsk-" + secrets.token_hex(16)


def _digest(*parts: object) -> int:
    text = ":".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def fake_id_token(access_token: str, record: IssuedToken) -> str:
    """A large (~2 KB) JWT-shaped string. It carries no secret: ``sub`` is a hash of the key."""
    header = {"alg": "RS256", "typ": "JWT", "kid": "emulator-" + _b64url(secrets.token_bytes(12))}
    payload = {
        "iss": "https://api.trafficstars.com/",
        "aud": "trafficstars-api",
        "sub": hashlib.sha256(record.api_key.encode()).hexdigest()[:24],
        "iat": int(record.issued_at),
        "exp": int(record.expires_at),
        "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
        "scope": ["advertiser", "campaigns:read", "reports:read", "reports:custom", "profile", "email"],
        "emulator": True,
        "nonce": _b64url(secrets.token_bytes(512)),
    }
    parts = (json.dumps(header).encode(), json.dumps(payload).encode(), secrets.token_bytes(512))
    return ".".join(_b64url(part) for part in parts)
