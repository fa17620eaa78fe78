"""Translate the consumed events into the domain's funnel facts (others are ignored)."""

from __future__ import annotations

from handoff.events import routing, scoring, sla
from handoff_insight.domain import funnel as f

# Every event the insight consumer parses, from the three topics it reads.
FunnelEvent = scoring.ScoringEvent | routing.RoutingEvent | sla.SlaEvent


def fact_of(event: FunnelEvent) -> f.Fact | None:
    match event:
        case scoring.LeadMql(data=d):
            return f.Qualified(
                mql_id=d.mql_id,
                lead_id=d.lead_id,
                cycle=d.cycle,
                qualified_at=d.qualified_at,
                score=d.score,
                fit_grade=d.fit_grade,
                trigger_kind=d.trigger.kind,
                trigger_rule=d.trigger.rule,
                rules=tuple(sorted({c.rule for c in d.contributions if c.rule})),
                source=d.source,
                campaign=d.campaign,
            )
        case routing.LeadAssigned(data=d):
            return f.Assigned(d.mql_id, d.handoff_id, d.rep_id, d.pool, d.team, d.assigned_at)
        case routing.LeadAccepted(data=d):
            return f.Accepted(d.handoff_id, d.at)
        case routing.LeadRejected(data=d):
            return f.Rejected(d.handoff_id, d.at, d.reason_code)
        case routing.LeadContacted(data=d):
            return f.Contacted(d.handoff_id, d.at)
        case routing.LeadDispositioned(data=d):
            return f.Dispositioned(d.handoff_id, d.at, d.outcome)
        case routing.LeadRecycled(data=d):
            return f.Recycled(d.handoff_id, d.at)
        case sla.SlaMet(data=d):
            return f.SlaMet(
                d.handoff_id, d.stage, d.met_at, d.elapsed.wall_seconds, d.elapsed.business_seconds
            )
        case sla.SlaBreached(data=d):
            return f.SlaBreached(d.handoff_id, d.stage, d.fired_at)
        case sla.SlaEscalated(data=d):
            return f.SlaEscalated(d.handoff_id, d.stage, d.level, d.fired_at)
    return None
