"""What the single-flight lease is made of: its record in the shared store, its timings, the store's lease
interface, and the lock that serialises one process's clients of a key. No I/O beyond the store, no Airflow.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# One lock per cache key in this process, shared by every client on that key; gone with its last client.
_LOCKS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


_LOCKS_GUARD = threading.Lock()


def process_lock(key: str) -> Any:
    """Return this process's renewal lock of a cache key (threads renew one at a time, re-checking first)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.RLock()
        return lock


@runtime_checkable
class LeaseCache(Protocol):
    """The part of a token cache that keeps a lease record (``MemoryTokenCache`` has none: no lease)."""

    key: str

    @property
    def available(self) -> bool:
        """Return False once the store has failed; the lease is then skipped."""

    def load_lease(self) -> str | None:
        """Return the stored lease record, or None; failures are logged, never raised."""

    def save_lease(self, record: str) -> None:
        """Store the lease record; failures are logged, never raised."""

    def clear_lease(self) -> None:
        """Remove the lease record; failures are logged, never raised."""


@dataclass(frozen=True)
class LeaseTimings:
    """The delays of the renewal lease, in seconds (how they were tuned: ``benchmarks/RESULTS.md``).

    :param jitter: a random wait up to this long before looking for a lease, so that of many processes
        that found the token stale at once, most see the first one's lease instead of all writing their own.
    :param settle_min: shortest wait between writing the lease and reading it back.
    :param settle_factor: the settle wait is this many times as long as the lease write took.
    :param settle_max: longest settle wait.
    :param ttl: a lease whose record has not changed for this long, on the reader's clock, is dead: the
        documented takeover time of a crashed holder.
    :param beat: the holder rewrites its lease this often while it renews (well below ``ttl``).
    :param poll: the first wait of a waiting process between two looks; each further one is 1.5 times longer.
    :param poll_max: the longest wait between two looks.
    :param rounds: how many leases a process waits for, or contends for, before renewing by itself.
    :param max_wait: the longest a process waits for one lease, even one that keeps beating.
    """

    jitter: float = 0.1
    settle_min: float = 0.1
    settle_factor: float = 3.0
    settle_max: float = 1.0
    ttl: float = 5.0
    beat: float = 1.0
    poll: float = 0.05
    poll_max: float = 0.8
    rounds: int = 4
    max_wait: float = 600.0


@dataclass(frozen=True)
class Lease:
    """A lease record: who renews, its heartbeat count, whether it is done. It never holds a secret."""

    holder: str
    beat: int = 0
    done: bool = False

    def to_record(self) -> str:
        return json.dumps({"holder": self.holder, "beat": self.beat, "done": self.done})

    @classmethod
    def from_record(cls, raw: object) -> Lease | None:
        """Parse a lease record; None for anything unusable (no lease), never raise."""
        if not isinstance(raw, str):
            return None
        try:
            data = json.loads(raw)
            holder, beat, done = data["holder"], data.get("beat", 0), data.get("done", False)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None
        if not isinstance(holder, str) or not isinstance(done, bool) or type(beat) is not int:
            return None
        return cls(holder, beat, done)
