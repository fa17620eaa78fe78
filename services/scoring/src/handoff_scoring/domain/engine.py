"""Scoring a lead: engagement at an instant from its history, fit from its traits, and the
triggers that make it an MQL (activity, sequence, criteria, threshold), once per cycle."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from handoff_scoring.domain.lead import Entry, Fit, Lead, at_of
from handoff_scoring.domain.model import DAY, Criterion, Plan, Props, ScoringModel, Sequence
from handoff_scoring.domain.tally import Tally

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


def whole(points: float) -> int:
    """Points as a whole number, halves rounded up (1.5 -> 2, -1.5 -> -1)."""
    return math.floor(points + 0.5)


@dataclass(slots=True)
class RuleScore:
    """What one behaviour rule adds at an instant: counted activities and decayed, capped points."""

    rule: str
    activity_type: str
    count: int = 0
    points: float = 0.0
    first_seen: float = 0.0
    last_seen: float = 0.0


@dataclass(frozen=True, slots=True)
class Qualified:
    lead_id: str
    cycle: int
    at: float
    kind: str  # threshold, activity, sequence, criteria
    rule: str
    engagement: int
    fit: Fit


@dataclass(frozen=True, slots=True)
class Disqualified:
    lead_id: str
    cycle: int
    at: float
    reason: str
    rule: str


Outcome = Qualified | Disqualified


@dataclass(slots=True)
class _Counting:
    """Which activities each repeat policy lets count, in time order."""

    once: set[int] = field(default_factory=set)
    per_day: dict[tuple[int, int], int] = field(default_factory=dict)
    windows: dict[int, deque[float]] = field(default_factory=dict)


def window_start(model: ScoringModel, lead: Lead, at: float) -> tuple[int, int]:
    """History indexes [lo, hi) that count at `at`: in the cycle, up to `at`, after the last
    gap of `reset_after` without activity."""
    h = lead.history
    hi = bisect_right(h, at, key=at_of)
    lo = 0 if lead.opens_at is None else bisect_left(h, lead.opens_at, key=at_of)
    reset = model.reset_after
    if reset is not None and hi > lo:
        if at - h[hi - 1][0] >= reset:
            return hi, hi
        for i in range(hi - 1, lo, -1):
            if h[i][0] - h[i - 1][0] >= reset:
                return i, hi
    return lo, hi


def tally_at(model: ScoringModel, lead: Lead, at: float) -> Tally:
    """The cycle's history folded up to `at`: the lead's running tally, or a fresh fold."""
    tally = lead.tally_for(model)
    if tally.last is None or at >= tally.last:
        return tally
    earlier = Tally()
    opens = lead.opens_at
    for t, kind, props in lead.history:
        if t > at:
            break
        if opens is None or t >= opens:
            earlier.fold(model, t, kind, props)
    return earlier


def engagement_at(model: ScoringModel, lead: Lead, at: float) -> float:
    """The engagement score at `at`, exactly: each counted activity's points decayed by its age,
    each rule capped, then the engagement cap (see tally.py)."""
    return tally_at(model, lead, at).value(model, at)


def detailed(model: ScoringModel, lead: Lead, at: float, detail: dict[int, RuleScore]) -> float:
    """engagement_at computed entry by entry, collecting the per-rule breakdown in `detail`
    (for explanations; the same rules, rounded the same way)."""
    lo, hi = window_start(model, lead, at)
    if hi <= lo:
        return 0.0
    h = lead.history
    rules = model._all
    half = model.half_life
    sums: dict[int, float] = {}
    counting: _Counting | None = None
    for i in range(lo, hi):
        t, kind, props = h[i]
        matched = model.rules_for(kind, props)
        if not matched:
            continue
        age = at - t
        factor = 0.5 ** (age / half) if half else 1.0
        for n in matched:
            rule = rules[n]
            if rule.repeat != "every":
                if counting is None:
                    counting = _Counting()
                if not _counts(rule.repeat, rule.limit, rule.window, n, t, counting):
                    continue
            if rule.lifespan is not None and age >= rule.lifespan:
                continue
            sums[n] = sums.get(n, 0.0) + rule.points * factor
            if detail is not None:
                rs = detail.get(n)
                if rs is None:
                    rs = detail[n] = RuleScore(rule.name, rule.match.activity, first_seen=t)
                rs.count += 1
                rs.last_seen = t
    total = 0.0
    for n, points in sums.items():
        cap = rules[n].cap
        if cap is not None:
            points = min(points, cap) if points > 0 else max(points, -cap)
        if detail is not None:
            detail[n].points = points
        total += points
    if model.engagement_cap is not None:
        total = min(total, model.engagement_cap)
    return total


def _counts(repeat: str, limit: int, window: float, n: int, t: float, c: _Counting) -> bool:
    if repeat == "once":
        if n in c.once:
            return False
        c.once.add(n)
        return True
    if repeat == "per_day":
        key = (n, int(t // DAY))
        seen = c.per_day.get(key, 0)
        if seen >= limit:
            return False
        c.per_day[key] = seen + 1
        return True
    times = c.windows.get(n)
    if times is None:
        times = c.windows[n] = deque()
    while times and times[0] <= t - window:
        times.popleft()
    if len(times) >= limit:
        return False
    times.append(t)
    return True


@dataclass(frozen=True, slots=True)
class Score:
    at: float | None
    engagement: int
    fit: Fit

    @property
    def total(self) -> int:
        return self.engagement + self.fit.points


def score_at(model: ScoringModel, lead: Lead, at: float | None = None) -> Score:
    """The lead's scores at `at` (default: its latest activity)."""
    when = lead.last_at if at is None else at
    engagement = 0 if when is None else whole(engagement_at(model, lead, when))
    return Score(when, engagement, lead.fit(model))


