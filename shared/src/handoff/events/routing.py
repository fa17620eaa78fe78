"""Events on handoff.routing.v1: assignment and the handoff lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from handoff.events.envelope import ADAPTER_CONFIG, CloudEvent, EventData
from handoff.events.values import UtcDatetime

TOPIC = "handoff.routing.v1"
SOURCE = "/handoff/routing"


class Candidate(EventData):
    rep_id: str
    skipped: str | None = None  # why this rep was passed over; None for the chosen rep


class DecisionStep(EventData):
    rule: str
    matched: bool
    pool: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    note: str | None = None


class AssignedData(EventData):
    lead_id: str
    handoff_id: str
    mql_id: str
    rep_id: str
    pool: str
    rule: str
    assigned_at: UtcDatetime
    decision: list[DecisionStep]
    # Copied from the MQL and the roster so sla-watch can choose a policy and an escalation
    # target without reading routing's tables.
    mql_trigger: str | None = None  # the MQL trigger kind: threshold, activity, sequence, criteria
    fit_grade: str | None = None
    team: str | None = None
    manager_id: str | None = None


class UnassignedData(EventData):
    lead_id: str
    handoff_id: str
    mql_id: str
    pool: str | None
    reason: str
    at: UtcDatetime
    decision: list[DecisionStep]


class HandoffActionData(EventData):
    lead_id: str
    handoff_id: str
    rep_id: str
    at: UtcDatetime


class RejectedData(HandoffActionData):
    reason_code: str
    note: str | None = None


class ContactedData(HandoffActionData):
    channel: str | None = None


class DispositionedData(HandoffActionData):
    outcome: Literal["sql", "nurture", "recycle", "disqualified"]
    note: str | None = None


class RecycledData(HandoffActionData):
    until: datetime


class ReassignedData(HandoffActionData):
    previous_rep_id: str | None = None
    # The handoff that replaces this one (its assignment follows on the topic), and why.
    new_handoff_id: str | None = None
    reason: str | None = None


class LeadAssigned(CloudEvent[AssignedData]):
    type: Literal["handoff.lead.assigned"] = "handoff.lead.assigned"
    source: str = SOURCE


class LeadUnassigned(CloudEvent[UnassignedData]):
    type: Literal["handoff.lead.unassigned"] = "handoff.lead.unassigned"
    source: str = SOURCE


class LeadAccepted(CloudEvent[HandoffActionData]):
    type: Literal["handoff.lead.accepted"] = "handoff.lead.accepted"
    source: str = SOURCE


class LeadRejected(CloudEvent[RejectedData]):
    type: Literal["handoff.lead.rejected"] = "handoff.lead.rejected"
    source: str = SOURCE


class LeadContacted(CloudEvent[ContactedData]):
    type: Literal["handoff.lead.contacted"] = "handoff.lead.contacted"
    source: str = SOURCE


class LeadDispositioned(CloudEvent[DispositionedData]):
    type: Literal["handoff.lead.dispositioned"] = "handoff.lead.dispositioned"
    source: str = SOURCE


class LeadRecycled(CloudEvent[RecycledData]):
    type: Literal["handoff.lead.recycled"] = "handoff.lead.recycled"
    source: str = SOURCE


class LeadReassigned(CloudEvent[ReassignedData]):
    type: Literal["handoff.lead.reassigned"] = "handoff.lead.reassigned"
    source: str = SOURCE


RoutingEvent = Annotated[
    LeadAssigned
    | LeadUnassigned
    | LeadAccepted
    | LeadRejected
    | LeadContacted
    | LeadDispositioned
    | LeadRecycled
    | LeadReassigned,
    Field(discriminator="type"),
]
routing_event_adapter: TypeAdapter[RoutingEvent] = TypeAdapter(RoutingEvent, config=ADAPTER_CONFIG)
