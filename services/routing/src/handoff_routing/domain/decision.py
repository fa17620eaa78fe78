"""The routing decision for one MQL: which rule, pool and rep, and the trace of why."""

from __future__ import annotations

from dataclasses import dataclass

from handoff_routing.domain.roster import Candidate, Roster, choose

DEFAULT_POOL_RULE = "default_pool"


@dataclass(frozen=True, slots=True)
class DecisionStep:
    """One rule tried while routing, kept so reps and sales ops can see why a lead went where."""

    rule: str
    matched: bool
    pool: str | None = None
    candidates: tuple[Candidate, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome: a rep (or None when nobody is available) and the steps that led there."""

    rep_id: str | None
    pool: str | None
    rule: str
    steps: tuple[DecisionStep, ...]
    unassigned_reason: str | None = None


def decide(roster: Roster, pointers: dict[str, int]) -> Decision:
    """Route one lead; advances the chosen pool's round-robin pointer in `pointers` in place."""
    name = roster.default_pool
    pool = roster.pools.get(name)
    if pool is None:
        reason = f"the default pool {name!r} is not defined"
        step = DecisionStep(DEFAULT_POOL_RULE, matched=False, pool=name, note=reason)
        return Decision(None, None, DEFAULT_POOL_RULE, (step,), unassigned_reason=reason)
    rep, position, candidates = choose(pool, roster.reps, pointers.get(name, 0))
    pointers[name] = position
    if rep is None:
        reason = f"no active rep in pool {name!r}"
        step = DecisionStep(
            DEFAULT_POOL_RULE, matched=True, pool=name, candidates=candidates, note=reason
        )
        return Decision(None, name, DEFAULT_POOL_RULE, (step,), unassigned_reason=reason)
    step = DecisionStep(DEFAULT_POOL_RULE, matched=True, pool=name, candidates=candidates)
    return Decision(rep.id, name, DEFAULT_POOL_RULE, (step,))