def breakdown(model: ScoringModel, lead: Lead, at: float | None = None) -> list[RuleScore]:
    """Per-rule contributions at `at`, largest first (positive or negative)."""
    when = lead.last_at if at is None else at
    if when is None:
        return []
    detail: dict[int, RuleScore] = {}
    detailed(model, lead, when, detail)
    return sorted(detail.values(), key=lambda r: (-abs(r.points), r.rule))


# --- triggers -------------------------------------------------------------------------------


def _sequence_done(seq: Sequence, lead: Lead, j: int) -> bool:
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


def counter_value(model: ScoringModel, lead: Lead, name: str, at: float) -> int:
    return tally_at(model, lead, at).count(model, name, at)


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


def check(
    model: ScoringModel,
    lead: Lead,
    at: float,
    index: int | None,
    traits_changed: bool,
    plan: Plan | None = None,
) -> Qualified | None:
    """Qualify the lead at `at` if a trigger fires; `index` is the activity at `at`, if any."""
    if lead.closed or lead.disqualified is not None or lead.qualified_at is not None:
        return None
    if lead.opens_at is not None and at < lead.opens_at:
        return None
    if index is None and lead.tally_for(model).last is None:
        return None  # no activity in this cycle yet: nothing has earned an MQL
    if index is not None:
        if plan is None:
            _, kind, props = lead.history[index]
            plan = model.plan_for(kind, props)
        if plan.instant is not None:
            return _qualify(model, lead, at, "activity", plan.instant)
        for n in plan.sequences:
            seq = model.sequences[n]
            if _sequence_done(seq, lead, index):
                return _qualify(model, lead, at, "sequence", seq.name)
    engagement: int | None = None
    for n, crit in enumerate(model.criteria):
        if not (traits_changed or crit.reads_scores or (plan is not None and n in plan.criteria)):
            continue
        if engagement is None:
            engagement = whole(engagement_at(model, lead, at))
        if crit.condition.holds(criteria_context(model, lead, crit, at, engagement)):
            return _qualify(model, lead, at, "criteria", crit.name, engagement)
    if engagement is None:
        engagement = whole(engagement_at(model, lead, at))
    if engagement + lead.fit(model).points >= model.threshold:
        return _qualify(model, lead, at, "threshold", f"score >= {model.threshold}", engagement)
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
        engagement = whole(engagement_at(model, lead, at))
    lead.qualified_at = at
    lead.trigger = f"{kind}:{rule}"
    return Qualified(lead.lead_id, lead.cycle, at, kind, rule, engagement, lead.fit(model))


# --- what changes a lead --------------------------------------------------------------------


def apply_activity(
    model: ScoringModel, lead: Lead, at: float, kind: str, props: Props | None = None
) -> list[Outcome]:
    """Add one activity at its occurred_at; a late one is checked as if it had come in order."""
    h = lead.history
    entry: Entry = (at, kind, props or None)
    plan = model.plan_for(kind, entry[2])
    out: list[Outcome] = []
    # Ties in time keep a canonical order (by activity type), so the history is the same
    # whatever order the events arrived in.
    if not h or at > h[-1][0] or (at == h[-1][0] and kind >= h[-1][1]):
        h.append(entry)
        j = len(h) - 1
        late = False
        tally = lead.tally
        if (
            tally is not None
            and lead.tally_model == model.version
            and (lead.opens_at is None or at >= lead.opens_at)
        ):
            tally.fold_plan(model, at, plan)
    else:
        j = bisect_right(h, (at, kind), key=_at_kind)
        h.insert(j, entry)
        late = True
        lead.tally = None
    if plan.disqualifier is not None:
        d = model.disqualifiers[plan.disqualifier]
        if lead.disqualified is None:
            out.append(Disqualified(lead.lead_id, lead.cycle, at, d.reason, d.name))
        lead.disqualified, lead.dq_by_activity = d.reason, True
    if not late:
        q = check(model, lead, at, j, False, plan)
    else:
        q = None
        for i in range(j, len(h)):
            q = check(model, lead, h[i][0], i, False)
            if q is not None:
                break
    if q is not None:
        out.append(q)
    prune(model, lead)
    return out


def _at_kind(entry: Entry) -> tuple[float, str]:
    return entry[0], entry[1]


