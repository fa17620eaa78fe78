"""Who can take leads: reps with their hours, leave and capacity, pools, accounts, and the choice
of a rep within a pool (weighted round robin or least loaded), with the reason each rep was skipped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from functools import cached_property
from zoneinfo import ZoneInfo

ROUND_ROBIN = "round_robin"
LEAST_LOADED = "least_loaded"
STRATEGIES = (ROUND_ROBIN, LEAST_LOADED)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """The days (0 = Monday) and local hours a rep takes leads, in the rep's time zone."""

    days: frozenset[int]
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True, slots=True)
class Absence:
    """An out-of-office period, [starts, ends)."""

    starts: datetime
    ends: datetime


@dataclass(frozen=True, slots=True)
class Rep:
    """A sales rep as sales ops describe them; `active` False keeps them out of new assignments."""

    id: str
    name: str
    email: str
    team: str
    active: bool = True
    manager: str | None = None
    timezone: str | None = None
    weight: int = 1
    max_open: int | None = None  # most open (assigned, not yet accepted) handoffs at once
    daily_cap: int | None = None  # most assignments per local day
    working_hours: WorkingHours | None = None
    out_of_office: tuple[Absence, ...] = ()

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")

    def day_start(self, now: datetime) -> datetime:
        """Midnight of the rep's local day, in UTC: the daily cap counts from here."""
        local = now.astimezone(self.zone())
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight.astimezone(UTC)

    def away(self, now: datetime) -> bool:
        if not self.out_of_office:
            return False
        return any(a.starts <= now < a.ends for a in self.out_of_office)

    def at_work(self, now: datetime) -> bool:
        return self.working_hours is None or self.working_hours.contains(
            now.astimezone(self.zone())
        )


@dataclass(frozen=True, slots=True)
class Pool:
    """A group of reps that share incoming leads, in the listed order."""

    name: str
    members: tuple[str, ...]
    strategy: str = ROUND_ROBIN


@dataclass(frozen=True, slots=True)
class Account:
    """A company sales already works with: leads from its domain go to the owner first."""

    domain: str
    name: str
    owner: str


@dataclass(slots=True)
class Load:
    """A rep's current load: open handoffs and assignments since the start of their day."""

    open: int = 0
    today: int = 0


@dataclass(frozen=True)
class Roster:
    """The whole team: reps by id, pools by name, accounts by normalized domain."""

    reps: Mapping[str, Rep]
    pools: Mapping[str, Pool]
    default_pool: str
    accounts: Mapping[str, Account] = field(default_factory=dict)

    @cached_property
    def wheels(self) -> dict[str, tuple[int, ...]]:
        return {name: wheel(pool, self.reps) for name, pool in self.pools.items()}

    def pools_in_use(self) -> tuple[str, ...]:
        """Every pool a decision can draw from; their pointers are locked once per batch."""
        return tuple(sorted(self.pools))

    def needs_open_counts(self) -> bool:
        return any(r.max_open is not None for r in self.reps.values()) or any(
            p.strategy == LEAST_LOADED for p in self.pools.values()
        )

    def needs_daily_counts(self) -> bool:
        return any(r.daily_cap is not None for r in self.reps.values())


