"""A lead's running score and the rule that makes it an MQL, once per cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """What marketing ops configure: points per activity type and the MQL threshold."""

    version: str
    threshold: int
    points: dict[str, int]
    default_points: int = 0

    def points_for(self, activity_type: str) -> int:
        return self.points.get(activity_type, self.default_points)


@dataclass(slots=True)
class Tally:
    count: int
    points: int
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Activity:
    lead_id: str
    activity_type: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Contribution:
    activity_type: str
    count: int
    points: int
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Qualified:
    """The lead became an MQL: what a rep needs to see why."""

    lead_id: str
    cycle: int
    score: int
    model_version: str
    rule: str
    reason: str
    contributions: tuple[Contribution, ...]
    qualified_at: datetime
    traits: dict[str, Any]


@dataclass(slots=True)
class LeadScore:
    """The state of one lead. The handler owns it for one batch; `apply_*` update it in place."""

    lead_id: str
    score: int = 0
    tallies: dict[str, Tally] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    cycle: int = 1
    qualified_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_mql(self) -> bool:
        return self.qualified_at is not None

    def contributions(self, limit: int | None = None) -> tuple[Contribution, ...]:
        ranked = sorted(self.tallies.items(), key=lambda kv: (-abs(kv[1].points), kv[0]))
        return tuple(
            Contribution(kind, t.count, t.points, t.last_seen) for kind, t in ranked[:limit]
        )


def apply_activity(lead: LeadScore, activity: Activity, model: ScoringModel) -> Qualified | None:
    """Add the activity's points; return the MQL if this crossed the threshold in this cycle."""
    points = model.points_for(activity.activity_type)
    tally = lead.tallies.get(activity.activity_type)
    if tally is None:
        lead.tallies[activity.activity_type] = Tally(1, points, activity.occurred_at)
    else:
        tally.count += 1
        tally.points += points
        if activity.occurred_at > tally.last_seen:
            tally.last_seen = activity.occurred_at
    lead.score += points
    if lead.updated_at is None or activity.occurred_at > lead.updated_at:
        lead.updated_at = activity.occurred_at
    return _qualify_if_crossed(lead, model, activity.occurred_at)


def _qualify_if_crossed(lead: LeadScore, model: ScoringModel, at: datetime) -> Qualified | None:
    if lead.is_mql or lead.score < model.threshold:
        return None
    lead.qualified_at = at
    contributions = lead.contributions(limit=5)
    return Qualified(
        lead_id=lead.lead_id,
        cycle=lead.cycle,
        score=lead.score,
        model_version=model.version,
        rule=f"score >= {model.threshold}",
        reason=explain(lead.score, model.threshold, contributions, lead.traits),
        contributions=contributions,
        qualified_at=at,
        traits=dict(lead.traits),
    )


def apply_identify(lead: LeadScore, traits: dict[str, Any]) -> None:
    """Merge traits; a later identify overrides earlier values, missing values are kept."""
    for key, value in traits.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(lead.traits.get(key), dict):
            lead.traits[key] = {
                **lead.traits[key],
                **{k: v for k, v in value.items() if v is not None},
            }
        else:
            lead.traits[key] = value


def merge_alias(known: LeadScore, anonymous: LeadScore, model: ScoringModel) -> Qualified | None:
    """Fold an anonymous visitor's earlier activity into the known lead."""
    for kind, tally in anonymous.tallies.items():
        mine = known.tallies.get(kind)
        if mine is None:
            known.tallies[kind] = Tally(tally.count, tally.points, tally.last_seen)
        else:
            mine.count += tally.count
            mine.points += tally.points
            mine.last_seen = max(mine.last_seen, tally.last_seen)
        known.score += tally.points
    for key, value in anonymous.traits.items():
        known.traits.setdefault(key, value)
    latest = max((t.last_seen for t in known.tallies.values()), default=None)
    if latest is not None and (known.updated_at is None or latest > known.updated_at):
        known.updated_at = latest
    return _qualify_if_crossed(known, model, latest) if latest is not None else None


def _plural(kind: str, count: int) -> str:
    words = kind.replace("_", " ")
    return f"{count} {words}{'s' if count != 1 and not words.endswith('s') else ''}"


def explain(
    score: int, threshold: int, contributions: tuple[Contribution, ...], traits: dict[str, Any]
) -> str:
    """One plain sentence a rep can read."""
    positive = [c for c in contributions if c.points > 0][:3]
    parts = [_plural(c.activity_type, c.count) for c in positive]
    if len(parts) > 1:
        what = ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        what = parts[0] if parts else "engagement"
    sentence = f"Scored {score} (threshold {threshold}) from {what}"
    who = describe_person(traits)
    return f"{sentence}; {who}." if who else f"{sentence}."


def describe_person(traits: dict[str, Any]) -> str:
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
    org = " ".join([*bits, "company"]) if bits else (company.get("name") or "")
    text = f"{title} at a {org}" if title and org else (title or org or "")
    if where and text:
        text += f" in {where}"
    return str(text)
