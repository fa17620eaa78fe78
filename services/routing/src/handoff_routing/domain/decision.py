"""The routing decision for one lead: which rule, pool and rep, and the trace of why.

Rules are tried in order and the first that matches wins: a matching rule whose pool has
nobody available leaves the lead unassigned in that pool's queue rather than falling through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from handoff_routing.domain.roster import (
    Candidate,
    Conditions,
    Roster,
    add_assignment,
    choose,
    unavailable,
)
from handoff_routing.domain.rules import ACCOUNT, LeadFacts, Rule

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


def account_pool(domain: str) -> str:
    """The pool name an account owner's assignment carries: `account:acme.co.jp`."""
    return f"account:{domain}"


def decide(
    roster: Roster,
    rules: Sequence[Rule],
    facts: LeadFacts,
    pointers: dict[str, int],
    conditions: Conditions,
) -> Decision:
    """Route one lead; advances the chosen pool's pointer and the rep's load in place."""
    steps: list[DecisionStep] = []
    context = facts.values
    for rule in rules:
        c = (
            conditions
            if conditions.respect_hours == rule.respect_hours
            else replace(conditions, respect_hours=rule.respect_hours)
        )
        if rule.kind == ACCOUNT:
            account = next(
                (roster.accounts[d] for d in facts.domains() if d in roster.accounts), None
            )
            if account is None:
                tried = ", ".join(facts.domains()) or "no email or company domain"
                steps.append(DecisionStep(rule.name, False, note=f"no account for {tried}"))
                continue
            owner = roster.reps.get(account.owner)
            why = unavailable(owner, account.owner, c)
            note = f"account {account.domain} ({account.name}) is owned by {account.owner}"
            if why is None:
                steps.append(
                    DecisionStep(
                        rule.name,
                        True,
                        account_pool(account.domain),
                        (Candidate(account.owner),),
                        note,
                    )
                )
                add_assignment(conditions.loads, account.owner)
                return Decision(
                    account.owner, account_pool(account.domain), rule.name, tuple(steps)
                )
            steps.append(
                DecisionStep(
                    rule.name,
                    True,
                    account_pool(account.domain),
                    (Candidate(account.owner, why),),
                    f"{note}; falling back to pool {rule.fallback_pool!r}",
                )
            )
            assert rule.fallback_pool is not None
            return _from_pool(roster, rule.name, rule.fallback_pool, pointers, c, steps)
        if rule.condition is not None and rule.condition.holds(context):
            assert rule.pool is not None
            return _from_pool(roster, rule.name, rule.pool, pointers, c, steps)
        steps.append(DecisionStep(rule.name, False, rule.pool))
    c = conditions if not conditions.respect_hours else replace(conditions, respect_hours=False)
    return _from_pool(roster, DEFAULT_POOL_RULE, roster.default_pool, pointers, c, steps)


def from_pool(
    roster: Roster, rule: str, pool_name: str, pointers: dict[str, int], conditions: Conditions
) -> Decision:
    """Choose within one pool: a queued lead waiting there, or a lead being reassigned."""
    return _from_pool(roster, rule, pool_name, pointers, conditions, [])


def _from_pool(
    roster: Roster,
    rule: str,
    pool_name: str,
    pointers: dict[str, int],
    conditions: Conditions,
    steps: list[DecisionStep],
) -> Decision:
    pool = roster.pools.get(pool_name)
    if pool is None:
        reason = f"the pool {pool_name!r} is not defined"
        steps.append(DecisionStep(rule, True, pool_name, note=reason))
        return Decision(None, pool_name, rule, tuple(steps), unassigned_reason=reason)
    rep, position, candidates = choose(pool, roster, pointers.get(pool_name, 0), conditions)
    pointers[pool_name] = position
    if rep is None:
        reason = f"no rep available in pool {pool_name!r}"
        steps.append(DecisionStep(rule, True, pool_name, candidates, note=reason))
        return Decision(None, pool_name, rule, tuple(steps), unassigned_reason=reason)
    steps.append(DecisionStep(rule, True, pool_name, candidates))
    add_assignment(conditions.loads, rep.id)
    return Decision(rep.id, pool_name, rule, tuple(steps))
