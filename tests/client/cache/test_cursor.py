"""The export cursor's record and its merge-and-check writes (cursor.py), against a dict store and under races.

The races are real threads on one store whose every read, write and settle wait is released one at a time in
an order hypothesis chooses (deterministic: the same choices give the same interleaving), so every
interleaving of three concurrent runs can be tried without a clock or a sleep.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_trafficstars.client.cache import _cursor as cursor_module
from airflow_provider_trafficstars.client.cache._cursor import CursorRecord, ExportCursor, cursor_key
from airflow_provider_trafficstars.client.reports._coverage import Coverage
from tests.helpers import DictStore

D = date.fromisoformat
KEY = "trafficstars_report_cursor_test"
T0 = datetime(2026, 3, 10, 9, 30, tzinfo=timezone.utc)


def run(first: str, last: str, *, create: bool = True) -> Coverage:
    return Coverage(D(first), D(last), D(last), create, "cursor", True)


def test_the_key_names_the_export_and_nothing_secret() -> None:
    base = {"account": "fp", "report": "advertiser/by-day", "destination": "s3://b/{day}.{ext}", "fmt": "csv"}
    key = cursor_key(**base, filters={})
    assert key.startswith(cursor_module.CURSOR_PREFIX) and len(key) == len(cursor_module.CURSOR_PREFIX) + 16
    assert key == cursor_key(**base, filters={})
    others = [
        cursor_key(**{**base, "account": "fp2"}, filters={}),
        cursor_key(**{**base, "report": "advertiser/by-campaign"}, filters={}),
        cursor_key(**{**base, "destination": "s3://c/{day}.{ext}"}, filters={}),
        cursor_key(**{**base, "fmt": "jsonl"}, filters={}),
        cursor_key(**base, filters={"campaign_id": [1]}),
    ]
    assert len({key, *others}) == 6


def entry(first: str, last: str, at: str) -> dict[str, Any]:
    return {**run(first, last).to_json(), "at": at}


def test_a_record_round_trips_and_anything_unusable_counts_as_absent() -> None:
    record = CursorRecord(D("2026-03-09"), {"d/r/t/-1": entry("2026-03-01", "2026-03-09", T0.isoformat())}, {"a": 1})
    parsed = CursorRecord.parse(record.dump())
    assert parsed == record
    assert parsed.remembered("d/r/t/-1") == Coverage(
        D("2026-03-01"), D("2026-03-09"), D("2026-03-09"), True, "remembered"
    )
    assert parsed.remembered("other") is None and parsed.remembered(None) is None
    for raw in (None, "", "not json", "[]", "null", json.dumps({"cursor": "03/09/2026", "runs": [1]})):
        assert CursorRecord.parse(raw) == CursorRecord()
    broken = CursorRecord.parse(json.dumps({"cursor": "2026-03-09", "runs": {"x": {"first": "2026-03-09"}, "y": "z"}}))
    assert broken == CursorRecord(D("2026-03-09"))
    odd = CursorRecord.parse(json.dumps({"runs": {"x": {"first": "2026-03-09", "at": "t"}}}))
    assert odd.remembered("x") is None  # kept (it has a time) but never used: decided afresh


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
@settings(max_examples=150, deadline=None, derandomize=True)
def test_parsing_any_json_never_raises(value: Any) -> None:
    for raw in (json.dumps(value), json.dumps({"cursor": value, "runs": {"k": value}, "export": value})):
        CursorRecord.parse(raw)


def test_merge_keeps_the_later_cursor_each_runs_first_entry_and_the_newest_runs() -> None:
    a = CursorRecord(D("2026-03-09"), {"r1": entry("2026-03-09", "2026-03-09", "2026-03-10T00:00:00")})
    b = CursorRecord(D("2026-03-05"), {"r1": entry("2026-03-01", "2026-03-09", "2026-03-11T00:00:00")})
    assert a.merge(b).cursor == b.merge(a).cursor == D("2026-03-09")
    assert a.merge(b).runs == b.merge(a).runs == a.runs  # r1's first try is the earlier entry
    many = CursorRecord(
        runs={
            f"r{i:03}": entry("2026-03-01", "2026-03-02", f"2026-01-01T00:{i // 60:02}:{i % 60:02}") for i in range(150)
        }
    )
    kept = CursorRecord().merge(many).runs
    assert len(kept) == cursor_module.RUNS_KEPT and min(kept) == f"r{150 - cursor_module.RUNS_KEPT:03}"


def test_a_cursor_moves_up_over_written_days_only_and_remembers_runs() -> None:
    store = DictStore()
    waits: list[float] = []
    cursor = ExportCursor(KEY, store, export={"report": "r"}, clock=lambda: T0, sleep=waits.append)
    assert cursor.load() == CursorRecord()
    assert cursor.advance(run("2026-03-07", "2026-03-09")) == D("2026-03-09")  # a first run creates it
    assert cursor.advance(run("2026-03-05", "2026-03-08")) == D("2026-03-09")  # never back
    assert cursor.advance(run("2026-03-12", "2026-03-12")) == D("2026-03-09")  # 03-10 and 03-11 not written
    assert cursor.advance(run("2026-03-10", "2026-03-12")) == D("2026-03-12")
    cursor.remember("d/r/t/-1", run("2026-03-10", "2026-03-12"))
    record = cursor.load()
    assert record.cursor == D("2026-03-12") and record.export == {"report": "r"}
    assert record.runs == {"d/r/t/-1": entry("2026-03-10", "2026-03-12", T0.isoformat())}
    assert store.writes == 3 and waits == [0.1] * 3  # a change that changes nothing is not written
    cursor.remember("d/r/t/-1", run("2026-03-11", "2026-03-12"))  # a later try never replaces the first one
    assert cursor.load().runs == record.runs and store.writes == 3


# -- races ------------------------------------------------------------------------------------------------------
@dataclass
class Stepper:
    """Real threads on one store; each thread's next read, write or settle wait runs when ``choose`` picks it."""

    store: DictStore = field(default_factory=DictStore)
    lock: threading.Condition = field(default_factory=threading.Condition)
    pending: dict[str, str] = field(default_factory=dict)  # thread -> "get" | "set" | "sleep"
    turn: str | None = None
    done: set[str] = field(default_factory=set)
    history: list[str | None] = field(default_factory=list)  # every cursor value the store held

    def step(self, name: str, kind: str, action: Callable[[], Any]) -> Any:
        with self.lock:
            self.pending[name] = kind
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.turn == name)
            result = action()
            if kind == "set":
                self.history.append(json.loads(self.store.values[KEY])["cursor"])
            del self.pending[name]
            self.turn = None
            self.lock.notify_all()
            return result

    def cursor(self, name: str) -> ExportCursor:
        stepper = self

        class Store:
            def get(self, key: str) -> str | None:
                return stepper.step(name, "get", lambda: stepper.store.get(key))  # type: ignore[no-any-return]

            def set(self, key: str, value: str) -> None:
                stepper.step(name, "set", lambda: stepper.store.set(key, value))

            def delete(self, key: str) -> None:
                raise AssertionError("never deleted")

        return ExportCursor(KEY, Store(), clock=lambda: T0, sleep=lambda s: self.step(name, "sleep", lambda: None))

    def run(
        self, jobs: dict[str, Callable[[ExportCursor], Any]], choose: Callable[[list[str]], str], settle: bool
    ) -> None:
        """Run the jobs at once; with ``settle``, a settle wait ends only once no stale write is pending."""
        threads = {}
        for name, job in jobs.items():

            def body(name: str = name, job: Callable[[ExportCursor], Any] = job) -> None:
                try:
                    job(self.cursor(name))
                finally:
                    with self.lock:
                        self.done.add(name)
                        self.lock.notify_all()

            threads[name] = threading.Thread(target=body, daemon=True)
            threads[name].start()
        for _ in range(10_000):
            with self.lock:
                assert self.lock.wait_for(lambda: len(self.pending) + len(self.done) == len(jobs), timeout=10)
                if len(self.done) == len(jobs):
                    break
                ready = sorted(self.pending)
                if settle and any(kind == "set" for kind in self.pending.values()):
                    ready = [n for n in ready if self.pending[n] != "sleep"]
                self.turn = choose(ready)
                self.lock.notify_all()
                assert self.lock.wait_for(lambda: self.turn is None, timeout=10)
        for thread in threads.values():
            thread.join(timeout=10)


