"""Read config/ingress.yaml: sources, their secrets (by reference), mappings and limits.

Secrets never live in the file: each names an environment variable or a file. A secret that is
set but malformed, a bad rule or a third active secret stops the service naming file, line and key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from handoff.config_file import load_yaml
from handoff.events.signals import SnakeCase
from handoff.expressions import ExpressionError, compile_condition
from handoff_ingress.domain.mapping import VARIABLES, Rule, SourceMapping
from handoff_ingress.domain.providers import standard
from handoff_ingress.domain.secrets import Secret, SecretRing

Provider = Literal["standard", "hubspot", "segment", "marketo"]
TOKEN_HEADER = "X-Handoff-Token"  # noqa: S105 - a header name, not a secret
TRAIT_TARGETS = {
    "email", "name", "first_name", "last_name", "title", "phone",
    "company.name", "company.domain", "company.size", "company.industry",
    "company.country", "company.region",
}  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret is read from: `env` (unset means absent) or `file` (must exist)."""

    env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    file: Path | None = None
    expires_at: AwareDatetime | None = None
    expires_at_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")

    @model_validator(mode="after")
    def _one_place(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self


class RuleIn(_Strict):
    event: str = Field(min_length=1, description="the provider's event name")
    activity: SnakeCase
    when: str | None = Field(
        default=None, description="a CEL condition over event, properties, traits"
    )

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_condition(value, VARIABLES)
            except ExpressionError as exc:
                raise ValueError(str(exc)) from None
        return value


class RateLimitIn(_Strict):
    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


UNVERIFIED_DEFAULT = RateLimitIn(per_second=20, burst=100)


class SourceIn(_Strict):
    provider: Provider
    secrets: list[SecretRef] = Field(default_factory=list, max_length=2)
    allow_unsigned: bool = False  # segment only: accept without X-Signature when no secret is set
    public_url: str | None = None  # hubspot: the exact target URL configured in HubSpot
    public_url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    token_header: str = TOKEN_HEADER  # marketo
    timezone: str = "UTC"  # marketo: the zone of {{system.dateTime}}
    lead_id_prefix: str = ""
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    rate_limit: RateLimitIn = RateLimitIn(per_second=500, burst=1000)
    traits: dict[str, str] = Field(default_factory=dict)
    mapping: list[RuleIn] = Field(default_factory=list)
    _resolved: list[Secret] = PrivateAttr(default_factory=list)

    @field_validator("traits")
    @classmethod
    def _known_traits(cls, value: dict[str, str]) -> dict[str, str]:
        for prop, target in value.items():
            if target not in TRAIT_TARGETS:
                raise ValueError(
                    f"{prop}: unknown trait {target!r}; one of {', '.join(sorted(TRAIT_TARGETS))}"
                )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> SourceIn:
        env: Mapping[str, str] = (info.context or {}).get("env", os.environ)
        resolved = [_read_secret(n, ref, self.provider, env) for n, ref in enumerate(self.secrets)]
        if len([s for s in resolved if s is not None and s.expires_at is None]) > 1:
            raise ValueError(
                "two active secrets without an expiry: give the old one expires_at, so rotation ends"
            )
        if self.allow_unsigned and self.provider != "segment":
            raise ValueError("allow_unsigned is only for segment")
        self._resolved = [s for s in resolved if s is not None]
        return self


def _read_secret(n: int, ref: SecretRef, provider: str, env: Mapping[str, str]) -> Secret | None:
    where = f"secrets[{n}]"
    if ref.env is not None:
        raw = env.get(ref.env, "")
        if not raw:
            return None
        name = f"env {ref.env}"
    else:
        assert ref.file is not None
        try:
            raw = ref.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{where}: cannot read {ref.file}: {exc.strerror}") from None
        name = f"file {ref.file}"
    expires = ref.expires_at
    if ref.expires_at_env and env.get(ref.expires_at_env):
        try:
            expires = datetime.fromisoformat(env[ref.expires_at_env])
        except ValueError:
            raise ValueError(f"{where}: {ref.expires_at_env} is not an ISO 8601 time") from None
        if expires.tzinfo is None:
            raise ValueError(f"{where}: {ref.expires_at_env} needs a time zone (e.g. Z)")
    if provider == "standard":
        try:
            value = standard.decode_secret(raw)
        except ValueError as exc:
            raise ValueError(f"{where}: {name}: {exc}") from None
    else:
        if len(raw) < 16:
            raise ValueError(f"{where}: {name}: too short, use at least 16 characters")
        value = raw.encode()
    return Secret(value=value, expires_at=expires, name=name)


class IngressFile(_Strict):
    tolerance_seconds: float = Field(default=300, gt=0, le=3600)
    dedupe_retention_days: float = Field(default=7, gt=0)
    # Requests that fail verification, per client address (a source's own rate_limit counts
    # verified deliveries only, so junk cannot starve a genuine sender); beyond it 429.
    unverified_rate_limit: RateLimitIn = UNVERIFIED_DEFAULT
    unverified_max_addresses: int = Field(default=10_000, ge=1)
    sources: dict[str, SourceIn] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _names(cls, value: dict[str, SourceIn]) -> dict[str, SourceIn]:
        for name in value:
            if not name.replace("-", "").replace("_", "").isalnum() or name != name.lower():
                raise ValueError(f"{name!r}: a source name is lowercase letters, digits, - and _")
        return value


@dataclass(frozen=True)
class Source:
    """One configured source as the route uses it; `enabled` is False without a usable secret."""

    name: str
    provider: Provider
    secrets: SecretRing
    mapping: SourceMapping
    traits: Mapping[str, str]
    lead_id_prefix: str
    max_body_bytes: int
    per_second: float
    burst: int
    allow_unsigned: bool = False
    public_url: str | None = None
    token_header: str = TOKEN_HEADER
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))

    @property
    def ce_source(self) -> str:
        return f"/handoff/webhooks/{self.name}"

    @property
    def enabled(self) -> bool:
        return bool(self.secrets) or self.allow_unsigned


