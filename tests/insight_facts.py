"""Funnel fact and event factories for the insight tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from handoff_insight.domain import funnel as f
from tests.factories import T0


def qualified(
    mql_id: str = "m1",
    *,
    at: datetime = T0,
    score: int = 70,
    source: str | None = "web",
    campaign: str | None = "q4",
    rules: tuple[str, ...] = ("pricing",),
    pool: str | None = None,
) -> f.Qualified:
    return f.Qualified(
        mql_id,
        "L-" + mql_id,
        1,
        at,
        score,
        "A",
        "threshold",
        "score >= 60",
        rules,
        source,
        campaign,
    )


def journey(mql_id: str, handoff_id: str, outcome: str, *, at: datetime = T0) -> list[f.Fact]:
    """An MQL and what happened to it: accepted, rejected, sql, breached or open."""
    s = timedelta(seconds=1)
    facts: list[f.Fact] = [
        qualified(mql_id, at=at),
        f.Assigned(mql_id, handoff_id, "rep-1", "jp", "team-a", at + s),
    ]
    if outcome in ("accepted", "sql"):
        facts += [
            f.Accepted(handoff_id, at + 61 * s),
            f.SlaMet(handoff_id, "accept", at + 61 * s, 60, 60),
        ]
    if outcome == "sql":
        facts += [
            f.Contacted(handoff_id, at + 200 * s),
            f.Dispositioned(handoff_id, at + 900 * s, "sql"),
        ]
    if outcome == "rejected":
        facts += [
            f.Rejected(handoff_id, at + 30 * s, "no_budget"),
            f.SlaMet(handoff_id, "accept", at + 30 * s, 29, 29),
        ]
    if outcome == "breached":
        facts += [
            f.SlaBreached(handoff_id, "accept", at + 301 * s),
            f.SlaEscalated(handoff_id, "accept", 1, at + 302 * s),
        ]
    return facts


# CloudEvents for the topics insight reads, with plausible defaults.
from handoff.events import routing, scoring, sla  # noqa: E402
from tests.factories import new_id  # noqa: E402


def mql_event(
    lead: str,
    mql_id: str,
    *,
    at: datetime,
    source: str,
    campaign: str = "c1",
    score: int = 70,
    rule: str = "pricing_visits",
) -> scoring.LeadMql:
    return scoring.LeadMql(
        id=new_id("evt"),
        subject=lead,
        time=at,
        data=scoring.MqlData(
            lead_id=lead,
            mql_id=mql_id,
            cycle=1,
            score=score,
            engagement_score=score,
            fit_score=0,
            fit_grade="B",
            model_version="test",
            trigger=scoring.Trigger(kind="threshold", rule="score >= 60"),
            reason="test",
            contributions=[
                scoring.Contribution(
                    activity_type="pricing_page_view", count=2, points=20, rule=rule
                )
            ],
            qualified_at=at,
            source=source,
            campaign=campaign,
        ),
    )


def assigned_event(
    lead: str, mql_id: str, handoff_id: str, *, at: datetime, pool: str
) -> routing.LeadAssigned:
    return routing.LeadAssigned(
        id=new_id("evt"),
        subject=lead,
        data=routing.AssignedData(
            lead_id=lead,
            handoff_id=handoff_id,
            mql_id=mql_id,
            rep_id="rep-1",
            pool=pool,
            rule="default",
            assigned_at=at,
            decision=[],
            team="team-a",
        ),
    )


def accepted_event(lead: str, handoff_id: str, *, at: datetime) -> routing.LeadAccepted:
    return routing.LeadAccepted(
        id=new_id("evt"),
        subject=lead,
        data=routing.HandoffActionData(lead_id=lead, handoff_id=handoff_id, rep_id="rep-1", at=at),
    )


def rejected_event(
    lead: str, handoff_id: str, *, at: datetime, reason: str = "no_budget"
) -> routing.LeadRejected:
    return routing.LeadRejected(
        id=new_id("evt"),
        subject=lead,
        data=routing.RejectedData(
            lead_id=lead, handoff_id=handoff_id, rep_id="rep-1", at=at, reason_code=reason
        ),
    )


def sql_event(lead: str, handoff_id: str, *, at: datetime) -> routing.LeadDispositioned:
    return routing.LeadDispositioned(
        id=new_id("evt"),
        subject=lead,
        data=routing.DispositionedData(
            lead_id=lead, handoff_id=handoff_id, rep_id="rep-1", at=at, outcome="sql"
        ),
    )


def met_event(lead: str, handoff_id: str, *, at: datetime, seconds: float = 60.0) -> sla.SlaMet:
    return sla.SlaMet(
        id=new_id("evt"),
        subject=lead,
        data=sla.MetData(
            lead_id=lead,
            handoff_id=handoff_id,
            timer_id=new_id("t"),
            policy="accept-within",
            stage="accept",
            due_at=at + timedelta(hours=1),
            met_at=at,
            elapsed=sla.Elapsed(wall_seconds=seconds, business_seconds=seconds),
        ),
    )


def breached_event(lead: str, handoff_id: str, *, at: datetime) -> sla.SlaBreached:
    return sla.SlaBreached(
        id=new_id("evt"),
        subject=lead,
        data=sla.FiredData(
            lead_id=lead,
            handoff_id=handoff_id,
            timer_id=new_id("t"),
            policy="accept-within",
            stage="accept",
            due_at=at,
            fired_at=at,
        ),
    )
