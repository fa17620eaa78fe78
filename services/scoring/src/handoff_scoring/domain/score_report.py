"""What GET /v1/leads/{id}/score tells about a lead: its score as of its latest activity and
now, where its MQL cycle stands, the trigger, the reason and the recent activities."""

from __future__ import annotations

from dataclasses import dataclass

from handoff_scoring.domain.engagement import Score, score_at
from handoff_scoring.domain.explanation import Contribution, contributions, reason
from handoff_scoring.domain.lead import Lead
from handoff_scoring.domain.lifecycle import cycle_state, prune
from handoff_scoring.domain.model import Props, ScoringModel

RECENT = 20  # activities shown, newest first


@dataclass(frozen=True, slots=True)
class RecentActivity:
    activity_type: str
    occurred_at: float
    rules: list[str]  # the behaviour rules it matches
    properties: Props


@dataclass(frozen=True, slots=True)
class ScoreReport:
    lead: Lead
    score: Score  # as of the latest activity
    now: Score  # decayed to the time of asking
    state: str  # see lifecycle.cycle_state
    trigger: tuple[str, str] | None  # (kind, rule) of the cycle's MQL
    reason: str
    contributions: list[Contribution]
    recent: list[RecentActivity]


def trigger_of(lead: Lead) -> tuple[str, str] | None:
    """The (kind, rule) of the cycle's MQL, stored as "kind:rule"."""
    if lead.trigger and ":" in lead.trigger:
        kind, rule = lead.trigger.split(":", 1)
        return kind, rule
    return None


def score_report(model: ScoringModel, lead: Lead, now: float) -> ScoreReport:
    """The lead as the score API shows it at `now` (epoch seconds), its history cut to the
    model's retention first (the stored log may run past it until its next trim)."""
    prune(model, lead)
    score = score_at(model, lead)
    top = contributions(model, lead)
    return ScoreReport(
        lead=lead,
        score=score,
        now=score_at(model, lead, max(now, lead.last_at or 0.0)),
        state=cycle_state(lead, now),
        trigger=trigger_of(lead),
        reason=reason(model, lead, score.at or 0.0, top[:5]),
        contributions=top,
        recent=[
            RecentActivity(
                activity_type=kind,
                occurred_at=at,
                rules=[model.rule(n).name for n in model.rules_for(kind, props)],
                properties=dict(props or {}),
            )
            for at, kind, props in reversed(lead.history[-RECENT:])
        ],
    )