#: (first, last) of a run's days, in days after the cursor: most start at or before the day after it (they
#: join it whatever the order), some after it (they join only once another run filled the gap).
RANGES = st.tuples(st.integers(-3, 4), st.integers(0, 6)).map(lambda t: (min(t), max(t)))


@given(st.lists(RANGES, min_size=2, max_size=3), st.data(), st.booleans())
@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_concurrent_runs_never_push_the_cursor_past_an_unwritten_day(
    ranges: list[tuple[int, int]], data: st.DataObject, settle: bool
) -> None:
    """Runs that each wrote their days advance the cursor at once (and remember their coverage).

    In every interleaving the cursor never claims a day nobody wrote. When a settle wait outlasts the others'
    read-then-write (``settle``), it also ends at least where the runs that join the old cursor reach, and
    every run is remembered.
    """
    start = D("2026-03-10")  # the cursor before: every day up to it is written
    coverages = [
        run((start + timedelta(days=a)).isoformat(), (start + timedelta(days=b)).isoformat()) for a, b in ranges
    ]
    stepper = Stepper()
    stepper.store.values[KEY] = CursorRecord(start).dump()
    jobs = {
        f"run{i}": (lambda c, i=i, cov=cov: (c.remember(f"run{i}", cov), c.advance(cov)))
        for i, cov in enumerate(coverages)
    }
    stepper.run(jobs, lambda ready: data.draw(st.sampled_from(ready)), settle)
    written = set()
    for cov in coverages:
        written.update(cov.days)
    frontier = start
    while frontier + timedelta(days=1) in written:
        frontier += timedelta(days=1)
    assert all(value is not None and D(value) <= frontier for value in stepper.history)
    if settle:
        final = CursorRecord.parse(stepper.store.values[KEY])
        joining = max([start] + [start + timedelta(days=b) for a, b in ranges if a <= 1])
        assert final.cursor is not None and joining <= final.cursor <= frontier
        assert set(final.runs) == set(jobs)
