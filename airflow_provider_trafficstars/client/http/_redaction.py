"""What never leaves the provider: scrubbing secrets out of text before it reaches an error or a log.

One place for every caller (the client's errors, the emulator-facing tests, the operators). No Airflow imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Fields of an auth answer that hold secrets: each is registered with the masker the moment it arrives.
SECRET_FIELDS = ("access_token", "refresh_token", "id_token")
EXCERPT_CHARS = 300

_SECRET_FIELD = re.compile(
    r"""(?P<key>["']?(?:access_token|refresh_token|id_token|token|api_key|apikey|password|secret)["']?"""
    r"""\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"'&,}\s]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


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
