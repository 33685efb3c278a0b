"""Everything the tests share but fixtures: the session's throwaway Airflow home, fakes and helpers.

Importing this module points the process at a temp ``AIRFLOW_HOME`` (SQLite in it) before anything imports
Airflow, so that every test runs against it and never touches a developer's own; ``tests/conftest.py``
imports it first. Fixtures live in the conftest files; tests import names from here, never from a conftest.

- the home: :data:`HOME`, :data:`DAGS_FOLDER`; the repository's folders: :data:`REPO`, :data:`TEST_DAGS`,
  :data:`EXAMPLE_DAGS`;
- fakes: API keys, Variable names, Variable stores, clocks and recorded waits;
- helpers over the metadata DB: install a DAG, read Variables, XComs, rendered fields, trigger rows, task
  states and logs, and search all of it for a secret.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import json
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pendulum

from airflow_provider_trafficstars.testing import AirflowHome

REPO = Path(__file__).resolve().parent.parent
#: The DAG files of the tests (each test installs the ones it runs into :data:`DAGS_FOLDER`).
TEST_DAGS = REPO / "tests" / "dags"
#: The example DAGs shipped with the repository.
EXAMPLE_DAGS = REPO / "example_dags"
#: The session's Airflow home: a temp directory with SQLite in it, removed at exit.
HOME = AirflowHome.temporary()
atexit.register(HOME.remove)
HOME.activate(
    AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    AIRFLOW__CORE__TEST_CONNECTION="Enabled",
)
AIRFLOW_HOME = HOME.path
DAGS_FOLDER = HOME.dags_folder

# Airflow (the hook module imports it) only once the home is set.
from airflow_provider_trafficstars.hooks.trafficstars import default_token_variable  # noqa: E402
from airflow_provider_trafficstars.testing import new_api_key as new_api_key  # noqa: E402

#: The environment variable that defines ``CONN_ID``.
CONN_ENV = "AIRFLOW_CONN_TRAFFICSTARS_DEFAULT"
#: The paths the fault tests break: the token endpoint and a generic call.
TOKEN_PATH = "/v1/auth/token"
CAMPAIGNS = "/v1.1/campaigns"
#: The connection id the hook, the operators and the sensor use by default.
CONN_ID = "trafficstars_default"
#: The Variable that caches the token of ``CONN_ID`` (the package decides the name: not copied here).
TOKEN_VAR = default_token_variable(CONN_ID)
#: The start of every fake clock: a fixed, timezone-aware instant.
T0 = pendulum.datetime(2026, 11, 27, 10, tz="UTC")


class Waits(list[float]):
    """An injected ``sleep`` that records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    """An injected clock: tests move time (``clock.now = ...`` or :meth:`advance`) instead of sleeping.

    :param start: the first instant (default :data:`T0`).
    """

    def __init__(self, start: pendulum.DateTime | None = None) -> None:
        self.now = start or T0
        self.start = self.now

    def __call__(self) -> pendulum.DateTime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return (self.now - self.start).total_seconds()


