"""Read config/routing.yaml into a Roster and ReasonCodes; errors name file, line and key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from handoff.config_file import load_yaml
from handoff_routing.domain.reasons import FollowUp, ReasonCode, ReasonCodes
from handoff_routing.domain.roster import Pool, Rep, Roster

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


def _seen(info: ValidationInfo, kind: str) -> set[str]:
    """Names declared so far in this file, shared between validators through the validation context.

    Fields validate in declaration order, so by the time `pools` is checked every rep id
    is known; errors then point at the exact list item, which gives the exact line.
    """
    if not isinstance(info.context, dict):
        raise TypeError("validate RoutingFile with context={} (use load_config)")
    found: set[str] = info.context.setdefault(kind, set())
    return found


def _declare(value: str, info: ValidationInfo, kind: str) -> str:
    seen = _seen(info, kind)
    if value in seen:
        raise PydanticCustomError("duplicate", "'{value}' is declared twice", {"value": value})
    seen.add(value)
    return value


def _known_rep(rep_id: str, info: ValidationInfo) -> str:
    if rep_id not in _seen(info, "reps"):
        raise PydanticCustomError(
            "unknown_rep", "no rep with id '{rep_id}' in reps", {"rep_id": rep_id}
        )
    return rep_id


class RepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Identifier
    name: str = Field(min_length=1)
    email: str
    team: str = Field(min_length=1)
    active: bool = True
    manager: str | None = None
    timezone: str | None = None

    @field_validator("id")
    @classmethod
    def _unique_id(cls, value: str, info: ValidationInfo) -> str:
        return _declare(value, info, "reps")

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


class PoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Identifier
    strategy: Literal["round_robin"] = "round_robin"
    members: list[Annotated[str, AfterValidator(_known_rep)]] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _unique_name(cls, value: str, info: ValidationInfo) -> str:
        return _declare(value, info, "pools")


class ReasonCodeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=100)]
    label_en: str = Field(min_length=1)
    label_ja: str = Field(min_length=1)
    follow_up: FollowUp
    recycle_days: int | None = Field(default=None, gt=0)

    @field_validator("code")
    @classmethod
    def _unique_code(cls, value: str, info: ValidationInfo) -> str:
        return _declare(value, info, "reason_codes")

    @field_validator("recycle_days")
    @classmethod
    def _only_when_recycled(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("follow_up") not in (None, FollowUp.RECYCLE):
            raise PydanticCustomError(
                "recycle_days", "recycle_days applies only when follow_up is recycle"
            )
        return value


class RoutingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reps: list[RepFile] = Field(min_length=1)
    pools: list[PoolFile] = Field(min_length=1)
    default_pool: str
    reason_codes: list[ReasonCodeFile] = Field(min_length=1)

    @field_validator("default_pool")
    @classmethod
    def _pool_exists(cls, value: str, info: ValidationInfo) -> str:
        if value not in _seen(info, "pools"):
            raise PydanticCustomError(
                "unknown_pool", "no pool named '{value}' in pools", {"value": value}
            )
        return value


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """What sales ops configure: the team and the reasons a rep may give for rejecting a lead."""

    roster: Roster
    reasons: ReasonCodes


def load_config(path: Path) -> RoutingConfig:
    context: dict[str, Any] = {}
    parsed = load_yaml(path, RoutingFile, context=context)
    reps = {
        r.id: Rep(r.id, r.name, r.email, r.team, r.active, r.manager, r.timezone)
        for r in parsed.reps
    }
    pools = {p.name: Pool(p.name, tuple(p.members), p.strategy) for p in parsed.pools}
    reasons = ReasonCodes(
        ReasonCode(c.code, c.label_en, c.label_ja, c.follow_up, c.recycle_days)
        for c in parsed.reason_codes
    )
    return RoutingConfig(Roster(reps, pools, parsed.default_pool), reasons)
