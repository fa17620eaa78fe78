"""Why a lead scores what it scores: the per-rule breakdown, the top contributions, one
sentence a rep can read, and the sources and campaigns that brought the lead."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from handoff_scoring.domain.engagement import round_points, window_start
from handoff_scoring.domain.lead import HistoryNeeded, Lead
from handoff_scoring.domain.model import DAY, Match, ScoringModel


@dataclass(slots=True)
class RuleScore:
    """What one behaviour rule adds at an instant: counted activities and decayed, capped points."""

    rule: str
    activity_type: str
    count: int = 0
    points: float = 0.0
    first_seen: float = 0.0
    last_seen: float = 0.0


@dataclass(slots=True)
class _Counting:
    """Which activities each repeat policy lets count, in time order."""

    once: set[int] = field(default_factory=set)
    per_day: dict[tuple[int, int], int] = field(default_factory=dict)
    windows: dict[int, deque[float]] = field(default_factory=dict)


def engagement_by_rule(
    model: ScoringModel, lead: Lead, at: float, detail: dict[int, RuleScore]
) -> float:
    """engagement_at computed entry by entry, collecting the per-rule breakdown in `detail`
    (for explanations; the same rules, rounded the same way)."""
    lo, hi = window_start(model, lead, at)
    if hi <= lo:
        return 0.0
    sums = _rule_sums(model, lead, at, lo, hi, detail)
    rules = model._all
    total = 0.0
    for n, points in sums.items():
        cap = rules[n].cap
        if cap is not None:
            points = min(points, cap) if points > 0 else max(points, -cap)
        detail[n].points = points
        total += points
    if model.engagement_cap is not None:
        total = min(total, model.engagement_cap)
    return total


def _rule_sums(
    model: ScoringModel, lead: Lead, at: float, lo: int, hi: int, detail: dict[int, RuleScore]
) -> dict[int, float]:
    """Each rule's decayed points over history[lo:hi], before caps; counts go into `detail`."""
    h = lead.history
    rules = model._all
    half = model.half_life
    sums: dict[int, float] = {}
    counting = _Counting()
    for i in range(lo, hi):
        t, kind, props = h[i]
        age = at - t
        factor = 0.5 ** (age / half) if half else 1.0
        for n in model.rules_for(kind, props):
            rule = rules[n]
            if rule.repeat != "every" and not _counts(
                rule.repeat, rule.limit, rule.window, n, t, counting
            ):
                continue
            if rule.lifespan is not None and age >= rule.lifespan:
                continue
            sums[n] = sums.get(n, 0.0) + rule.points * factor
            rs = detail.get(n)
            if rs is None:
                rs = detail[n] = RuleScore(rule.name, rule.match.activity, first_seen=t)
            rs.count += 1
            rs.last_seen = t
    return sums


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


def breakdown(model: ScoringModel, lead: Lead, at: float | None = None) -> list[RuleScore]:
    """Per-rule contributions at `at`, largest first (positive or negative)."""
    when = lead.last_at if at is None else at
    if when is None:
        return []
    detail: dict[int, RuleScore] = {}
    engagement_by_rule(model, lead, when, detail)
    return sorted(detail.values(), key=lambda r: (-abs(r.points), r.rule))


@dataclass(frozen=True, slots=True)
class Contribution:
    rule: str
    activity_type: str
    count: int
    points: int
    first_seen: float
    last_seen: float


def contributions(
    model: ScoringModel, lead: Lead, at: float | None = None, limit: int | None = None
) -> list[Contribution]:
    return [
        Contribution(
            r.rule, r.activity_type, r.count, round_points(r.points), r.first_seen, r.last_seen
        )
        for r in breakdown(model, lead, at)[:limit]
    ]


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _plural(kind: str, count: int) -> str:
    words = kind.replace("_", " ")
    return f"{count} {words}{'s' if count != 1 and not words.endswith('s') else ''}"


def phrase(model: ScoringModel, c: Contribution | RuleScore) -> str:
    """ "visited pricing twice", "downloaded 3 guides", or "3 content downloads" by default."""
    label = next((r.label for r in model.rules if r.name == c.rule), None)
    if not label:
        return _plural(c.activity_type, c.count)
    if "{n}" in label:
        one = c.count == 1
        text = label.replace("{n}", str(c.count)).replace("{s}", "" if one else "s")
        return text.replace("{ies}", "y" if one else "ies")
    return label if c.count == 1 else f"{label} {_times(c.count)}"


def _recency(first: float, at: float) -> str:
    age = at - first
    if age < DAY:
        return " today"
    if age < 7 * DAY:
        return " this week"
    if age < 31 * DAY:
        return " this month"
    return ""