class World(Clock):
    """A clock that moves only when someone sleeps, running the events scheduled on it on the way.

    Pass ``clock=world, sleep=world.sleep``; "other processes" are actions scheduled with :meth:`at`.
    """

    def __init__(self, start: pendulum.DateTime | None = None) -> None:
        super().__init__(start)
        self.sleeps: list[float] = []
        self._events: list[tuple[pendulum.DateTime, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        while self._events and self._events[0][0] <= self.now:
            heapq.heappop(self._events)[2]()

    def at(self, seconds: float, action: Callable[[], None]) -> None:
        """Run ``action`` once the clock reaches ``seconds`` after the start."""
        when = self.start.add(microseconds=int(seconds * 1_000_000))
        heapq.heappush(self._events, (when, next(self._order), action))


class FakeTime:
    """Seconds (``time.time()``-like) that move only when someone sleeps; thread-safe.

    Pass ``clock=fake.clock, sleep=fake.sleep`` (the rate limiter, the emulator's ``clock``).

    :param start: the first instant, in seconds.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    def utc(self) -> pendulum.DateTime:
        """The same instant as a UTC datetime (the client's clock)."""
        return pendulum.from_timestamp(self.clock(), tz="UTC")


class DictStore:
    """A Variable store in a dict (what Airflow's stores do, minus the DB), with a log of every operation.

    :param broken: operations (``"get"``, ``"set"``, ``"delete"``) or keys that fail with ``error``.
    :param error: what a broken operation raises (default: the store is unreachable).
    """

    def __init__(self, *, broken: Iterable[str] = (), error: Exception | None = None) -> None:
        self.values: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []
        self.broken: set[str] = set(broken)
        self.error = error or ConnectionError("store unreachable")

    def _op(self, op: str, key: str) -> None:
        self.log.append((op, key))
        if op in self.broken or key in self.broken:
            raise self.error

    def get(self, key: str) -> str | None:
        self._op("get", key)
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self._op("set", key)
        self.values[key] = value

    def delete(self, key: str) -> None:
        self._op("delete", key)
        self.values.pop(key, None)

    def count(self, op: str, key: str) -> int:
        """How many times ``op`` was called on ``key``."""
        return self.log.count((op, key))

    @property
    def writes(self) -> int:
        """How many times ``set`` was called, on any key."""
        return sum(op == "set" for op, _ in self.log)


class CountingStore(DictStore):
    """A Variable store that logs every operation (``count``, ``log``) and passes it to a real one.

    :param inner: the store that holds the values (e.g. Airflow's, from ``_compat.get_variable_store()``).
    """

    def __init__(self, inner: object) -> None:
        super().__init__()
        self.inner = inner

    def get(self, key: str) -> str | None:
        self._op("get", key)
        return self.inner.get(key)  # type: ignore[attr-defined,no-any-return]

    def set(self, key: str, value: str) -> None:
        self._op("set", key)
        self.inner.set(key, value)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        self._op("delete", key)
        self.inner.delete(key)  # type: ignore[attr-defined]


def obtained_earlier(record: str, seconds: float = 3600.0) -> str:
    """Return a token record whose token was obtained ``seconds`` earlier (same token, same expiry).

    A 401 on a token obtained less than a minute ago is the API refusing the call, and the client does not
    renew it: a test of a token revoked (or expired) later ages the shared record first, as time would.
    """
    data = json.loads(record)
    data["obtained_at"] = pendulum.parse(data["obtained_at"]).subtract(seconds=seconds).isoformat()
    return json.dumps(data)


# -- the metadata DB and DAG runs ---------------------------------------------------------------------
#: The call budget of the tests' connections unless a test sets ``rate_limit``: out of the way of tests that
#: are not about it (the budget's first-minute ramp would pace them at 100 calls / 60 s after 7 calls); the
#: budget's own tests, and every test against an emulator enforcing a limit, set theirs.
TEST_RATE_LIMIT = 1000


def conn_json(url: str, api_key: str | None, **extra: Any) -> str:
    """Return the JSON form of an ``AIRFLOW_CONN_...`` value for a trafficstars connection."""
    body: dict[str, Any] = {"conn_type": "trafficstars", "host": url}
    if api_key is not None:
        body["password"] = api_key
    body["extra"] = {"rate_limit": TEST_RATE_LIMIT, **extra}
    return json.dumps(body)


def install_dag(source: Path) -> Any:
    """Copy a DAG file into the configured DAGs folder and return its single DAG, parsed by a DagBag."""
    from tests.airflow_compat import dagbag_class, sync_like_dag_processor

    DagBag = dagbag_class()
    target = DAGS_FOLDER / source.name
    shutil.copyfile(source, target)
    bag = DagBag(str(target))
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dags) == 1, sorted(bag.dags)
    sync_like_dag_processor(bag)
    return next(iter(bag.dags.values()))


def variable(key: str) -> str | None:
    """Return a Variable's value straight from the metadata DB."""
    from airflow.models import Variable

    value: str | None = Variable.get(key, default_var=None)
    return value


def age_token_variable(key: str = TOKEN_VAR, seconds: float = 3600.0) -> None:
    """Make the shared token record in Variable ``key`` say its token was obtained ``seconds`` earlier."""
    from airflow.models import Variable

    record = variable(key)
    assert record is not None, f"no token record in {key}"
    Variable.set(key, obtained_earlier(record, seconds))


def run_xcoms(run: Any) -> dict[tuple[str, int], Any]:
    """Return the ``return_value`` XComs of a DagRun, keyed by ``(task_id, map_index)``."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.airflow_compat import xcom_model, xcom_value

    XComModel = xcom_model()
    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.key == "return_value"
            )
        ).all()
        return {(row.task_id, row.map_index): xcom_value(row) for row in rows}


def run_rendered_fields(run: Any) -> dict[tuple[str, int], dict[str, Any]]:
    """Return the rendered template fields stored for a DagRun, keyed by ``(task_id, map_index)``."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(RTIF).where(RTIF.dag_id == run.dag_id, RTIF.run_id == run.run_id)).all()
        return {(row.task_id, row.map_index): dict(row.rendered_fields) for row in rows}


def trigger_kwargs(trigger_class: type, *, created_since: Any = None) -> list[dict[str, Any]]:
    """Return the stored kwargs (decrypted) of every trigger row of ``trigger_class`` in the metadata DB
    (created at or after ``created_since``, if given: other tests' rows stay in the session's DB)."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    path = f"{trigger_class.__module__}.{trigger_class.__qualname__}"
    query = select(Trigger).where(Trigger.classpath == path)
    if created_since is not None:
        query = query.where(Trigger.created_date >= created_since)
    with create_session() as session:
        return [dict(row.kwargs) for row in session.scalars(query)]


def task_states(run: Any) -> dict[str, str]:
    """Return ``{task_id: state}`` of a DagRun (mapped tasks: ``task_id[map_index]``)."""
    return {
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": str(ti.state)
        for ti in run.get_task_instances()
    }


def task_logs() -> str:
    """Return every task log file written under the temp AIRFLOW_HOME so far."""
    return "".join(p.read_text(errors="replace") for p in (AIRFLOW_HOME / "logs").rglob("*") if p.is_file())


def run_traces(capfd: Any, *runs: Any) -> str:
    """Return everything the DagRuns left where a user can look, for a secret search: their XComs and
    rendered template fields (as JSON), what was printed since ``capfd`` was last read, and the task logs."""
    out, err = capfd.readouterr()
    stored = [[list(run_xcoms(run).values()), list(run_rendered_fields(run).values())] for run in runs]
    return "\n".join([json.dumps(stored, default=str), out, err, task_logs()])


def cold_cache_rounds(pool: Any) -> list[Any]:
    """Release a :class:`benchmarks.contention.ContentionPool`'s processes together on a cold token cache,
    once without the renewal lease and twice with it, and check the single-flight claim; return the two
    lease rounds.

    Without the lease the processes must really race (more than two token requests: else the test proves
    nothing); with it no process fails and each round makes at most two token requests.
    """
    from benchmarks.contention import LEASE_CONN, NAIVE_CONN

    naive = pool.round(NAIVE_CONN)
    rounds = [pool.round(LEASE_CONN) for _ in range(2)]
    assert naive.token_requests > 2, naive  # the processes really raced
    for got in rounds:
        assert not got.errors, got.errors
        assert got.token_requests <= 2, got
    return rounds


def assert_no_secret(text: str, *secrets: str) -> None:
    """Fail (without printing the secret) when any of ``secrets`` occurs in ``text``."""
    for index, secret in enumerate(secrets):
        assert secret, "an empty secret cannot be searched for"
        assert secret not in text, f"secret #{index} leaked"
