"""Read config/routing.yaml: the seed roster, the rules, the default pool and the reason codes.

Errors name file, line and key. Reps, pools and accounts in the file seed the roster table at
start; after that the admin API may change them too (docs/routing.md, "The file and the API").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from handoff.config_file import load_yaml
from handoff.expressions import Condition, ExpressionError, compile_condition
from handoff_routing.adapters.roster_specs import (
    AccountSpec,
    PoolSpec,
    RepSpec,
    account_of,
    pool_of,
    rep_of,
)
from handoff_routing.domain.reasons import FollowUp, ReasonCode, ReasonCodes
from handoff_routing.domain.roster import Roster
from handoff_routing.domain.rules import ACCOUNT, CONDITION, VARIABLES, Rule


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


def _known_pool(name: str | None, info: ValidationInfo) -> str | None:
    if name is not None and name not in _seen(info, "pools"):
        raise PydanticCustomError(
            "unknown_pool", "no pool named '{value}' in pools", {"value": name}
        )
    return name


class RepFile(RepSpec):
    @field_validator("id")
    @classmethod
    def _unique_id(cls, value: str, info: ValidationInfo) -> str:
        return _declare(value, info, "reps")


class PoolFile(PoolSpec):
    members: list[Annotated[str, AfterValidator(_known_rep)]] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _unique_name(cls, value: str, info: ValidationInfo) -> str:
        return _declare(value, info, "pools")


class AccountFile(AccountSpec):
    owner: Annotated[str, AfterValidator(_known_rep)]

    @field_validator("domain")
    @classmethod
    def _unique_domain(cls, value: str, info: ValidationInfo) -> str:
        return _declare(AccountSpec._normalized(value), info, "accounts")


class RuleFile(BaseModel):
    """`match: account` with a fallback_pool, or `when: <CEL>` with a pool."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")]
    match: str | None = None
    when: str | None = None
    pool: Annotated[str | None, AfterValidator(_known_pool)] = None
    fallback_pool: Annotated[str | None, AfterValidator(_known_pool)] = None
    working_hours: bool = False

    @field_validator("name")
    @classmethod
    def _unique_name(cls, value: str, info: ValidationInfo) -> str:
        return _declare(value, info, "rules")

    @field_validator("match")
    @classmethod
    def _only_account(cls, value: str | None) -> str | None:
        if value is not None and value != ACCOUNT:
            raise PydanticCustomError("match", "the only match is 'account'")
        return value

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_condition(value, VARIABLES)
            except ExpressionError as exc:
                raise PydanticCustomError("cel", "{error}", {"error": str(exc)}) from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> RuleFile:
        if (self.match is None) == (self.when is None):
            raise PydanticCustomError("rule", "a rule has either `match: account` or `when`")
        if self.match is not None and self.fallback_pool is None:
            raise PydanticCustomError("rule", "an account rule needs fallback_pool")
        if self.when is not None and self.pool is None:
            raise PydanticCustomError("rule", "a `when` rule needs pool")
        return self


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
    accounts: list[AccountFile] = Field(default_factory=list)
    rules: list[RuleFile] = Field(default_factory=list)
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


@dataclass(frozen=True)
class RoutingConfig:
    """What sales ops configure: the seed roster, the rules, and the reasons for rejecting."""

    reps: tuple[RepSpec, ...]
    pools: tuple[PoolSpec, ...]
    accounts: tuple[AccountSpec, ...]
    rules: tuple[Rule, ...]
    default_pool: str
    reasons: ReasonCodes

    def roster(self) -> Roster:
        """The roster as this file describes it (the running service reads the database's)."""
        return Roster(
            reps={r.id: rep_of(r) for r in self.reps},
            pools={p.name: pool_of(p) for p in self.pools},
            default_pool=self.default_pool,
            accounts={a.domain: account_of(a) for a in self.accounts},
        )

    def pools_referenced(self) -> dict[str, str]:
        """Pool name -> what refers to it (the admin API may not delete these)."""
        out = {self.default_pool: "default_pool"}
        for rule in self.rules:
            for name in (rule.pool, rule.fallback_pool):
                if name is not None:
                    out.setdefault(name, f"rule {rule.name!r}")
        return out


class MemoCondition:
    """A compiled condition that remembers its answers: routing asks the same question about
    leads with the same traits over and over, and a CEL evaluation costs more than the rest of
    the decision. The answer depends only on the variables the condition names."""

    LIMIT = 50_000

    def __init__(self, condition: Condition) -> None:
        self.condition = condition
        self.names = condition.variables
        self.answers: dict[tuple[Any, ...], bool] = {}

    def holds(self, context: Mapping[str, Any]) -> bool:
        key = tuple(context.get(n) for n in self.names)
        found = self.answers.get(key)
        if found is None:
            found = self.condition.holds({n: context[n] for n in self.names if n in context})
            if len(self.answers) >= self.LIMIT:
                self.answers.clear()
            self.answers[key] = found
        return found


def _rule(r: RuleFile) -> Rule:
    if r.match is not None:
        return Rule(r.name, ACCOUNT, fallback_pool=r.fallback_pool, respect_hours=r.working_hours)
    assert r.when is not None
    return Rule(
        r.name,
        CONDITION,
        pool=r.pool,
        condition=MemoCondition(compile_condition(r.when, VARIABLES)),
        respect_hours=r.working_hours,
    )


def load_config(path: Path) -> RoutingConfig:
    context: dict[str, Any] = {}
    parsed = load_yaml(path, RoutingFile, context=context)
    reasons = ReasonCodes(
        ReasonCode(c.code, c.label_en, c.label_ja, c.follow_up, c.recycle_days)
        for c in parsed.reason_codes
    )
    return RoutingConfig(
        reps=tuple(RepSpec.model_validate(r.model_dump()) for r in parsed.reps),
        pools=tuple(PoolSpec.model_validate(p.model_dump()) for p in parsed.pools),
        accounts=tuple(AccountSpec.model_validate(a.model_dump()) for a in parsed.accounts),
        rules=tuple(_rule(r) for r in parsed.rules),
        default_pool=parsed.default_pool,
        reasons=reasons,
    )