@dataclass(frozen=True)
class IngressConfig:
    tolerance_seconds: float
    dedupe_retention_days: float
    sources: Mapping[str, Source]
    unverified_rate_limit: RateLimitIn = UNVERIFIED_DEFAULT
    unverified_max_addresses: int = 10_000


def build(parsed: IngressFile, env: Mapping[str, str]) -> IngressConfig:
    sources = {}
    for name, s in parsed.sources.items():
        rules = [
            Rule(
                r.event,
                r.activity,
                compile_condition(r.when, VARIABLES) if r.when is not None else None,
            )
            for r in s.mapping
        ]
        public = s.public_url
        if s.public_url_env and env.get(s.public_url_env):
            public = env[s.public_url_env]
        resolved = s._resolved
        sources[name] = Source(
            name=name,
            provider=s.provider,
            secrets=SecretRing(tuple(resolved)),
            mapping=SourceMapping(tuple(rules)),
            traits=dict(s.traits),
            lead_id_prefix=s.lead_id_prefix,
            max_body_bytes=s.max_body_bytes,
            per_second=s.rate_limit.per_second,
            burst=s.rate_limit.burst,
            allow_unsigned=s.allow_unsigned,
            public_url=public,
            token_header=s.token_header,
            zone=ZoneInfo(s.timezone),
        )
    return IngressConfig(
        parsed.tolerance_seconds,
        parsed.dedupe_retention_days,
        sources,
        parsed.unverified_rate_limit,
        parsed.unverified_max_addresses,
    )


def load_ingress(path: Path, env: Mapping[str, str] | None = None) -> IngressConfig:
    environ: Mapping[str, Any] = os.environ if env is None else env
    return build(load_yaml(path, IngressFile, context={"env": environ}), environ)
