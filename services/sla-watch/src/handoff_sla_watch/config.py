"""Read config/sla.yaml into the domain's policies and calendars; mistakes name file, line and key.

The file is read twice: first its `calendars` and `stages`, so that the second,
full reading can tell a policy naming an unknown calendar or stage at the policy's
own line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from handoff.config_file import load_yaml
from handoff.durations import Duration
from handoff.events import routing
from handoff_sla_watch.domain.calendar import WALL_CLOCK, WEEKDAYS, BusinessCalendar, Shift
from handoff_sla_watch.domain.model import (
    ACTIONS,
    CONDITION_FIELDS,
    STAGES,
    Condition,
    Escalation,
    Policy,
)

# Read from the shared event models, so a routing type added there is accepted here.
ROUTING_TYPES = tuple(
    sorted(cls.model_fields["type"].default for cls in get_args(get_args(routing.RoutingEvent)[0]))
)
MATCH_FIELDS = ("pool", "mql_trigger", "fit_grade", "team", "rep_id")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9_]{0,49}")


def _routing_type(value: str) -> str:
    if value not in ROUTING_TYPES:
        raise ValueError(
            f"unknown event type {value!r}; expected one of {', '.join(ROUTING_TYPES)}"
        )
    return value


RoutingType = Annotated[str, AfterValidator(_routing_type)]


def _weekdays(key: str) -> list[int]:
    """'mon' or a range 'mon-fri' as weekday numbers (0 is Monday)."""
    first, _, last = key.lower().partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        raise ValueError(
            f"{key!r} is not a weekday; write mon, tue, ... sun, or a range like mon-fri"
        )
    a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    if b < a:
        raise ValueError(f"{key!r} runs backwards; write a range like mon-fri")
    return list(range(a, b + 1))


class CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str
    hours: dict[str, str | list[str]] = Field(min_length=1)
    holidays: str | None = Field(
        default=None, description="a country code of the holidays package, e.g. JP"
    )
    holiday_subdivision: str | None = None
    days_off: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; write an IANA name like Asia/Tokyo"
            ) from None
        return value

    @field_validator("hours")
    @classmethod
    def _shifts_parse(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        seen: dict[int, list[Shift]] = {}
        for key, shifts in value.items():
            for day in _weekdays(key):
                if day in seen:
                    raise ValueError(f"{WEEKDAYS[day]} is given more than once (in {key!r})")
                parsed = sorted(
                    (Shift.parse(s) for s in ([shifts] if isinstance(shifts, str) else shifts)),
                    key=lambda s: s.start,
                )
                for before, after in pairwise(parsed):
                    if after.start < before.end:
                        raise ValueError(f"the shifts of {key!r} overlap")
                seen[day] = parsed
        if not any(seen.values()):
            raise ValueError("a calendar needs working hours on at least one weekday")
        return value

    @model_validator(mode="after")
    def _known_country(self) -> CalendarFile:
        if self.holidays is None:
            if self.holiday_subdivision is not None:
                raise ValueError("holiday_subdivision needs holidays (a country code)")
            return self
        import holidays  # imported only when a calendar asks for holidays: it is slow to load

        supported = holidays.list_supported_countries()
        if self.holidays not in supported:
            raise ValueError(
                f"unknown holiday country {self.holidays!r}; write an ISO code like JP, US, DE"
            )
        subdivisions = supported[self.holidays]
        if self.holiday_subdivision is not None and self.holiday_subdivision not in subdivisions:
            raise ValueError(
                f"unknown subdivision {self.holiday_subdivision!r} of {self.holidays}; "
                f"expected one of {', '.join(subdivisions)}"
            )
        return self

    def build(self, name: str) -> BusinessCalendar:
        import holidays

        hours: dict[int, tuple[Shift, ...]] = {}
        for key, shifts in self.hours.items():
            for day in _weekdays(key):
                hours[day] = tuple(
                    sorted(
                        (Shift.parse(s) for s in ([shifts] if isinstance(shifts, str) else shifts)),
                        key=lambda s: s.start,
                    )
                )
        return BusinessCalendar(
            name=name,
            zone=ZoneInfo(self.timezone),
            hours=hours,
            holidays=(
                holidays.country_holidays(self.holidays, subdiv=self.holiday_subdivision)
                if self.holidays
                else frozenset()
            ),
            days_off=frozenset(self.days_off),
        )


class EscalationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: Duration | None = Field(
        default=None, description="business time after the breach; omit for 'at the breach'"
    )
    action: str
    target: str | None = None

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"unknown action {value!r}; expected one of {', '.join(ACTIONS)}")
        return value

    @property
    def delay(self) -> timedelta:
        return self.after or timedelta(0)


class MatchCondition:
    """`when:` as a mapping: every key must match, a list meaning any of its values."""

    def __init__(self, wanted: dict[str, list[str]]) -> None:
        self.wanted = wanted

    def holds(self, context: Mapping[str, object]) -> bool:
        return all(context.get(key, "") in values for key, values in self.wanted.items())


def _warn_fraction(value: str | float) -> float:
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?%", text):
            raise ValueError(f"{value!r} is not a warning point; write a percentage like 75%")
        fraction = float(text[:-1]) / 100
    else:
        fraction = float(value)
    if not 0 < fraction < 1:
        raise ValueError(f"the warning point must lie between 0% and 100%, not {value!r}")
    return fraction


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    stage: str
    starts_on: RoutingType
    stops_on: list[RoutingType] = Field(min_length=1)
    within: Duration
    calendar: str | None = None
    when: str | dict[str, str | list[str]] | None = None
    warn_at: str | float | None = None
    escalations: list[EscalationFile] = Field(default_factory=list)

    @field_validator("stage")
    @classmethod
    def _known_stage(cls, value: str, info: ValidationInfo) -> str:
        known = [*STAGES, *((info.context or {}).get("stages", ()))]
        if value not in known:
            raise ValueError(
                f"unknown stage {value!r}; expected one of {', '.join(known)} "
                "(declare a custom stage under `stages:`)"
            )
        return value

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = sorted((info.context or {}).get("calendars", ()))
        if value is not None and value not in known:
            raise ValueError(
                f"unknown calendar {value!r}; "
                + (f"expected one of {', '.join(known)}" if known else "no calendars are defined")
            )
        return value

    @field_validator("when")
    @classmethod
    def _condition_compiles(
        cls, value: str | dict[str, str | list[str]] | None
    ) -> str | dict[str, str | list[str]] | None:
        if isinstance(value, str):
            # Imported only for a CEL condition: the CEL package takes seconds to load.
            from handoff.expressions import ExpressionError, compile_condition

            try:
                compile_condition(value, CONDITION_FIELDS)
            except ExpressionError as exc:
                raise ValueError(f"condition does not compile: {exc}") from None
        elif isinstance(value, dict):
            unknown = sorted(set(value) - set(MATCH_FIELDS))
            if unknown:
                raise ValueError(
                    f"unknown condition key {unknown[0]!r}; expected {', '.join(MATCH_FIELDS)}"
                )
        return value

    @field_validator("warn_at")
    @classmethod
    def _warn_parses(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            _warn_fraction(value)
        return value

    @field_validator("escalations")
    @classmethod
    def _in_order(cls, value: list[EscalationFile]) -> list[EscalationFile]:
        delays = [step.delay for step in value]
        if delays != sorted(delays):
            raise ValueError("escalation steps must come in the order they happen (by `after`)")
        return value

    @model_validator(mode="after")
    def _start_is_not_a_stop(self) -> PolicyFile:
        if self.starts_on in self.stops_on:
            raise ValueError(
                f"policy {self.name!r} stops on the event that starts it ({self.starts_on})"
            )
        return self

    def condition(self) -> Condition | None:
        if isinstance(self.when, str):
            from handoff.expressions import compile_condition

            return compile_condition(self.when, CONDITION_FIELDS)
        if isinstance(self.when, dict):
            return MatchCondition(
                {k: [v] if isinstance(v, str) else list(v) for k, v in self.when.items()}
            )
        return None


class _Header(BaseModel):
    """The first reading: calendars and custom stages, which policies refer to."""

    model_config = ConfigDict(extra="ignore")

    stages: list[str] = Field(default_factory=list)
    calendars: dict[str, CalendarFile] = Field(default_factory=dict)

    @field_validator("stages")
    @classmethod
    def _stage_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _STAGE_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a stage name; use lower_snake_case")
            if name in STAGES:
                raise ValueError(f"{name!r} is built in; declare only custom stages")
        return value


class SlaFile(_Header):
    model_config = ConfigDict(extra="forbid")

    policies: list[PolicyFile] = Field(min_length=1)

    @field_validator("policies")
    @classmethod
    def _stages_are_coherent(cls, value: list[PolicyFile]) -> list[PolicyFile]:
        repeated = sorted(k for k, n in Counter(p.name for p in value).items() if n > 1)
        if repeated:
            raise ValueError(f"name {repeated[0]!r} is used by more than one policy")
        # A handoff has one timer per stage, so a stage's policies share the events that
        # start and stop it, and differ only in their condition, clock and chain.
        first: dict[str, PolicyFile] = {}
        for p in value:
            lead = first.setdefault(p.stage, p)
            if lead is p:
                continue
            if (p.starts_on, sorted(p.stops_on)) != (lead.starts_on, sorted(lead.stops_on)):
                raise ValueError(
                    f"policies {lead.name!r} and {p.name!r} of stage {p.stage!r} must start "
                    "and stop on the same events"
                )
        for stage in first:
            same = [p for p in value if p.stage == stage]
            for p in same[:-1]:
                if p.when is None:
                    raise ValueError(
                        f"stage {stage!r}: policy {p.name!r} has no condition, so the ones "
                        "after it can never apply; put it last"
                    )
        return value


def load_policies(path: Path) -> tuple[Policy, ...]:
    header = load_yaml(path, _Header)
    parsed = load_yaml(
        path, SlaFile, context={"calendars": set(header.calendars), "stages": header.stages}
    )
    calendars = {name: c.build(name) for name, c in parsed.calendars.items()}
    return tuple(
        Policy(
            name=p.name,
            stage=p.stage,
            starts_on=p.starts_on,
            stops_on=frozenset(p.stops_on),
            within=p.within,
            clock=calendars[p.calendar] if p.calendar else WALL_CLOCK,
            when=p.condition(),
            warn_at=_warn_fraction(p.warn_at) if p.warn_at is not None else None,
            escalations=tuple(
                Escalation(after=s.delay, action=s.action, target=s.target) for s in p.escalations
            ),
        )
        for p in parsed.policies
    )
