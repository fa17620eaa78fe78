"""Why a lead scores what it scores: the top contributions and one sentence a rep can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handoff_scoring.domain.engine import RuleScore, breakdown, whole
from handoff_scoring.domain.lead import Lead
from handoff_scoring.domain.model import DAY, ScoringModel


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
        Contribution(r.rule, r.activity_type, r.count, whole(r.points), r.first_seen, r.last_seen)
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


def reason(
    model: ScoringModel,
    lead: Lead,
    at: float,
    top: list[Contribution],
    trigger_label: str | None = None,
) -> str:
    """One plain sentence: what the lead did, how recently, and who the person is."""
    positive = [c for c in top if c.points > 0][:3]
    parts = [phrase(model, c) for c in positive]
    if trigger_label and not any(trigger_label in p for p in parts):
        parts.insert(0, trigger_label)
        parts = parts[:3]
    if len(parts) > 1:
        what = ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        what = parts[0] if parts else "no scored activity yet"
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