def wheel(pool: Pool, reps: Mapping[str, Rep]) -> tuple[int, ...]:
    """The pool's weighted rotation: member indexes, each as often as its weight, spread evenly.

    Smooth weighted round robin (as nginx does it): weights 3, 1 give 0 0 1 0 rather than
    0 0 0 1, so a rep with a large weight never takes a long run of leads in a row. A member
    missing from the roster keeps weight 1 so the trace can still say why they were skipped.
    """
    weights = [max(1, reps[m].weight) if m in reps else 1 for m in pool.members]
    total = sum(weights)
    current = [0] * len(weights)
    out: list[int] = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        out.append(best)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rep looked at while deciding; `skipped` says why they were passed over (None: chosen)."""

    rep_id: str
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class Conditions:
    """What a decision knows besides the roster: the time, the loads, whom to leave out."""

    now: datetime
    loads: dict[str, Load] = field(default_factory=dict)  # updated as the batch assigns
    respect_hours: bool = False
    exclude: frozenset[str] = frozenset()


def unavailable(rep: Rep | None, rep_id: str, c: Conditions) -> str | None:
    """Why this rep cannot take a lead now, or None when they can."""
    if rep is None:
        return "not on the roster"
    if rep_id in c.exclude:
        return "already had this lead"
    if not rep.active:
        return "inactive"
    if rep.away(c.now):
        return "out of office"
    if c.respect_hours and not rep.at_work(c.now):
        return "outside working hours"
    load = c.loads.get(rep_id)
    if rep.max_open is not None and load is not None and load.open >= rep.max_open:
        return f"at capacity ({load.open} open, max {rep.max_open})"
    if rep.daily_cap is not None and load is not None and load.today >= rep.daily_cap:
        return f"daily cap reached ({load.today} today, cap {rep.daily_cap})"
    return None


def choose(
    pool: Pool, roster: Roster, position: int, c: Conditions
) -> tuple[Rep | None, int, tuple[Candidate, ...]]:
    """The next available rep by the pool's strategy, the pool's new position, who was looked at.

    When nobody is available the position stays, so the rotation resumes where it was once
    someone frees up or comes back.
    """
    if pool.strategy == LEAST_LOADED:
        return _least_loaded(pool, roster, position, c)
    return _round_robin(
        pool, roster, roster.wheels.get(pool.name) or wheel(pool, roster.reps), position, c
    )


def _round_robin(
    pool: Pool, roster: Roster, slots: Sequence[int], position: int, c: Conditions
) -> tuple[Rep | None, int, tuple[Candidate, ...]]:
    size = len(slots)
    if size == 0:
        return None, position, ()
    distinct = len(set(pool.members))
    looked_at: list[Candidate] = []
    passed: set[str] = set()
    for step in range(size):
        index = (position + step) % size
        rep_id = pool.members[slots[index]]
        if rep_id in passed:
            continue
        rep = roster.reps.get(rep_id)
        reason = unavailable(rep, rep_id, c)
        if reason is None and rep is not None:
            looked_at.append(Candidate(rep_id))
            return rep, (index + 1) % size, tuple(looked_at)
        looked_at.append(Candidate(rep_id, reason))
        passed.add(rep_id)
        if len(passed) == distinct:
            break
    return None, position % size, tuple(looked_at)


def _least_loaded(
    pool: Pool, roster: Roster, position: int, c: Conditions
) -> tuple[Rep | None, int, tuple[Candidate, ...]]:
    """The available member with the fewest open handoffs; ties go round the pool in order."""
    size = len(pool.members)
    if size == 0:
        return None, position, ()
    seen: list[tuple[int, str, str | None, int]] = []  # (index, rep id, why not, open)
    for step in range(size):
        index = (position + step) % size
        rep_id = pool.members[index]
        reason = unavailable(roster.reps.get(rep_id), rep_id, c)
        seen.append((index, rep_id, reason, c.loads.get(rep_id, Load()).open))
    available = [s for s in seen if s[2] is None]
    if not available:
        return None, position % size, tuple(Candidate(s[1], s[2]) for s in seen)
    index, chosen, _, fewest = min(available, key=lambda s: s[3])  # first in turn wins ties
    trace = tuple(
        Candidate(rep_id, reason)
        if reason is not None or rep_id == chosen
        else Candidate(
            rep_id,
            f"more open handoffs ({load} vs {fewest})" if load > fewest else "not their turn",
        )
        for _, rep_id, reason, load in seen
    )
    return roster.reps[chosen], (index + 1) % size, trace


def add_assignment(loads: dict[str, Load], rep_id: str) -> None:
    """Count an assignment made in this batch, so capacity holds within the batch too."""
    load = loads.setdefault(rep_id, Load())
    load.open += 1
    load.today += 1
