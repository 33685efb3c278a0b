"""Where the token record lives between tasks: the TokenCache protocol and its two implementations.

``VariableTokenCache`` keeps the record in an Airflow Variable (shared by every task and worker) through a
small ``VariableStore`` given to it by the hook, so this module imports nothing from Airflow.
``MemoryTokenCache`` keeps it in the process (tests, and the fallback when no Variable store is reachable).
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class TokenCache(Protocol):
    """Stores one raw token record (a JSON string) under one key."""

    key: str

    def load(self) -> str | None:
        """Return the stored record, or None when there is none (or it cannot be read)."""

    def save(self, record: str) -> None:
        """Store the record; failures are logged, never raised."""

    def clear(self) -> None:
        """Remove the record; failures are logged, never raised."""


class VariableStore(Protocol):
    """The three Variable operations the cache needs (see ``_compat.get_variable_store``)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


_MEMORY: dict[str, str] = {}
_MEMORY_LOCK = threading.Lock()


class MemoryTokenCache:
    """Keep the record in this process only.

    :param key: the record's key.
    :param store: where to keep it; by default one dict shared by the whole process.
    """

    def __init__(self, key: str, store: dict[str, str] | None = None) -> None:
        self.key = key
        self._store = _MEMORY if store is None else store

    def __repr__(self) -> str:
        return f"MemoryTokenCache(key={self.key!r})"

    def load(self) -> str | None:
        with _MEMORY_LOCK:
            return self._store.get(self.key)

    def save(self, record: str) -> None:
        with _MEMORY_LOCK:
            self._store[self.key] = record

    def clear(self) -> None:
        with _MEMORY_LOCK:
            self._store.pop(self.key, None)


class VariableTokenCache:
    """Keep the record in an Airflow Variable shared by every task and worker.

    Any store failure is logged once as a warning and the cache then stays out of the way: the client
    keeps its token in memory and the task goes on. After each write the value is read back, so that a
    Variable shadowed by an ``AIRFLOW_VAR_...`` environment variable or a secrets backend is reported
    instead of silently costing a new token in every task.

    :param key: the Variable key.
    :param store: the Variable operations for the current context.
    """

    def __init__(self, key: str, store: VariableStore) -> None:
        self.key = key
        self._store = store
        self._broken = False
        self._warned_shadow = False
        self.reads = 0
        self.writes = 0

    def __repr__(self) -> str:
        return f"VariableTokenCache(key={self.key!r})"

    @property
    def available(self) -> bool:
        """Return False once the Variable store has failed (the client then keeps the token in memory)."""
        return not self._broken

    def _fail(self, action: str, exc: BaseException) -> None:
        if not self._broken:
            # The exception type says enough; its text could echo the value we tried to write.
            log.warning(
                "Could not %s the token cache Variable %r (%s); keeping the TrafficStars token in memory "
                "for this task only. Other tasks will renew their own token until the Variable store "
                "is reachable again.",
                action,
                self.key,
                type(exc).__name__,
            )
        self._broken = True

    def load(self) -> str | None:
        if self._broken:
            return None
        self.reads += 1
        try:
            value = self._store.get(self.key)
        except Exception as exc:
            self._fail("read", exc)
            return None
        return value if isinstance(value, str) else None

    def save(self, record: str) -> None:
        if self._broken:
            return
        self.writes += 1
        try:
            self._store.set(self.key, record)
        except Exception as exc:
            self._fail("write", exc)
            return
        self.reads += 1
        try:
            seen = self._store.get(self.key)
        except Exception as exc:
            self._fail("read back", exc)
            return
        if seen != record and not self._warned_shadow:
            self._warned_shadow = True
            log.warning(
                "The token cache Variable %r was written but reads back a different value: an "
                "AIRFLOW_VAR_%s environment variable or a secrets backend shadows it. Remove that "
                "definition (or set the connection extra 'token_variable' to another key), otherwise "
                "every task renews its own token.",
                self.key,
                self.key.upper(),
            )

    def clear(self) -> None:
        if self._broken:
            return
        self.writes += 1
        try:
            self._store.delete(self.key)
        except Exception as exc:
            self._fail("delete", exc)
