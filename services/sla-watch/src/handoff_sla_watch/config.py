"""Read config/sla.yaml into the domain's policies; mistakes name file, line and key."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from handoff.config_file import load_yaml
from handoff.events import routing
from handoff_sla_watch.domain.durations import parse_duration
from handoff_sla_watch.domain.model import STAGES, Policy

# Read from the shared event models, so a routing type added there is accepted here.
ROUTING_TYPES = tuple(
    sorted(cls.model_fields["type"].default for cls in get_args(get_args(routing.RoutingEvent)[0]))
)


def _routing_type(value: str) -> str:
    if value not in ROUTING_TYPES:
        raise ValueError(
            f"unknown event type {value!r}; expected one of {', '.join(ROUTING_TYPES)}"
        )
    return value


RoutingType = Annotated[str, AfterValidator(_routing_type)]


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    stage: str
    starts_on: RoutingType
    stops_on: list[RoutingType] = Field(min_length=1)
    within: str

    @field_validator("stage")
    @classmethod
    def _known_stage(cls, value: str) -> str:
        if value not in STAGES:
            raise ValueError(f"unknown stage {value!r}; expected one of {', '.join(STAGES)}")
        return value

    @field_validator("within")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _start_is_not_a_stop(self) -> PolicyFile:
        if self.starts_on in self.stops_on:
            raise ValueError(
                f"policy {self.name!r} stops on the event that starts it ({self.starts_on})"
            )
        return self


class SlaFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: list[PolicyFile] = Field(min_length=1)

    @field_validator("policies")
    @classmethod
    def _one_policy_per_stage(cls, value: list[PolicyFile]) -> list[PolicyFile]:
        # A handoff has one timer per stage (the table's unique key), so stages must not repeat.
        for what, counts in (
            ("name", Counter(p.name for p in value)),
            ("stage", Counter(p.stage for p in value)),
        ):
            repeated = sorted(k for k, n in counts.items() if n > 1)
            if repeated:
                raise ValueError(f"{what} {repeated[0]!r} is used by more than one policy")
        return value


def load_policies(path: Path) -> tuple[Policy, ...]:
    parsed = load_yaml(path, SlaFile)
    return tuple(
        Policy(
            name=p.name,
            stage=p.stage,
            starts_on=p.starts_on,
            stops_on=frozenset(p.stops_on),
            within=parse_duration(p.within),
        )
        for p in parsed.policies
    )