def _by_label(model: ScoringModel, top: list[Contribution]) -> list[Contribution]:
    """Rules that share a label (pricing-page and pricing-url both "visited pricing") said once,
    their counts and points added, where the first of them stood."""
    labels = {r.name: r.label for r in model.rules if r.label}
    merged: dict[str, Contribution] = {}
    for c in top:
        key = labels.get(c.rule) or f"rule:{c.rule}"
        seen = merged.get(key)
        merged[key] = (
            c
            if seen is None
            else replace(
                seen,
                count=seen.count + c.count,
                points=seen.points + c.points,
                first_seen=min(seen.first_seen, c.first_seen),
                last_seen=max(seen.last_seen, c.last_seen),
            )
        )
    return list(merged.values())


def _catch_all(model: ScoringModel, rule_name: str) -> bool:
    rule = next((r for r in model.rules if r.name == rule_name), None)
    return rule is not None and not rule.match.where and not rule.label


def _trigger_steps(model: ScoringModel, trigger: str | None) -> tuple[Match, ...]:
    """The activities a trigger's label speaks of: an instant trigger's, or a sequence's steps."""
    if trigger is None:
        return ()
    for name, match in model.instant:
        if name == trigger:
            return (match,)
    return next((s.steps for s in model.sequences if s.name == trigger), ())


def _told_by_trigger(
    model: ScoringModel, c: Contribution, steps: tuple[Match, ...], label: str
) -> bool:
    """Whether the trigger's label already says what this contribution would: the same label
    ("visited pricing"), or a rule on one of the trigger's activities ("watched 1 video" beside
    "watched the demo video"), unless both narrow it differently (product pages, not pricing)."""
    rule = next((r for r in model.rules if r.name == c.rule), None)
    if rule is not None and rule.label and "{" not in rule.label and rule.label in label:
        return True
    for step in steps:
        if step.activity != c.activity_type:
            continue
        if rule is None or not rule.match.where or not step.where or rule.match.where == step.where:
            return True
    return False


def reason(
    model: ScoringModel,
    lead: Lead,
    at: float,
    top: list[Contribution],
    trigger_label: str | None = None,
    trigger: str | None = None,
) -> str:
    """One plain sentence: what the lead did, how recently, and who the person is.

    With a trigger's label ("watched the demo video, then visited pricing"), the label comes
    first and the contributions it already tells of are left out, so nothing is said twice.
    """
    scored = [c for c in top if c.points > 0]
    positive = _by_label(model, scored)
    parts = [phrase(model, c) for c in positive[:3]]
    if trigger_label and not any(trigger_label in p for p in parts):
        steps = _trigger_steps(model, trigger)
        told = [c for c in scored if _told_by_trigger(model, c, steps, trigger_label)]
        # A catch-all rule on a told activity (page views, beside the pricing page) says
        # the same visits again in vaguer words.
        kinds = {c.activity_type for c in told}
        others = [
            c
            for c in scored
            if c not in told and not (c.activity_type in kinds and _catch_all(model, c.rule))
        ]
        parts = [trigger_label, *(phrase(model, c) for c in _by_label(model, others))][:3]
    if len(parts) > 1:
        what = ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        what = parts[0] if parts else "no scored activity yet"
    positive = positive[:3]
    when = _recency(min(c.first_seen for c in positive), at) if positive else ""
    sentence = what[:1].upper() + what[1:] + when
    who = describe_person(lead.traits)
    return f"{sentence}; {who}." if who else f"{sentence}."


def describe_person(traits: dict[str, Any]) -> str:
    """ "VP at a 120-person Software company in Tokyo" from what is known."""
    company = traits.get("company") or {}
    title = traits.get("title")
    size = company.get("size")
    industry = company.get("industry")
    where = company.get("region") or company.get("country")
    bits = []
    if size:
        bits.append(f"{size}-person")
    if industry:
        bits.append(str(industry))
    if bits:
        article = "an" if bits[0][:1].lower() in "aeiou8" else "a"
        org = f"{article} {' '.join(bits)} company"
    else:
        org = str(company.get("name") or "")
    text = f"{title} at {org}" if title and org else str(title or org or "")
    if where and text:
        text += f" in {where}"
    return str(text)


def attribution(lead: Lead, at: float) -> tuple[list[str], list[str]]:
    """Distinct sources and campaigns of this cycle's signals up to `at`, ordered by their
    latest signal, so the last of each list is the last touch."""
    if not lead.complete:
        raise HistoryNeeded(lead.lead_id, "an attribution")
    sources: dict[str, None] = {}
    campaigns: dict[str, None] = {}
    opens = lead.opens_at
    for when, _, props in lead.history:
        if when > at or props is None or (opens is not None and when < opens):
            continue
        if "source" in props:
            sources.pop(props["source"], None)
            sources[props["source"]] = None
        if "campaign" in props:
            campaigns.pop(props["campaign"], None)
            campaigns[props["campaign"]] = None
    return list(sources), list(campaigns)
