"""Small HTTP helpers shared by the sync client and the async trigger: no Airflow, no state."""

from __future__ import annotations

import email.utils
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pendulum import DateTime

from airflow_provider_trafficstars.connection_fields import DEFAULT_BASE_URL
from airflow_provider_trafficstars.exceptions import TrafficStarsApiError, TrafficStarsConfigError

TOKEN_PATH = "/v1/auth/token"
INFO_PATH = "/v1/auth/info"
LOGOUT_PATH = "/v1/auth/logout"
AUTH_PATHS = frozenset({TOKEN_PATH, INFO_PATH, LOGOUT_PATH})
#: Methods that are safe to send twice (RFC 9110 9.2.2); others are retried after 5xx / read timeouts only
#: when the caller says the call is idempotent (``idempotent=True``, e.g. a PATCH that sets fields).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
EXCERPT_CHARS = 300

_SECRET_FIELD = re.compile(
    r"""(?P<key>["']?(?:access_token|refresh_token|id_token|token|api_key|apikey|password|secret)["']?"""
    r"""\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"'&,}\s]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def _is_host_name(name: str) -> bool:
    """Return True for a DNS name (ASCII labels) or an IPv6 literal; urlsplit accepts far more."""
    if ":" in name:
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return False
        return True
    return len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in name.removesuffix(".").split("."))


def normalize_base_url(host: str | None, *, port: int | None = None, conn_id: str = "?") -> str:
    """Turn a connection's host (and port) into a base URL such as ``https://api.trafficstars.com``.

    :raises TrafficStarsConfigError: for a scheme other than http/https or a URL without a host name.
    """
    raw = (host or "").strip()
    if not raw.rstrip("/"):
        return DEFAULT_BASE_URL
    if "://" not in raw:
        raw = f"https://{raw}"
    # Strip trailing slashes only now: "http://" must stay a URL without a host, not become "https://http:".
    raw = raw.rstrip("/")
    unusable = TrafficStarsConfigError(
        f"Connection {conn_id!r}: host is not a usable URL; set it to the API's base URL such as "
        f"{DEFAULT_BASE_URL} (or leave it empty for that default)."
    )
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise unusable
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise unusable from None
    if parts.scheme.lower() not in ("http", "https"):
        raise TrafficStarsConfigError(
            f"Connection {conn_id!r}: host must be an http:// or https:// URL such as "
            f"{DEFAULT_BASE_URL}, not a {parts.scheme}:// URL."
        )
    try:
        url_port = parts.port
    except ValueError:
        url_port = -1
    if not parts.hostname or url_port == -1 or parts.query or parts.fragment or "@" in parts.netloc:
        raise unusable
    if not _is_host_name(parts.hostname):  # e.g. "%" or "¡": requests would refuse it on every call
        raise unusable
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path}".rstrip("/")


def join_endpoint(base_url: str, endpoint: str) -> tuple[str, str]:
    """Return ``(url, path)`` for an endpoint given as a path or as a URL on ``base_url``.

    A URL on any other host is refused: the bearer token must never be sent anywhere else.
    """
    endpoint = endpoint.strip()
    if "://" in endpoint:
        if not endpoint.startswith(base_url + "/"):
            raise TrafficStarsConfigError(
                "endpoint must be a path such as /v1.1/campaigns (or a URL on the connection's host); "
                "refusing to send the TrafficStars token to another host."
            )
        endpoint = endpoint[len(base_url) :]
    path = "/" + endpoint.lstrip("/")
    base_path = urlsplit(base_url).path
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return base_url + path, path.split("?", 1)[0]


def encode_params(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> list[tuple[str, str]] | None:
    """Encode query parameters; a list or tuple value ``v`` of ``name`` becomes ``name[]=v1&name[]=v2``."""
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for name, value in items:
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            key = name if name.endswith("[]") else f"{name}[]"
            out.extend((key, _param_text(v)) for v in value)
        else:
            out.append((name, _param_text(value)))
    return out


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_retry_after(value: str | None, now: DateTime) -> float | None:
    """Return the seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now.timestamp())


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every known secret and anything that looks like a credential replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _SECRET_FIELD.sub(lambda m: f"{m['key']}{m['quote']}***", text)
    return _BEARER.sub(r"\1***", text)


def body_excerpt(body: bytes | str, secrets: Iterable[str | None]) -> str:
    """Return a short, printable, scrubbed excerpt of an answer body for error messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    # Scrub before cutting, so a secret cannot survive half-cut at the edge.
    text = scrub(text, secrets)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def error_code(body: bytes | str) -> str | None:
    """Return the OAuth ``error`` code of a JSON error answer (e.g. ``invalid_grant``), if it has one."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None
    code = data.get("error") if isinstance(data, dict) else None
    if isinstance(code, str) and re.fullmatch(r"[a-z_]{1,64}", code):
        return code
    return None


#: Fields of an auth answer that hold secrets: each is registered with the masker the moment it arrives.
SECRET_FIELDS = ("access_token", "refresh_token", "id_token")


def parse_session_info(body: bytes, status_code: int) -> tuple[dict[str, Any], list[str]]:
    """Return the session info object of a ``POST /v1/auth/info`` answer and the secrets it holds.

    :raises TrafficStarsApiError: when the answer is not a JSON object.
    """
    try:
        info = json.loads(body)
    except (ValueError, TypeError, RecursionError):  # RecursionError: deeply nested JSON
        info = None
    if not isinstance(info, dict):
        raise TrafficStarsApiError(
            "The TrafficStars session info answer is not a JSON object.",
            status_code=status_code,
            method="POST",
            endpoint=INFO_PATH,
        )
    return info, [info[name] for name in SECRET_FIELDS if isinstance(info.get(name), str)]
