"""Events on handoff.signals.v1: behaviour signals from MA tools, the API and connectors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter

from handoff.events.envelope import ADAPTER_CONFIG, CloudEvent, EventData
from handoff.events.values import UtcDatetime

TOPIC = "handoff.signals.v1"

SnakeCase = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
LeadId = Annotated[str, Field(min_length=1, max_length=200)]


class Company(EventData):
    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    name: str | None = None
    domain: str | None = None
    size: int | None = Field(default=None, ge=0)
    industry: str | None = None
    country: str | None = None
    region: str | None = None


class Traits(EventData):
    """What is known about the person; providers may add their own fields."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    email: str | None = None
    name: str | None = None
    title: str | None = None
    company: Company | None = None


class ActivityData(EventData):
    lead_id: LeadId
    activity_type: SnakeCase
    occurred_at: UtcDatetime
    source: str = "api"
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: Traits | None = None


class IdentifyData(EventData):
    lead_id: LeadId
    occurred_at: UtcDatetime
    source: str = "api"
    traits: Traits


class AliasData(EventData):
    lead_id: LeadId
    previous_id: LeadId
    occurred_at: UtcDatetime | None = None
    source: str = "api"


class ActivitySignal(CloudEvent[ActivityData]):
    type: Literal["handoff.signal.activity"] = "handoff.signal.activity"


class IdentifySignal(CloudEvent[IdentifyData]):
    type: Literal["handoff.signal.identify"] = "handoff.signal.identify"


class AliasSignal(CloudEvent[AliasData]):
    type: Literal["handoff.signal.alias"] = "handoff.signal.alias"


Signal = Annotated[ActivitySignal | IdentifySignal | AliasSignal, Field(discriminator="type")]
signal_adapter: TypeAdapter[Signal] = TypeAdapter(Signal, config=ADAPTER_CONFIG)
