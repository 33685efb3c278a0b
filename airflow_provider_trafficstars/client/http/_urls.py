"""Where a call may go and what it may carry: base URL, endpoint path, query string, headers.

The bearer token is sent only to the connection's own host, on a path without ``.`` or ``..`` segments,
and never to the auth endpoints through the generic call; a header that could not be sent as it is (or
would inject another) is refused before anything is sent. No Airflow imports.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_provider_trafficstars.client.errors import TrafficStarsConfigError

#: The base URL of the TrafficStars API (the connection's host when it is empty).
DEFAULT_BASE_URL = "https://api.trafficstars.com"
TOKEN_PATH = "/v1/auth/token"
INFO_PATH = "/v1/auth/info"
LOGOUT_PATH = "/v1/auth/logout"
AUTH_PREFIX = "/v1/auth/"

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
# "http:/host", "https:host": a scheme without its "//", which urlsplit would read as a host named "http".
_BROKEN_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!//)(?!\d+(/|$))")


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

    :raises TrafficStarsConfigError: for a scheme other than http/https, a malformed scheme such as
        ``http:/host``, or a URL without a usable host name.
    """
    raw = (host or "").strip()
    if not raw.rstrip("/"):
        return DEFAULT_BASE_URL
    unusable = TrafficStarsConfigError(
        f"Connection {conn_id!r}: host is not a usable URL; set it to the API's base URL such as "
        f"{DEFAULT_BASE_URL} (or leave it empty for that default)."
    )
    if "://" not in raw:
        if _BROKEN_SCHEME.match(raw):
            raise unusable
        raw = f"https://{raw}"
    # Strip trailing slashes only now: "http://" must stay a URL without a host, not become "https://http:".
    raw = raw.rstrip("/")
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise unusable
    try:
        parts = urlsplit(raw)
        url_port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number
        raise unusable from None
    if parts.scheme.lower() not in ("http", "https"):
        raise TrafficStarsConfigError(
            f"Connection {conn_id!r}: host must be an http:// or https:// URL such as "
            f"{DEFAULT_BASE_URL}, not a {parts.scheme}:// URL."
        )
    if not parts.hostname or parts.query or parts.fragment or "@" in parts.netloc or parts.netloc.endswith(":"):
        raise unusable
    if not _is_host_name(parts.hostname):  # e.g. "%" or "¡": requests would refuse it on every call
        raise unusable
    netloc = parts.netloc
    if port and url_port is None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path}".rstrip("/")


def join_endpoint(base_url: str, endpoint: str) -> tuple[str, str]:
    """Return ``(url, path)`` for an endpoint given as a path (or a URL on ``base_url``), query included.

    Only the part before ``?`` decides where the call goes: a URL in a query value is just a value.

    :raises TrafficStarsConfigError: for a URL on another host, or a path with a ``.``/``..`` segment (a
        gateway would normalise ``/v1.1/../admin`` to ``/admin`` and receive the token there).
    """
    location, sep, query = endpoint.strip().partition("?")
    if "://" in location:
        if not (location + "/").startswith(base_url + "/"):
            raise TrafficStarsConfigError(
                "endpoint must be a path such as /v1.1/campaigns (or a URL on the connection's host); "
                "refusing to send the TrafficStars token to another host."
            )
        location = location[len(base_url) :]
    path = "/" + location.lstrip("/")
    if "\\" in path or "#" in path or any(unquote(seg) in (".", "..") for seg in path.split("/")):
        raise TrafficStarsConfigError(
            f"endpoint {path!r} has a '.' or '..' segment (or a backslash or '#'): give the plain path, such as "
            "/v1.1/campaigns; the token is never sent to a path a gateway could rewrite."
        )
    base_path = urlsplit(base_url).path
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return base_url + path + sep + query, path


def endpoint_path(endpoint: str) -> str:
    """Return the part of an endpoint that decides where a call goes (before ``?``), for messages."""
    return endpoint.strip().partition("?")[0]


def routed_path(path: str) -> str:
    """Return ``path`` as a server or gateway may route it: percent-escapes decoded (until none is left)
    and runs of slashes merged, as nginx does by default; lower-cased, since some servers ignore case."""
    for _ in range(5):  # %252f -> %2f -> /: stop once stable
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return re.sub(r"/{2,}", "/", path).lower()


def refuse_auth_path(path: str) -> None:
    """Raise when a generic call targets ``/v1/auth/*``, as a server would route it (:func:`routed_path`):
    its answers hold secrets (tokens) an XCom would keep.

    :raises TrafficStarsConfigError: naming the dedicated methods.
    """
    if (routed_path(path).rstrip("/") + "/").startswith(AUTH_PREFIX):
        raise TrafficStarsConfigError(
            f"{path} is an auth endpoint, whose answers hold tokens: use the dedicated methods instead "
            "(TrafficStarsHook.get_token / get_session_info / logout, or TrafficStarsRefreshTokenOperator, "
            "TrafficStarsSessionInfoOperator, TrafficStarsLogoutOperator)."
        )


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


def check_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Return the headers to send, or raise when one could not be sent as it is (or would inject another).

    :raises TrafficStarsConfigError: naming the header (never its value).
    """
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise TrafficStarsConfigError(f"Header name {name!r} is not a valid HTTP header name.")
        if not isinstance(value, str):
            raise TrafficStarsConfigError(f"Header {name!r} must be a string, got {type(value).__name__}.")
        if any(ch in value for ch in "\r\n\0") or not value.isprintable() or not value.isascii():
            raise TrafficStarsConfigError(
                f"Header {name!r} holds a line break or a non-printable or non-ASCII character: it cannot be sent."
            )
        if name.lower() != "authorization":  # the client sets that one
            out[name] = value
    return out
