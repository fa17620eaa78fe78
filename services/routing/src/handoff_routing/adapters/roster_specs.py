"""How reps, pools and accounts are written: in routing.yaml, in the admin API and in the roster
table (as JSON documents), one schema for all three; and their conversion to the domain."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from handoff_routing.domain.roster import (
    LEAST_LOADED,
    ROUND_ROBIN,
    Absence,
    Account,
    Pool,
    Rep,
    WorkingHours,
)
from handoff_routing.domain.rules import normalize_domain

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")


class HoursSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[Day] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: time = Field(description="local time the rep starts taking leads, e.g. 09:00")
    end: time = Field(description="local time the rep stops, e.g. 18:00; after start")

    @model_validator(mode="after")
    def _start_before_end(self) -> HoursSpec:
        if self.start >= self.end:
            raise PydanticCustomError("hours", "start must be before end")
        return self


class AbsenceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    starts: AwareDatetime = Field(alias="from", description="first moment away, with its offset")
    ends: AwareDatetime = Field(alias="until", description="back from this moment")

    @model_validator(mode="after")
    def _ordered(self) -> AbsenceSpec:
        if self.starts >= self.ends:
            raise PydanticCustomError("absence", "from must be before until")
        return self


class RepSpec(BaseModel):
    """A rep as sales ops write them."""

    model_config = ConfigDict(extra="forbid")

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=320)
    team: str = Field(min_length=1, max_length=200)
    active: bool = True
    manager: str | None = Field(default=None, max_length=200)
    timezone: str | None = None
    weight: int = Field(default=1, ge=1, le=100, description="share of round-robin turns")
    max_open: int | None = Field(
        default=None, ge=1, description="most assigned, unaccepted handoffs"
    )
    daily_cap: int | None = Field(default=None, ge=1, description="most assignments per local day")
    working_hours: HoursSpec | None = None
    out_of_office: list[AbsenceSpec] = Field(default_factory=list, max_length=100)

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise PydanticCustomError("email", "not an email address")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone",
                "unknown time zone '{value}'; use an IANA name such as Asia/Tokyo",
                {"value": value},
            ) from None
        return value


class PoolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Identifier
    strategy: Literal["round_robin", "least_loaded"] = "round_robin"
    members: list[Identifier] = Field(min_length=1, max_length=1000)


class AccountSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(min_length=3, max_length=253)
    name: str = Field(min_length=1, max_length=300)
    owner: Identifier

    @field_validator("domain")
    @classmethod
    def _normalized(cls, value: str) -> str:
        domain = normalize_domain(value)
        if domain is None or not _DOMAIN.match(domain):
            raise PydanticCustomError("domain", "not a domain name such as acme.co.jp")
        return domain


def rep_of(spec: RepSpec) -> Rep:
    hours = spec.working_hours
    return Rep(
        id=spec.id,
        name=spec.name,
        email=spec.email,
        team=spec.team,
        active=spec.active,
        manager=spec.manager,
        timezone=spec.timezone,
        weight=spec.weight,
        max_open=spec.max_open,
        daily_cap=spec.daily_cap,
        working_hours=None
        if hours is None
        else WorkingHours(frozenset(DAYS.index(d) for d in hours.days), hours.start, hours.end),
        out_of_office=tuple(Absence(a.starts, a.ends) for a in spec.out_of_office),
    )


def pool_of(spec: PoolSpec) -> Pool:
    return Pool(
        spec.name,
        tuple(spec.members),
        LEAST_LOADED if spec.strategy == LEAST_LOADED else ROUND_ROBIN,
    )


def account_of(spec: AccountSpec) -> Account:
    return Account(spec.domain, spec.name, spec.owner)


def away_now(spec: RepSpec, now: datetime) -> bool:
    return any(a.starts <= now < a.ends for a in spec.out_of_office)
