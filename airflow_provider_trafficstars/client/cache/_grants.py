"""The grant rule of the account's call budget: pure functions of the shared record, no I/O, no Airflow.

:func:`reserve` gives a process a batch of call slots in the current window (fair: see its docstring);
:func:`release` hands back what a process did not spend.
The store, the lease around each read-modify-write and the local spending are :mod:`._budget`'s.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

#: The limit's window: the connection extra ``rate_limit`` counts the account's calls per this many seconds.
PERIOD = 60.0


#: Default calls per :data:`PERIOD` (the documented account limit).
DEFAULT_CALLS = 100


#: Seconds added to the window before a slot is reused: the server counts arrival times (perhaps in whole
#: seconds), we count grant and send times; 2 s cover transit jitter and rounding (3 % of the throughput).
DEFAULT_MARGIN = 2.0


#: A grant is split so that this many visits of one lone process use a whole window.
SHARES = 4


@dataclass(frozen=True)
class BudgetRules:
    """The budget of one account.

    :param limit: calls per ``period``, all processes together (>= 1).
    :param period: the server's window in seconds.
    :param margin: seconds added to the window (see :data:`DEFAULT_MARGIN`).
    :param hold: seconds within which a grant must be spent (default: a sixth of the period).
    """

    limit: int
    period: float = PERIOD
    margin: float = DEFAULT_MARGIN
    hold: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError("limit must be a whole number >= 1")
        if not (self.period > 0 and self.margin >= 0):
            raise ValueError("period must be > 0 and margin >= 0")

    @property
    def span(self) -> float:
        """Seconds a spent call counts against the budget."""
        return self.period + self.margin

    @property
    def hold_for(self) -> float:
        return self.hold if self.hold is not None else self.period / 6


@dataclass
class Record:
    """The shared record: grants ``[holder, latest, calls]``, claimants ``{holder: [last asked, calls got, since]}``."""

    grants: list[tuple[str, float, int]] = field(default_factory=list)
    claims: dict[str, tuple[float, int, float]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"grants": [list(g) for g in self.grants], "claims": {h: list(c) for h, c in self.claims.items()}}
        )

    @classmethod
    def parse(cls, raw: object) -> Record:
        """Parse a stored record; anything unusable is an empty record (never raise)."""
        if not isinstance(raw, str):
            return cls()
        try:
            data = json.loads(raw)
            grants = [(str(h), float(t), int(n)) for h, t, n in data.get("grants", [])]
            # ``since`` (the claimant's first visit) was added later: a claim without it started when it last asked.
            claims = {str(h): (float(c[0]), int(c[1]), float(c[2] if len(c) > 2 else c[0]))
                      for h, c in dict(data.get("claims", {})).items()}  # fmt: skip
        except (ValueError, TypeError, AttributeError, RecursionError):
            return cls()
        return cls([g for g in grants if g[2] > 0 and math.isfinite(g[1])], claims)


@dataclass(frozen=True)
class Spent:
    """What a holder did with its last grant: the grant's ``latest``, its calls sent and when the last one went."""

    latest: float
    calls: int
    last_send: float