def prune(model: ScoringModel, lead: Lead) -> None:
    """Keep the history within the model's retention (age and count)."""
    h = lead.history
    if not h:
        return
    drop = bisect_left(h, h[-1][0] - model.retention, key=at_of)
    drop = max(drop, len(h) - model.max_activities)
    if drop > 0:
        del h[:drop]


def _merge_traits(mine: dict[str, Any], theirs: dict[str, Any], override: bool) -> None:
    for key, value in theirs.items():
        if value is None:
            continue
        current = mine.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            for k, v in value.items():
                if v is not None and (override or current.get(k) is None):
                    current[k] = v
        elif override or current is None:
            mine[key] = dict(value) if isinstance(value, dict) else value


def _trait_disqualifier(model: ScoringModel, lead: Lead, at: float) -> list[Outcome]:
    if lead.dq_by_activity:
        return []
    facts = lead.facts
    found = next((d for d in model.disqualifiers if d.test and d.test.holds(facts)), None)
    if found is None:
        lead.disqualified = None
        return []
    newly = lead.disqualified is None
    lead.disqualified = found.reason
    return [Disqualified(lead.lead_id, lead.cycle, at, found.reason, found.name)] if newly else []


def apply_identify(
    model: ScoringModel, lead: Lead, traits: dict[str, Any], at: float
) -> list[Outcome]:
    """Merge traits: the newest identify wins; an older one only fills what is unknown."""
    newer = lead.traits_at is None or at >= lead.traits_at
    _merge_traits(lead.traits, traits, override=newer)
    if newer:
        lead.traits_at = at
    lead.traits_changed()
    out = _trait_disqualifier(model, lead, at)
    last = lead.last_at
    q = check(model, lead, max(at, last) if last is not None else at, None, True)
    return [*out, q] if q is not None else out


def merge_alias(model: ScoringModel, known: Lead, anonymous: Lead) -> list[Outcome]:
    """Fold an anonymous visitor's history and traits into the known lead, as if in order."""
    first = anonymous.history[0][0] if anonymous.history else None
    if anonymous.history:
        known.history = list(heapq.merge(known.history, anonymous.history, key=_at_kind))
        known.tally = None
    _merge_traits(known.traits, anonymous.traits, override=False)
    known.traits_changed()
    out: list[Outcome] = []
    if anonymous.dq_by_activity and anonymous.disqualified and known.disqualified is None:
        known.disqualified, known.dq_by_activity = anonymous.disqualified, True
        at = known.last_at or 0.0
        out.append(Disqualified(known.lead_id, known.cycle, at, anonymous.disqualified, "alias"))
    last = known.last_at
    if last is not None:
        out += _trait_disqualifier(model, known, last)
    q = None
    if first is not None:
        for i in range(bisect_left(known.history, first, key=at_of), len(known.history)):
            q = check(model, known, known.history[i][0], i, False)
            if q is not None:
                break
    if q is None and last is not None:
        q = check(model, known, last, None, True)
    if q is not None:
        out.append(q)
    prune(model, known)
    return out


def recycle(lead: Lead, until: float) -> bool:
    """Sales sent the lead back: a new cycle opens at `until`. False when no cycle was used."""
    if lead.qualified_at is None and not lead.closed:
        return False
    _new_cycle(lead, until)
    return True


def disposition(model: ScoringModel, lead: Lead, outcome: str, at: float) -> None:
    """nurture and disqualified close the cycle; the model says after how long one reopens."""
    reopen = {"nurture": model.nurture, "disqualified": model.sales_disqualified}.get(outcome)
    if reopen is None:
        return
    if reopen.after is None:
        lead.closed = True
    else:
        _new_cycle(lead, at + reopen.after)


def cycle_state(lead: Lead, now: float) -> str:
    """Where the lead's MQL cycle stands, for GET /v1/leads/{id}/score.

    Sales closing the cycle outranks its MQL: a qualified lead that sales dispositioned as
    disqualified (or rejected as do_not_call) is closed, though the cycle's MQL still stands.
    """
    if lead.disqualified is not None:
        return "disqualified"
    if lead.closed:
        return "closed"
    if lead.is_mql:
        return "mql"
    opens = lead.opens_at
    if opens is not None and (lead.last_at or 0.0) < opens and now < opens:
        return "waiting"
    return "open"


def _new_cycle(lead: Lead, opens_at: float) -> None:
    lead.cycle += 1
    lead.opens_at = opens_at
    lead.tally = None
    lead.qualified_at = None
    lead.trigger = None
    lead.closed = False


def score_change_due(model: ScoringModel, lead: Lead) -> Score | None:
    """The score to announce in handoff.lead.score_changed, at most once per `every`."""
    rate = model.score_changed
    if rate is None or not lead.history:
        return None
    score = score_at(model, lead)
    assert score.at is not None
    if lead.emitted is None:
        due = abs(score.total) >= rate.min_change
    else:
        last_at, last_score = lead.emitted
        due = abs(score.total - last_score) >= rate.min_change and score.at - last_at >= rate.every
    if not due:
        return None
    lead.emitted = (score.at, score.total)
    return score
