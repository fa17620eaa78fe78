"""Read config/scoring.yaml into the domain's ScoringModel; a mistake names file, line and key.

Expressions (criteria) are compiled here, once, so a typo stops the service at start.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from handoff.config_file import load_yaml
from handoff.durations import DurationSeconds
from handoff.expressions import Condition, ExpressionError, compile_condition
from handoff_scoring.domain import model as m
from handoff_scoring.domain.titles import SENIORITIES
from handoff_scoring.domain.triggers import OFFERED

Name = Annotated[str, Field(min_length=1, max_length=100)]
SnakeCase = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Globs = str | list[str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WhereIn(Strict):
    """Conditions on the activity's properties: a glob (* and ?) or a list of globs, any case."""

    url: Globs | None = None
    asset: Globs | None = None
    campaign: Globs | None = None
    form: Globs | None = None
    source: Globs | None = None


class MatchIn(Strict):
    activity: SnakeCase
    where: WhereIn | None = None

    def build(self) -> m.Match:
        where = []
        if self.where is not None:
            for key in m.KEPT_PROPERTIES:
                globs = getattr(self.where, key)
                if globs is not None:
                    where.append((key, _glob(globs)))
        return m.Match(self.activity, tuple(where))


def _glob(globs: Globs) -> re.Pattern[str]:
    items = [globs] if isinstance(globs, str) else globs
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in items), re.IGNORECASE)


def _match_list(value: Any) -> Any:
    """A counter or step may be written as a bare activity type."""
    if isinstance(value, list):
        return [{"activity": v} if isinstance(v, str) else v for v in value]
    return value


class AtMost(Strict):
    at_most: int = Field(ge=1)
    per: Literal["day"] | None = None
    within: DurationSeconds | None = None

    @model_validator(mode="after")
    def _one_window(self) -> AtMost:
        if (self.per is None) == (self.within is None):
            raise ValueError('give either per: day or within: a duration, e.g. within: "7d"')
        return self


REPEAT_HELP = 'every, once, {at_most: N, per: day} or {at_most: N, within: "7d"}'


def _repeat(value: Any) -> Any:
    """One clear message for a wrong repeat policy, whichever form was meant."""
    if isinstance(value, AtMost) or value in ("every", "once"):
        return value
    if isinstance(value, dict):
        try:
            return AtMost.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(
                f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')} ({REPEAT_HELP})"
            ) from None
    raise ValueError(f"must be {REPEAT_HELP}")


class BehaviourIn(MatchIn):
    name: Name
    points: int
    repeat: Annotated[Literal["every", "once"] | AtMost, BeforeValidator(_repeat)] = "every"
    cap: int | None = Field(default=None, gt=0)
    lifespan: DurationSeconds | None = None
    label: str | None = Field(default=None, max_length=100)

    def rule(self) -> m.BehaviourRule:
        repeat, limit, window = "every", 0, 0.0
        if isinstance(self.repeat, AtMost):
            limit = self.repeat.at_most
            if self.repeat.per == "day":
                repeat = "per_day"
            else:
                repeat, window = "per_window", float(self.repeat.within or 0)
        else:
            repeat = self.repeat
        return m.BehaviourRule(
            self.name, self.build(), self.points, repeat, limit, window, self.cap,
            self.lifespan, self.label,
        )  # fmt: skip


