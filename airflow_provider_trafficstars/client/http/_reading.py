"""Reading one answer within its attempt's deadline, and naming what went wrong when none arrived.

:func:`read_within` reads a streamed body with every socket read bounded by the time left (a trickling
server is cut at the deadline, not after minutes); :func:`transport_kind` names a failure
(``tls``, ``connect``, ``timeout``, ``reset``). No Airflow imports.
"""

from __future__ import annotations

import time

import requests
import urllib3

_CHUNK = 65536


class DeadlineExceeded(Exception):
    """The attempt's deadline passed while the answer was still arriving."""


def transport_kind(exc: BaseException) -> str:
    """Return ``"tls"``, ``"connect"`` (nothing was sent), ``"timeout"`` or ``"reset"`` for a transport error."""
    if isinstance(exc, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
        return "tls"
    if isinstance(exc, requests.ConnectTimeout):
        return "connect"
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | DeadlineExceeded):
        return "timeout"
    # requests wraps urllib3's errors: walk the chain of reasons and causes and decide by type.
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or current in seen or len(seen) > 20:
            continue
        seen.append(current)
        if isinstance(current, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return "connect"
        todo.extend([getattr(current, "reason", None), current.__cause__, current.__context__, *current.args])
    return "reset"


def read_within(resp: requests.Response, deadline: float, *, has_body: bool = True) -> None:
    """Read the whole body before ``deadline`` (each read waits at most the time left), or raise.

    :param has_body: False for an answer that has none by definition (204, 304, a HEAD): whatever arrives
        is read (so that the connection can be reused) and dropped.
    """
    raw = resp.raw
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded()
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(left)
            chunk = raw.read1(_CHUNK, decode_content=True) if hasattr(raw, "read1") else raw.read(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
    except BaseException:
        resp.close()
        raise
    resp._content = b"".join(chunks) if has_body else b""
    resp._content_consumed = True  # type: ignore[attr-defined]
    if hasattr(raw, "release_conn"):
        raw.release_conn()
