"""The cursor of a report export, and what each run of it covered, in one shared record. No Airflow imports.

The record is a JSON string kept under one key of a small key-value store (an Airflow Variable, given by
the transfer through ``_compat.get_variable_store()``: the only store a task can reach under Airflow 3's
Task SDK)::

    {"cursor": "2026-10-25",
     "export": {"report": "advertiser/by-day", "destination": "s3://…/{day}.{ext}", ...},
     "runs": {"<dag_id>/<run_id>/<task_id>/<map_index>": {"first": …, "last": …, "to": …, "new": …, "at": …}}}

``cursor`` is the last day written, every day before it (since the export's first run) written too. A
run adds its entry under ``runs`` before it writes (a retry or a clear then covers the same days) and
moves ``cursor`` after every day is written. Only the newest :data:`RUNS_KEPT` entries are kept.

The store has no compare-and-set, so every change is a merge (cursor: the later day; runs: the union),
written, then read back after a short settle delay and written again while someone else's concurrent
write dropped it. Whatever the interleaving, the cursor is never ahead of the days written: each value
written is the later of a value read (true when read) and the writer's own days (written before). A
concurrent writer that is slower than the settle delay can only pull it back, which costs re-exports,
never a day.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_trafficstars.client.cache._record import VariableStore
from airflow_provider_trafficstars.client.reports._coverage import Coverage, next_cursor

log = logging.getLogger(__name__)

#: The Variable of an export's cursor is ``<CURSOR_PREFIX><16 hex digits>`` (see :func:`cursor_key`).
CURSOR_PREFIX = "trafficstars_report_cursor_"
#: How many runs' coverages a record remembers (the newest first tries).
RUNS_KEPT = 31


def cursor_key(*, account: str, report: str, destination: str, fmt: str, filters: Mapping[str, Any]) -> str:
    """Return the store key of an export: one account's report, filters and format at one destination.

    :param account: what names the account (the client config's fingerprint of base URL and API key).
    :param destination: the destination template as rendered for the run, ``{day}`` still in it.
    """
    identity = json.dumps([account, report, destination, fmt, dict(filters)], sort_keys=True, default=str)
    return CURSOR_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CursorRecord:
    """One export's cursor and the coverages its runs remember (``{run key: {first, last, to, new, at}}``)."""

    cursor: date | None = None
    runs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    export: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> CursorRecord:
        """Parse a stored record; an unusable one (or an unusable part) counts as absent, never raises."""
        try:
            data = json.loads(raw) if isinstance(raw, str) else None
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            if raw is not None:
                log.warning("The report cursor record is not what this provider writes; starting it afresh.")
            return cls()
        try:
            cursor = None if data.get("cursor") is None else date.fromisoformat(data["cursor"])
        except (TypeError, ValueError):
            cursor = None
        stored, export = data.get("runs"), data.get("export")
        runs = {
            str(key): entry
            for key, entry in (stored if isinstance(stored, dict) else {}).items()
            if isinstance(entry, dict) and isinstance(entry.get("at"), str)
        }
        return cls(cursor, runs, export if isinstance(export, dict) else {})

    def remembered(self, run_key: str | None) -> Coverage | None:
        """Return what the first try of a run covered, if this record remembers it (and it is usable)."""
        return None if run_key is None or run_key not in self.runs else Coverage.from_json(self.runs[run_key])

    def dump(self) -> str:
        cursor = None if self.cursor is None else self.cursor.isoformat()
        return json.dumps({"cursor": cursor, "export": dict(self.export), "runs": dict(self.runs)}, sort_keys=True)

    def merge(self, other: CursorRecord) -> CursorRecord:
        """Return both records in one: the later cursor, every run (its earliest entry, ours on a tie), the newest."""
        cursors = [c for c in (self.cursor, other.cursor) if c is not None]
        runs = dict(other.runs)
        for key, entry in self.runs.items():
            if key not in runs or entry["at"] <= runs[key]["at"]:
                runs[key] = entry
        kept = sorted(runs.items(), key=lambda item: (item[1]["at"], item[0]), reverse=True)[:RUNS_KEPT]
        return CursorRecord(max(cursors) if cursors else None, dict(kept), other.export or self.export)


class ExportCursor:
    """The shared record of one export, read and changed through a small key-value store.

    :param key: the store key (:func:`cursor_key`).
    :param store: ``get``/``set`` of a string under a key (an Airflow Variable in a task).
    :param export: a description of the export, kept in the record for people who look at it.
    :param clock: the current UTC time (when a run's entry was made).
    :param sleep: the wait of the settle delay.
    :param settle: seconds between a write and the read that checks it was not lost.
    :param rounds: most writes of one change.
    """

    def __init__(
        self,
        key: str,
        store: VariableStore,
        *,
        export: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
        settle: float = 0.1,
        rounds: int = 5,
    ) -> None:
        self.key = key
        self._store = store
        self._export = dict(export or {})
        self._clock = clock
        self._sleep = sleep
        self._settle = settle
        self._rounds = rounds

    def __repr__(self) -> str:
        return f"ExportCursor(key={self.key!r})"

    def load(self) -> CursorRecord:
        """Return the stored record (an empty one where there is none)."""
        return CursorRecord.parse(self._store.get(self.key))

    def remember(self, run_key: str, coverage: Coverage) -> None:
        """Keep what a run's first try covers, so that its retries and clears cover the same days."""
        if coverage.first is None:  # no days: nothing a retry would need
            return
        entry = {**coverage.to_json(), "at": self._clock().astimezone(timezone.utc).isoformat()}
        self._update(lambda record: record.merge(CursorRecord(runs={run_key: entry}, export=self._export)))

    def advance(self, coverage: Coverage) -> date | None:
        """Move the cursor over ``coverage``'s days, all of them written; return the cursor now stored."""

        def change(record: CursorRecord) -> CursorRecord:
            moved = next_cursor(record.cursor, coverage)
            return record if moved is None else record.merge(CursorRecord(cursor=moved, export=self._export))

        return self._update(change).cursor

    def _update(self, change: Callable[[CursorRecord], CursorRecord]) -> CursorRecord:
        """Apply a merge until a read after the settle delay shows it (at most ``rounds`` writes)."""
        current = self.load()
        for _ in range(self._rounds):
            wanted = change(current)
            if wanted == current:
                return current
            self._store.set(self.key, wanted.dump())
            self._sleep(self._settle)
            current = self.load()
        if change(current) != current:
            log.warning(
                "The report cursor %r keeps being overwritten by concurrent runs; a later run exports the same "
                "days again (nothing is lost).",
                self.key,
            )
        return current
