"""Issue 16: one call budget per account, shared by real OS processes through real Variables (SQLite here;
PostgreSQL in tests/distributed).

Each process builds the hook of one connection (token and budget in the session's metadata DB), waits at a
barrier, then reads report days as fast as its budget lets it, against the emulator enforcing the same limit.
Time is scaled: a 3 s window instead of 60 s (the margin 0.5 s, a grant's hold 0.5 s), and 10 calls per
window instead of 100, so the counts that matter (windows to roll over, 429s) come in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
from benchmarks.common import EmulatorProcess
from benchmarks.shared_budget import budget_env, run_round
from tests.helpers import HOME, new_api_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCALE = 0.05  # a 3 s window
WINDOW, SPAN, HOLD = 3.0, 3.5, 0.5
LIMIT = 10


@pytest.fixture
def workdir() -> Iterator[Path]:
    with AirflowHome.temporary("ts-budget-") as home:
        yield home.path


def test_processes_share_one_budget_fairly_and_a_killed_holder_strands_it_one_window_at_most(
    airflow_db: Path, workdir: Path
) -> None:
    key = new_api_key()
    with EmulatorProcess(key, workdir=workdir) as emu:
        env = budget_env(workdir, HOME.db_url, emu.url, key, rate_limit=LIMIT)
        # One process let go a second (a third of the window) before the other three: a late arrival, certain.
        shared = run_round(env, emu.url, processes=4, calls=8, limit=LIMIT, scale=SCALE, early=1.0)
        old = run_round(env, emu.url, processes=4, calls=8, limit=LIMIT, scale=SCALE, mode="process")
        killed = run_round(env, emu.url, processes=2, calls=5, limit=LIMIT, scale=SCALE, kill_one=True)

    # The control: each process counting its own 10 calls per window sends 4 x 10 and earns 429s.
    assert old.answers_429 > 0
    # Shared: 32 report calls and 1 token request (the token is shared too), no 429, nothing failed ...
    assert (shared.answers_429, shared.failed, shared.token_requests) == (0, [], 1)
    assert shared.calls == 33
    # ... at the account's rate: 33 calls at 10 per window need three windows to roll over, and not many more.
    # (The scaled window makes the lease's visits weigh 20 times more than at 60 s: the 1.05 x goal is measured
    # at full scale by benchmarks/shared_budget.py.)
    assert 3 * WINDOW <= shared.seconds <= 2 * 3 * SPAN + 10.0, shared
    # Fair: the early one does not take its 8 calls alone (10 per window were there: the old rule let it, and
    # it finished two windows before the others); it ramps up and all four finish in the same window. The
    # issue's bound (10 s of a 60 s window) is measured at full scale by benchmarks/shared_budget.py (16c):
    # scaled, it would be 0.5 s, below the scheduler's jitter on a loaded 2-core machine.
    assert shared.spread < SPAN, shared
    # A process SIGKILLed right after taking a grant (3 calls, 1 spent): the others got its 2 unspent calls
    # back once its grant had lapsed (hold + span after it was made), without a 429.
    assert (killed.answers_429, killed.failed) == (0, [])
    assert killed.killed_resume is not None and killed.killed_resume <= HOLD + SPAN + 4.0, killed