def reserve(record: Record, rules: BudgetRules, me: str, now: float, spent: Spent | None) -> tuple[int, float]:
    """Update ``record`` in place for a visit of ``me``; return ``(calls granted, seconds to wait)``.

    THE rule of the shared budget (pure: the caller does the store I/O under the lease). ``spent`` settles
    ``me``'s previous grant; the new grant (if any) must be spent by ``now + hold``. With nothing granted,
    the wait is until the oldest counting grant leaves the window (a caller looks again after at most ``hold``:
    a holder may give back what it did not spend). Fairness, in three parts (see :mod:`._budget`): no claimant
    gets more while it is a batch ahead of the slowest active one; a claimant's first window is a ramp (it
    cannot take a whole window before the others of a barrier first reach the record); and while others are
    active, none holds more than an equal share of the window while one behind it has less.
    """
    _settle(record, me, spent)
    record.grants = [g for g in record.grants if g[1] + rules.span > now]
    mine_before = record.claims.get(me)
    record.claims = {h: c for h, c in record.claims.items() if c[0] + rules.span > now and h != me}
    # Claimants that asked within two holds want calls now (a waiter asks again each hold, plus a lease round).
    others = {h: c for h, c in record.claims.items() if c[0] + 2 * rules.hold_for >= now}
    active = len(others) + 1
    behind = min((c[1] for c in others.values()), default=0)
    # A newcomer starts at most half a window behind the others: it catches up with those that started just
    # before it (a barrier), but does not stall a task that has run for hours.
    got = mine_before[1] if mine_before is not None else max(0, behind - rules.limit // 2)
    since = mine_before[2] if mine_before is not None else now
    held = _held(record)
    free = rules.limit - sum(held.values())
    batch = max(1, math.ceil(rules.limit / (SHARES * active)))
    # The ramp: a small first grant (at least 2: a token request and the first call of a task), then the
    # account's rate from the first visit on (no limit after a window).
    first = max(2, math.ceil(rules.limit / SHARES**2))
    ramp = first + rules.limit * (now - since) / rules.span - held.get(me, 0)
    # The equal share of the window, less a lead over the claimants' mean before it (more for one behind): a
    # claimant takes its own, and beyond it only what leaves the active claimants behind it theirs.
    before = {h: c[1] - held.get(h, 0) for h, c in [*others.items(), (me, (now, got, since))]}
    mean = sum(before.values()) / active
    share = rules.limit / active

    def room(holder: str) -> int:
        return math.ceil(share + mean - before[holder]) - held.get(holder, 0)

    reserved = sum(max(0, room(h)) for h, c in others.items() if c[1] <= got)
    free = max(min(free, room(me)), free - reserved)
    record.claims[me] = (now, got, since)
    if others and got >= behind + batch:
        # A batch ahead of the slowest claimant: let it catch up (it asks again within a hold), look again soon.
        return 0, min(1.0, rules.hold_for / 2)
    # Under the ramp a grant is at least a first grant's size (one visit per few calls, not per call).
    need = min(batch, first, free)
    if need >= 1 and ramp < need:
        return 0, max((need - ramp) * rules.span / rules.limit, 0.01)
    granted = min(free, batch, math.floor(ramp))
    if granted >= 1:
        record.grants.append((me, now + rules.hold_for, granted))
        record.claims[me] = (now, got + granted, since)
        return granted, 0.0
    if rules.limit - sum(held.values()) >= 1:  # room, but others' shares: they ask within a hold
        return 0, min(1.0, rules.hold_for / 2)
    # Full: until the oldest grant leaves the window.
    oldest = min(g[1] for g in record.grants)
    return 0, max(oldest + rules.span - now, 0.01)


def _held(record: Record) -> dict[str, int]:
    """Calls each holder has in the window (its grants that still count)."""
    held: dict[str, int] = {}
    for holder, _, calls in record.grants:
        held[holder] = held.get(holder, 0) + calls
    return held


def _settle(record: Record, me: str, spent: Spent | None) -> None:
    """Rewrite ``me``'s grant ``spent.latest`` to what was really sent (or drop it: nothing was)."""
    if spent is None:
        return
    kept = []
    for holder, latest, calls in record.grants:
        if holder == me and latest == spent.latest:
            if spent.calls > 0:
                kept.append((holder, min(latest, spent.last_send), min(calls, spent.calls)))
            continue
        kept.append((holder, latest, calls))
    record.grants = kept


def release(record: Record, me: str, spent: Spent | None) -> None:
    """Give back what ``me`` holds and did not spend, and leave the claimants (a client closing)."""
    _settle(record, me, spent)
    record.claims.pop(me, None)
