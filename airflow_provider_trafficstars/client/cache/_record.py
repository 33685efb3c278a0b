"""Where the token record lives between tasks: the TokenCache protocol and its two implementations.

``VariableTokenCache`` keeps the record in an Airflow Variable (shared by every task and worker), and the
renewal lease of :mod:`~airflow_provider_trafficstars.client.cache._lease` next to it, through a small ``VariableStore``
given to it by the hook, so this module imports nothing from Airflow. ``MemoryTokenCache`` keeps it in a
dict of the caller's (tests, and a connection test that must not touch shared state).
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

#: The renewal lease of a token Variable lives in the Variable ``<token variable><LEASE_SUFFIX>``.
LEASE_SUFFIX = "_lease"


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


class MemoryTokenCache:
    """Keep the record in a dict of the caller's (no lease: the process lock is enough).

    :param key: the record's key.
    :param store: the dict that holds it.
    """

    def __init__(self, key: str, store: dict[str, str]) -> None:
        self.key = key
        self._store = store
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryTokenCache(key={self.key!r})"

    def load(self) -> str | None:
        with self._lock:
            return self._store.get(self.key)

    def save(self, record: str) -> None:
        with self._lock:
            self._store[self.key] = record

    def clear(self) -> None:
        with self._lock:
            self._store.pop(self.key, None)


class VariableTokenCache:
    """Keep the record in an Airflow Variable shared by every task and worker, and the lease beside it.

    Any store failure is logged once as a warning and the cache then stays out of the way: the client
    keeps its token in memory and the task goes on. After each write the value is read back, so that a
    Variable shadowed by an ``AIRFLOW_VAR_...`` environment variable or a secrets backend is reported
    instead of silently costing a new token in every task (not when the read just before found no value:
    a shadowed Variable always has one).

    :param key: the Variable key.
    :param store: the Variable operations for the current context.
    """

    def __init__(self, key: str, store: VariableStore) -> None:
        self.key = key
        self.lease_key = key + LEASE_SUFFIX
        self._store = store
        self._broken = False
        self._warned_shadow = False
        self._last_read_empty = False

    def __repr__(self) -> str:
        return f"VariableTokenCache(key={self.key!r})"

    @property
    def available(self) -> bool:
        """Return False once the Variable store has failed (the client then keeps the token in memory)."""
        return not self._broken

    def _fail(self, action: str, key: str, exc: BaseException) -> None:
        if not self._broken:
            # The exception type says enough; its text could echo the value we tried to write.
            log.warning(
                "Could not %s the token cache Variable %r (%s); keeping the TrafficStars token in memory for this "
                "task only. Other tasks will renew their own token until the Variable store is reachable again.",
                action,
                key,
                type(exc).__name__,
            )
        self._broken = True

    def _get(self, key: str) -> str | None:
        if self._broken:
            return None
        try:
            value = self._store.get(key)
        except Exception as exc:
            self._fail("read", key, exc)
            return None
        return value if isinstance(value, str) else None

    def _set(self, key: str, value: str) -> bool:
        if self._broken:
            return False
        try:
            self._store.set(key, value)
        except Exception as exc:
            self._fail("write", key, exc)
            return False
        return True

    def _delete(self, key: str) -> None:
        if self._broken:
            return
        try:
            self._store.delete(key)
        except Exception as exc:
            self._fail("delete", key, exc)

    def load(self) -> str | None:
        value = self._get(self.key)
        self._last_read_empty = value is None and not self._broken
        return value

    def save(self, record: str) -> None:
        if not self._set(self.key, record):
            return
        if self._last_read_empty:
            self._last_read_empty = False
            return
        seen = self._get(self.key)
        if not self._broken and seen != record and not self._warned_shadow:
            self._warned_shadow = True
            log.warning(
                "The token cache Variable %r was written but reads back a different value: an "
                "AIRFLOW_VAR_%s environment variable or a secrets backend shadows it. Remove that "
                "definition (or set the connection extra 'cache_variable' to another key), otherwise "
                "every task renews its own token.",
                self.key,
                self.key.upper(),
            )

    def clear(self) -> None:
        self._delete(self.key)

    # -- the renewal lease (see lease.SingleFlight) -----------------------------------------------
    def load_lease(self) -> str | None:
        return self._get(self.lease_key)

    def save_lease(self, record: str) -> None:
        self._set(self.lease_key, record)

    def clear_lease(self) -> None:
        self._delete(self.lease_key)
