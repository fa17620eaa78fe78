"""The triggers that make a lead an MQL, once per cycle: an instant activity, a sequence of
steps, a criterion over scores, traits and counters, or the score threshold."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from handoff_scoring.domain.engagement import counter_value, engagement_at, round_points
from handoff_scoring.domain.lead import Fit, Lead, at_of
from handoff_scoring.domain.model import Criterion, Plan, ScoringModel, Sequence

# The variables a criterion may name (config.py offers them in its error messages).
OFFERED = (
    "score",
    "engagement",
    "fit",
    "grade",
    "seniority",
    "title",
    "email_domain",
    "company",
    "count",
    "traits",
)


@dataclass(frozen=True, slots=True)
class Qualified:
    lead_id: str
    cycle: int
    at: float
    kind: str  # threshold, activity, sequence, criteria
    rule: str
    engagement: int
    fit: Fit


def sequence_done(seq: Sequence, lead: Lead, j: int) -> bool:
    """Does a chain of the sequence's steps end at history index j, within its window?"""
    h = lead.history
    t_last = h[j][0]
    earliest = t_last - seq.within
    if lead.opens_at is not None:
        earliest = max(earliest, lead.opens_at)
    step = 0
    need = len(seq.steps) - 1
    if need == 0:
        return True
    for i in range(bisect_left(h, earliest, key=at_of), j):
        _, kind, props = h[i]
        if seq.steps[step].matches(kind, props):
            step += 1
            if step == need:
                return True
    return False


def chain_before(model: ScoringModel, lead: Lead, n: int, at: float) -> bool:
    """sequence_done from the lead's running progress instead of its history: does a chain of
    the sequence's steps before this activity start within the window (and the cycle)?"""
    seq = model.sequences[n]
    need = len(seq.steps) - 1
    if need == 0:
        return True
    starts = (lead.progress or {}).get(n)
    start = None if starts is None else starts[need - 1]
    if start is None:
        return False
    earliest = at - seq.within
    if lead.opens_at is not None:
        earliest = max(earliest, lead.opens_at)
    return start >= earliest


def criteria_context(
    model: ScoringModel, lead: Lead, crit: Criterion, at: float, engagement: int
) -> dict[str, Any]:
    """The variables the criterion names, and only those (converting values costs time)."""
    fit = lead.fit(model)
    ctx: dict[str, Any] = {}
    for name in crit.condition.variables:
        if name == "count":
            ctx[name] = {c: counter_value(model, lead, c, at) for c in crit.counters}
        elif name == "company":
            ctx[name] = lead.traits.get("company") or {}
        elif name == "score":
            ctx[name] = engagement + fit.points
        elif name == "engagement":
            ctx[name] = engagement
        elif name == "fit":
            ctx[name] = fit.points
        elif name == "grade":
            ctx[name] = fit.grade
        elif name == "traits":
            ctx[name] = lead.traits
        else:
            value = getattr(lead.facts, name, None)
            if value is not None:
                ctx[name] = value
    return ctx


def can_qualify(model: ScoringModel, lead: Lead, at: float, index: int | None) -> bool:
    """Whether any trigger may fire at `at`: not yet an MQL, disqualified or closed in this
    cycle, the cycle open at `at`, and some activity in it."""
    if lead.closed or lead.disqualified is not None or lead.qualified_at is not None:
        return False
    if lead.opens_at is not None and at < lead.opens_at:
        return False
    # Without an activity in this cycle nothing has earned an MQL yet.
    return index is not None or lead.tally_for(model).last is not None


def qualify_if_triggered(
    model: ScoringModel,
    lead: Lead,
    at: float,
    index: int | None,
    traits_changed: bool,
    plan: Plan | None = None,
) -> Qualified | None:
    """Qualify the lead at `at` if a trigger fires; `index` is the activity at `at`, if any."""
    if not can_qualify(model, lead, at, index):
        return None
    if index is not None:
        if plan is None:
            _, kind, props = lead.history[index]
            plan = model.plan_for(kind, props)
        fired = _activity_trigger(model, lead, at, index, plan)
        if fired is not None:
            return fired
    engagement: int | None = None
    for n, crit in enumerate(model.criteria):
        if not (traits_changed or crit.reads_scores or (plan is not None and n in plan.criteria)):
            continue
        if engagement is None:
            engagement = round_points(engagement_at(model, lead, at))
        if crit.condition.holds(criteria_context(model, lead, crit, at, engagement)):
            return _qualify(model, lead, at, "criteria", crit.name, engagement)
    if engagement is None:
        engagement = round_points(engagement_at(model, lead, at))
    if engagement + lead.fit(model).points >= model.threshold:
        return _qualify(model, lead, at, "threshold", f"score >= {model.threshold}", engagement)
    return None


def _activity_trigger(
    model: ScoringModel, lead: Lead, at: float, index: int, plan: Plan
) -> Qualified | None:
    """The instant trigger of the activity at `index`, or a sequence it completes (read from
    the history when it is loaded, else from the progress kept before this activity)."""
    if plan.instant is not None:
        return _qualify(model, lead, at, "activity", plan.instant)
    for n in plan.sequences:
        seq = model.sequences[n]
        done = (
            sequence_done(seq, lead, index) if lead.complete else chain_before(model, lead, n, at)
        )
        if done:
            return _qualify(model, lead, at, "sequence", seq.name)
    return None


def _qualify(
    model: ScoringModel,
    lead: Lead,
    at: float,
    kind: str,
    rule: str,
    engagement: int | None = None,
) -> Qualified:
    if engagement is None:
        engagement = round_points(engagement_at(model, lead, at))
    lead.qualified_at = at
    lead.trigger = f"{kind}:{rule}"
    return Qualified(lead.lead_id, lead.cycle, at, kind, rule, engagement, lead.fit(model))
