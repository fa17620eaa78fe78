"""Commands on handoff.routing.commands.v1: reps' actions sent by a CRM connector instead of the API.

Each command is what the rep did in the CRM; routing applies it exactly as the matching
`POST /v1/handoffs/{handoff_id}/<action>` request, once per event id (docs/routing.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from handoff.events.envelope import ADAPTER_CONFIG, CloudEvent, EventData

TOPIC = "handoff.routing.commands.v1"


class RepActionData(EventData):
    lead_id: str | None = None  # also the record key; optional in data
    handoff_id: str = Field(min_length=1, max_length=200)
    rep_id: str = Field(min_length=1, max_length=200)


class RejectData(RepActionData):
    reason_code: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class ContactData(RepActionData):
    channel: str | None = Field(default=None, max_length=100)


class DispositionData(RepActionData):
    outcome: Literal["sql", "nurture", "recycle", "disqualified"]
    note: str | None = Field(default=None, max_length=2000)
    recycle_after_days: int | None = Field(default=None, ge=1, le=3650)


class AcceptCommand(CloudEvent[RepActionData]):
    type: Literal["handoff.command.accept"] = "handoff.command.accept"


class RejectCommand(CloudEvent[RejectData]):
    type: Literal["handoff.command.reject"] = "handoff.command.reject"


class ContactCommand(CloudEvent[ContactData]):
    type: Literal["handoff.command.contact"] = "handoff.command.contact"


class DispositionCommand(CloudEvent[DispositionData]):
    type: Literal["handoff.command.disposition"] = "handoff.command.disposition"


RepCommand = Annotated[
    AcceptCommand | RejectCommand | ContactCommand | DispositionCommand,
    Field(discriminator="type"),
]
command_adapter: TypeAdapter[RepCommand] = TypeAdapter(RepCommand, config=ADAPTER_CONFIG)