class Band(Strict):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class TraitsIn(Strict):
    company_size: Band | None = None
    industry: list[str] | None = Field(default=None, min_length=1)
    seniority: list[str] | None = Field(default=None, min_length=1)
    title: list[str] | None = Field(default=None, min_length=1)
    country: list[str] | None = Field(default=None, min_length=1)
    region: list[str] | None = Field(default=None, min_length=1)
    email_domain: list[str] | None = Field(default=None, min_length=1)

    @field_validator("seniority")
    @classmethod
    def _known_seniority(cls, value: list[str] | None) -> list[str] | None:
        for level in value or []:
            if level not in SENIORITIES:
                raise ValueError(f"{level!r} is not one of {', '.join(sorted(SENIORITIES))}")
        return value

    def has_condition(self) -> bool:
        return any(getattr(self, k) is not None for k in TraitsIn.model_fields)

    def test(self) -> m.TraitTest:
        def folded(values: list[str] | None) -> frozenset[str] | None:
            return None if values is None else frozenset(v.strip().casefold() for v in values)

        return m.TraitTest(
            company_size=None
            if self.company_size is None
            else (self.company_size.min, self.company_size.max),
            industry=folded(self.industry),
            seniority=None if self.seniority is None else frozenset(self.seniority),
            title=None
            if self.title is None
            else re.compile("|".join(re.escape(t) for t in self.title), re.IGNORECASE),
            country=folded(self.country),
            region=folded(self.region),
            email_domain=None
            if self.email_domain is None
            else frozenset(d.strip().lower() for d in self.email_domain),
        )


class FitRuleIn(TraitsIn):
    name: Name
    points: int

    @model_validator(mode="after")
    def _some_condition(self) -> FitRuleIn:
        if not self.has_condition():
            raise ValueError("a fit rule needs at least one condition on traits")
        return self


class Grades(Strict):
    A: int
    B: int
    C: int

    @model_validator(mode="after")
    def _descending(self) -> Grades:
        if not self.A > self.B > self.C:
            raise ValueError("grades need A > B > C (the least fit score for each)")
        return self


class FitIn(Strict):
    cap: int | None = Field(default=None, gt=0)
    grades: Grades = Grades(A=40, B=25, C=10)
    rules: list[FitRuleIn] = Field(default_factory=list)


class DecayIn(Strict):
    half_life: DurationSeconds | None = None
    reset_after_inactive: DurationSeconds | None = None


class HistoryIn(Strict):
    retention: DurationSeconds = 365 * 86_400.0
    max_activities: int = Field(default=1000, ge=10)


class CounterIn(Strict):
    match: Annotated[list[MatchIn], BeforeValidator(_match_list), Field(min_length=1)]
    within: DurationSeconds


class InstantIn(MatchIn):
    name: Name
    label: str | None = Field(default=None, max_length=100)


class SequenceIn(Strict):
    name: Name
    steps: Annotated[list[MatchIn], BeforeValidator(_match_list), Field(min_length=2)]
    within: DurationSeconds
    label: str | None = Field(default=None, max_length=100)


COUNT_REF = re.compile(r"\bcount\.([A-Za-z_][A-Za-z0-9_]*)")
SCORE_NAMES = {"score", "engagement", "fit"}


class CriterionIn(Strict):
    name: Name
    when: str = Field(min_length=1)
    label: str | None = Field(default=None, max_length=100)

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compile_condition(value, OFFERED)
        except ExpressionError as exc:
            raise ValueError(f"not a valid CEL condition: {exc}") from None
        return value


class TriggersIn(Strict):
    activities: list[InstantIn] = Field(default_factory=list)
    sequences: list[SequenceIn] = Field(default_factory=list)
    criteria: list[CriterionIn] = Field(default_factory=list)


class DisqualifierIn(TraitsIn):
    name: Name
    reason: SnakeCase
    activity: SnakeCase | None = None
    where: WhereIn | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DisqualifierIn:
        if (self.activity is None) == (not self.has_condition()):
            raise ValueError("a disqualifier names either an activity or conditions on traits")
        return self


class ReopenIn(Strict):
    reopen_after: DurationSeconds | Literal["never"]


class CyclesIn(Strict):
    nurture: ReopenIn = ReopenIn(reopen_after=90 * 86_400.0)
    disqualified: ReopenIn = ReopenIn(reopen_after="never")


class ScoreChangedIn(Strict):
    every: DurationSeconds
    min_change: int = Field(default=1, ge=1)


