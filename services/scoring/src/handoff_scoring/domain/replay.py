"""Replay a lead's recorded history under a model, as `handoff scoring rescore` does: what
would its score be, and would it be an MQL in its current cycle?"""

from __future__ import annotations

from dataclasses import dataclass

from handoff_scoring.domain.engagement import score_at
from handoff_scoring.domain.lead import HistoryNeeded, Lead
from handoff_scoring.domain.lifecycle import apply_activity, disqualify_by_traits
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.domain.triggers import Qualified, qualify_if_triggered


@dataclass(frozen=True, slots=True)
class Verdict:
    lead_id: str
    score: int
    grade: str
    qualified: bool
    trigger: str | None
    disqualified: str | None
    lead: Lead  # the replayed state


def replay(model: ScoringModel, recorded: Lead) -> Verdict:
    """The recorded activities in time order, the known traits, the same cycle."""
    if not recorded.complete:
        raise HistoryNeeded(recorded.lead_id, "a replay")
    lead = Lead(
        recorded.lead_id,
        traits={k: dict(v) if isinstance(v, dict) else v for k, v in recorded.traits.items()},
        traits_at=recorded.traits_at,
        cycle=recorded.cycle,
        opens_at=recorded.opens_at,
        closed=recorded.closed,
    )
    disqualify_by_traits(model, lead, 0.0)
    qualified: Qualified | None = None
    for at, kind, props in recorded.history:
        for outcome in apply_activity(model, lead, at, kind, props):
            if isinstance(outcome, Qualified):
                qualified = outcome
    last = lead.last_at
    if qualified is None and last is not None:
        qualified = qualify_if_triggered(model, lead, last, None, True)
    score = score_at(model, lead)
    return Verdict(
        lead.lead_id,
        score.total,
        score.fit.grade,
        lead.is_mql,
        None if qualified is None else f"{qualified.kind}:{qualified.rule}",
        lead.disqualified,
        lead,
    )
