"""config/notify.yaml: subscriptions, delivery behaviour, address safety and the people to
notify. The same subscription model validates the admin API's bodies, so a mistake reads
the same in both: the field at fault and why. File errors name file, line and key."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from handoff.config_file import load_yaml
from handoff.durations import DurationSeconds
from handoff_notify.domain.addresses import (
    IPNetwork,
    UnsafeAddress,
    check_url,
    literal_ip,
    networks,
    refusal,
)
from handoff_notify.domain.breaker import BreakerPolicy
from handoff_notify.domain.retry import RetryPolicy
from handoff_notify.domain.subscriptions import EVENT_TYPES, Subscription

_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")


def _event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(
            f"unknown event type {value!r}; expected one of {', '.join(sorted(EVENT_TYPES))}"
        )
    return value


def _secret(value: str) -> str:
    """The Standard Webhooks form: whsec_ and base64 of 24 to 64 random bytes. The message
    never repeats the value: it is a secret."""
    if not value.startswith("whsec_"):
        raise ValueError("a signing secret starts with 'whsec_' (Standard Webhooks)")
    try:
        raw = base64.b64decode(value[6:] + "==", validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("the part after 'whsec_' must be base64") from None
    if not 24 <= len(raw) <= 64:
        raise ValueError("a signing secret holds 24 to 64 random bytes")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name like Asia/Tokyo") from None
    return value


EventType = Annotated[str, AfterValidator(_event_type)]
Secret = Annotated[str, AfterValidator(_secret)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubscriptionIn(Strict):
    """One subscription, as written in notify.yaml or sent to POST /v1/subscriptions."""

    id: str | None = Field(
        default=None,
        validate_default=True,
        description="lowercase letters, digits, '.', '_' or '-'; generated if absent",
    )
    channel: Literal["webhook", "slack", "email"] = "webhook"
    url: str = Field(
        default="",
        validate_default=True,
        max_length=2000,
        description="webhook: the receiver; slack: the incoming-webhook URL; email: unused",
    )
    secrets: list[Secret] = Field(
        default_factory=list,
        max_length=2,
        description="webhook: whsec_ signing secrets, the newest first; two during a rotation",
    )
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    pools: list[Name] = Field(default_factory=list, max_length=100)
    teams: list[Name] = Field(default_factory=list, max_length=100)
    reps: list[Name] = Field(default_factory=list, max_length=1000)
    language: Literal["en", "ja"] | None = Field(
        default=None, description="slack and email: fixed language; else the rep's or team's"
    )
    description: str = Field(default="", max_length=500)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and (info.context or {}).get("in_file"):
            raise ValueError("a subscription in the file needs an id (logs and the API name it)")
        if value is not None and not _ID.fullmatch(value):
            raise ValueError("use 1-100 lowercase letters, digits, '.', '_' or '-'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        channel = info.data.get("channel")
        if channel == "email":
            return value
        if not value:
            raise ValueError(f"a {channel} subscription needs a url")
        try:
            host, _ = check_url(value)
        except UnsafeAddress as exc:
            raise ValueError(f"the url {exc}") from None
        context = info.context or {}
        if "allow_networks" not in context:
            return value  # the API checks the address itself, its DNS answers included
        ip = literal_ip(host)
        reason = refusal(ip, context["allow_networks"]) if ip is not None else None
        if reason is not None:
            raise ValueError(
                f"refused: {reason}; only safety.allow_networks in notify.yaml allows it"
            )
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("channel") != "webhook":
            raise ValueError("only a webhook subscription takes signing secrets")
        return value

    def to_domain(self, subscription_id: str, origin: Literal["config", "api"]) -> Subscription:
        return Subscription(
            subscription_id=subscription_id,
            channel=self.channel,
            url=self.url,
            event_types=tuple(dict.fromkeys(self.events)),
            secrets=tuple(self.secrets),
            pools=tuple(self.pools),
            teams=tuple(self.teams),
            reps=tuple(self.reps),
            language=self.language,
            description=self.description,
            origin=origin,
        )


# Durations in the one grammar of every config file ("90s", "15m", "1h30m", "1.5h", "2d", "1w"),
# held as seconds; the defaults are written the same way.
class BreakerIn(Strict):
    failures_to_open: int = Field(default=5, ge=1, le=1000)
    open_for: DurationSeconds = Field(default="1m", validate_default=True)


class DeliveryIn(Strict):
    timeout: DurationSeconds = Field(default="10s", validate_default=True)
    retry_schedule: list[DurationSeconds] = Field(
        default_factory=lambda: ["5s", "5m", "30m", "2h", "5h", "10h"],
        validate_default=True,
        min_length=0,
        max_length=20,
    )
    jitter: float = Field(default=0.2, ge=0, le=0.5)
    concurrency_per_endpoint: int = Field(default=4, ge=1, le=100)
    breaker: BreakerIn = Field(default_factory=BreakerIn)
    disable_after: DurationSeconds = Field(default="5d", validate_default=True)
    response_body_limit: int = Field(default=1000, ge=0, le=100_000)


class SafetyIn(Strict):
    allow_networks: list[str] = Field(
        default_factory=list,
        description="networks that may be reached though private (e.g. 127.0.0.0/8 for a demo)",
    )

    @field_validator("allow_networks")
    @classmethod
    def _nets(cls, values: list[str]) -> list[str]:
        for v in values:
            try:
                networks([v])
            except ValueError:
                raise ValueError(f"{v!r} is not a network like 10.0.0.0/8 or ::1/128") from None
        return values


class PersonIn(Strict):
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    language: Literal["en", "ja"] | None = None
    timezone: TimeZone | None = None
    team: str | None = None


class TeamIn(Strict):
    language: Literal["en", "ja"] = "en"
    timezone: TimeZone = "UTC"
    manager: str | None = None


class NotifyConfig(Strict):
    subscriptions: list[SubscriptionIn] = Field(default_factory=list)
    delivery: DeliveryIn = Field(default_factory=DeliveryIn)
    safety: SafetyIn = Field(default_factory=SafetyIn)
    people: dict[str, PersonIn] = Field(default_factory=dict)
    teams: dict[str, TeamIn] = Field(default_factory=dict)

    @field_validator("subscriptions")
    @classmethod
    def _unique(cls, subs: list[SubscriptionIn]) -> list[SubscriptionIn]:
        seen: set[str | None] = set()
        for sub in subs:
            if sub.id in seen:
                raise ValueError(f"subscription id {sub.id!r} is used twice")
            seen.add(sub.id)
        return subs

    # Derived, pure policies for the domain.
    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            schedule=tuple(self.delivery.retry_schedule),
            jitter=self.delivery.jitter,
        )

    @property
    def breaker(self) -> BreakerPolicy:
        return BreakerPolicy(
            failures_to_open=self.delivery.breaker.failures_to_open,
            open_seconds=self.delivery.breaker.open_for,
            disable_after_seconds=self.delivery.disable_after,
        )

    @property
    def timeout_seconds(self) -> float:
        return self.delivery.timeout

    @property
    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        return networks(self.safety.allow_networks)

    def subscriptions_in_config(self) -> list[Subscription]:
        return [s.to_domain(s.id or "", "config") for s in self.subscriptions]


class _SafetyFirst(BaseModel):
    """The first reading: only `safety`, so subscriptions are judged against its networks."""

    model_config = ConfigDict(extra="ignore")
    safety: SafetyIn = Field(default_factory=SafetyIn)


def load_config(path: Path) -> NotifyConfig:
    """Read and check notify.yaml; a missing file means no subscriptions and the defaults."""
    if not path.exists():
        return NotifyConfig()
    safety = load_yaml(path, _SafetyFirst).safety
    context = {"in_file": True, "allow_networks": networks(safety.allow_networks)}
    return load_yaml(path, NotifyConfig, context=context)