class ScoringFile(Strict):
    model_version: str = Field(min_length=1, max_length=100)
    threshold: int = Field(gt=0)
    default_points: int = 0
    engagement_cap: int | None = Field(default=None, gt=0)
    decay: DecayIn = DecayIn()
    history: HistoryIn = HistoryIn()
    behaviour: list[BehaviourIn] = Field(min_length=1)
    fit: FitIn = FitIn()
    counters: dict[SnakeCase, CounterIn] = Field(default_factory=dict)
    triggers: TriggersIn = TriggersIn()
    disqualify: list[DisqualifierIn] = Field(default_factory=list)
    cycles: CyclesIn = CyclesIn()
    score_changed: ScoreChangedIn | None = None

    @field_validator("behaviour")
    @classmethod
    def _unique_rules(cls, value: list[BehaviourIn]) -> list[BehaviourIn]:
        seen: set[str] = set()
        for rule in value:
            if rule.name in seen:
                raise ValueError(f"two behaviour rules are named {rule.name!r}")
            seen.add(rule.name)
        return value

    @field_validator("triggers")
    @classmethod
    def _known_counters(cls, value: TriggersIn, info: ValidationInfo) -> TriggersIn:
        counters = info.data.get("counters") or {}
        for crit in value.criteria:
            for name in COUNT_REF.findall(crit.when):
                if name not in counters:
                    raise ValueError(
                        f"criterion {crit.name!r} reads count.{name}, but counters has no "
                        f"{name!r} (known: {', '.join(sorted(counters)) or 'none'})"
                    )
        return value


def _reopen_after_seconds(reopen: ReopenIn) -> float | None:
    return None if reopen.reopen_after == "never" else float(reopen.reopen_after)


def _criterion(c: CriterionIn) -> m.Criterion:
    condition: Condition = compile_condition(c.when, OFFERED)
    return m.Criterion(
        c.name,
        condition,
        tuple(dict.fromkeys(COUNT_REF.findall(c.when))),
        bool(SCORE_NAMES & set(condition.variables)),
    )


def build_model(parsed: ScoringFile) -> m.ScoringModel:
    g = parsed.fit.grades
    return m.ScoringModel(
        version=parsed.model_version,
        threshold=parsed.threshold,
        rules=tuple(r.rule() for r in parsed.behaviour),
        default_points=parsed.default_points,
        engagement_cap=parsed.engagement_cap,
        half_life=parsed.decay.half_life,
        reset_after=parsed.decay.reset_after_inactive,
        fit_rules=tuple(m.FitRule(r.name, r.test(), r.points) for r in parsed.fit.rules),
        fit_cap=parsed.fit.cap,
        grades=(("A", g.A), ("B", g.B), ("C", g.C)),
        instant=tuple((t.name, t.build()) for t in parsed.triggers.activities),
        sequences=tuple(
            m.Sequence(s.name, tuple(step.build() for step in s.steps), s.within)
            for s in parsed.triggers.sequences
        ),
        criteria=tuple(_criterion(c) for c in parsed.triggers.criteria),
        trigger_labels={
            **{t.name: t.label for t in parsed.triggers.activities if t.label},
            **{s.name: s.label for s in parsed.triggers.sequences if s.label},
            **{c.name: c.label for c in parsed.triggers.criteria if c.label},
        },
        counters={
            name: m.Counter(name, tuple(x.build() for x in c.match), c.within)
            for name, c in parsed.counters.items()
        },
        disqualifiers=tuple(
            m.Disqualifier(
                d.name,
                d.reason,
                d.test() if d.has_condition() else None,
                None if d.activity is None else MatchIn(activity=d.activity, where=d.where).build(),
            )
            for d in parsed.disqualify
        ),
        nurture=m.Reopen(_reopen_after_seconds(parsed.cycles.nurture)),
        sales_disqualified=m.Reopen(_reopen_after_seconds(parsed.cycles.disqualified)),
        score_changed=None
        if parsed.score_changed is None
        else m.ScoreChanged(parsed.score_changed.every, parsed.score_changed.min_change),
        retention=parsed.history.retention,
        max_activities=parsed.history.max_activities,
    )


def load_model(path: Path) -> m.ScoringModel:
    return build_model(load_yaml(path, ScoringFile))
