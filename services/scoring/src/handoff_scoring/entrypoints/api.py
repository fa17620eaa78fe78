"""POST /v1/signals and GET /v1/leads/{lead_id}/score."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from fastapi import APIRouter, Depends, Request, status
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import to_json

from handoff.events import signals as sig
from handoff.events.envelope import utcnow
from handoff.http.auth import require_scope
from handoff.http.body import invalid, json_payload
from handoff.http.limits import require_json, retry_after
from handoff.http.problem import Problem
from handoff.http.values import clean_text, json_value, utc_time
from handoff.messaging.producer import Message
from handoff.runtime import Runtime
from handoff.settings import ApiKeyRecord, HandoffSettings
from handoff_scoring.adapters import repository
from handoff_scoring.domain import engine
from handoff_scoring.domain.erasure import is_tombstone
from handoff_scoring.domain.explain import contributions, reason
from handoff_scoring.domain.lead import instant
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.handlers import mql_id

router = APIRouter(prefix="/v1", tags=["scoring"])
API_SOURCE = "/handoff/api"
MAX_BATCH = 1000

# Text PostgreSQL can store (no NUL, no lone surrogate); times UTC can hold, from 1970; free-form
# values no deeper than 32 levels and with numbers inside 64 bits. Each of these, accepted once,
# stopped a consumer for good (issue 10), so the API refuses them with 422 naming the field.
Text = Annotated[str, AfterValidator(clean_text)]
LeadId = Annotated[sig.LeadId, AfterValidator(clean_text)]
Occurred = Annotated[AwareDatetime, AfterValidator(utc_time)]


class SignalIn(BaseModel):
    """One signal as a sender posts it. `id` is the sender's event id (sent twice, counted once)."""

    model_config = ConfigDict(extra="forbid")

    id: Text = Field(min_length=1, max_length=200)
    lead_id: LeadId
    type: sig.SnakeCase = Field(
        description='an activity type such as "page_view", or "identify" or "alias"'
    )
    occurred_at: Occurred = Field(
        description="when it happened; at most a few minutes ahead of the server's clock"
    )
    source: Text | None = Field(default=None, max_length=100)
    properties: Annotated[dict[str, Any], BeforeValidator(json_value)] = Field(default_factory=dict)
    traits: Annotated[sig.Traits | None, BeforeValidator(json_value)] = None
    previous_id: LeadId | None = Field(default=None, description='for "alias": the anonymous id')


class SignalBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signals: list[SignalIn] = Field(min_length=1, max_length=MAX_BATCH)


class Accepted(BaseModel):
    accepted: int


def to_event(
    s: SignalIn, *, ce_source: str = API_SOURCE, event_id: str | None = None
) -> sig.ActivitySignal | sig.IdentifySignal | sig.AliasSignal:
    """The CloudEvent for a signal; webhooks pass their own CloudEvents source and a stable id."""
    source = s.source or "api"
    if s.type == "identify":
        if s.traits is None:
            raise ValueError("traits")
        return sig.IdentifySignal(
            id=event_id or s.id,
            source=ce_source,
            subject=s.lead_id,
            data=sig.IdentifyData(
                lead_id=s.lead_id, occurred_at=s.occurred_at, source=source, traits=s.traits
            ),
        )
    if s.type == "alias":
        if s.previous_id is None:
            raise ValueError("previous_id")
        return sig.AliasSignal(
            id=event_id or s.id,
            source=ce_source,
            subject=s.lead_id,
            data=sig.AliasData(
                lead_id=s.lead_id,
                previous_id=s.previous_id,
                occurred_at=s.occurred_at,
                source=source,
            ),
        )
    return sig.ActivitySignal(
        id=event_id or s.id,
        source=ce_source,
        subject=s.lead_id,
        data=sig.ActivityData(
            lead_id=s.lead_id,
            activity_type=s.type,
            occurred_at=s.occurred_at,
            source=source,
            properties=s.properties,
            traits=s.traits,
        ),
    )


def to_message(s: SignalIn, *, ce_source: str = API_SOURCE, event_id: str | None = None) -> Message:
    """The broker record of `to_event(s)`, byte for byte, built without a second validation.

    An activity (nearly every signal) is written straight from the validated SignalIn: its fields
    carry the same constraints as ActivityData's, so building and validating the CloudEvent model
    again only to dump it would cost more than the rest of the request. Identify and alias take
    the model path. Raises ValueError naming a missing field, as `to_event` does.
    """
    if s.type in ("identify", "alias"):
        return Message.of(sig.TOPIC, to_event(s, ce_source=ce_source, event_id=event_id))
    data: dict[str, Any] = {
        "lead_id": s.lead_id,
        "activity_type": s.type,
        "occurred_at": s.occurred_at,
        "source": s.source or "api",
        "properties": s.properties,
    }
    if s.traits is not None:
        data["traits"] = s.traits
    event = {
        "specversion": "1.0",
        "id": event_id or s.id,
        "source": ce_source,
        "type": _ACTIVITY,
        "subject": s.lead_id,
        "time": utcnow(),
        "datacontenttype": "application/json",
        "data": data,
    }
    # exclude_none matches CloudEvent.to_json: None model fields are left out, None values
    # inside `properties` (a plain dict) are kept, as the model's serialiser keeps them.
    return Message(sig.TOPIC, s.lead_id.encode(), to_json(event, exclude_none=True))


_ACTIVITY = "handoff.signal.activity"


def parse_signals(body: bytes) -> list[SignalIn]:
    """One signal or {"signals": [...]}; a 422 names the field at fault."""
    if b'"signals"' in body[:200]:
        # A batch in one pass (JSON straight into the models); anything it refuses takes the
        # path below, which gives the same answers as ever.
        try:
            return SignalBatch.model_validate_json(body).signals
        except ValidationError:
            pass
    payload = json_payload(body)
    try:
        if isinstance(payload, dict) and "signals" in payload:
            return SignalBatch.model_validate(payload).signals
        return [SignalIn.model_validate(payload)]
    except ValidationError as exc:
        raise invalid(exc, "signal") from None


_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/SignalIn"},
                        {"$ref": "#/components/schemas/SignalBatch"},
                    ]
                }
            }
        },
    }
}


@router.post(
    "/signals",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    openapi_extra=_BODY_SCHEMA,
    dependencies=[Depends(require_scope("signals:write")), Depends(require_json)],
    summary="Send one signal or a batch of up to 1000; 202 once the broker has them",
)
async def post_signals(request: Request) -> Accepted:
    incoming = parse_signals(await request.body())
    settings = request.app.state.settings
    errors = []
    messages = []
    for n, s in enumerate(incoming):
        try:
            messages.append(to_message(s))
        except ValueError as missing:
            errors.append(
                {
                    "field": _field(incoming, n, str(missing)),
                    "message": f"required when type is {s.type!r}",
                }
            )
    if errors:
        raise Problem(
            422, "The signal is not valid: " + errors[0]["field"] + " is missing.", errors=errors
        )
    future = future_dated(incoming, max_future_seconds(settings))
    if future:
        errors = [
            {"field": _field(incoming, n, "occurred_at"), "message": _future_message(settings)}
            for n in future
        ]
        raise Problem(
            422, f"The signal is not valid: {errors[0]['field']} is in the future.", errors=errors
        )
    check_record_sizes(incoming, messages, settings.kafka_max_request_bytes)
    await publish(request.app.state.runtime, messages)
    return Accepted(accepted=len(messages))


def _field(incoming: Sequence[SignalIn], n: int, name: str) -> str:
    return f"signals.{n}.{name}" if len(incoming) > 1 else name


def max_future_seconds(settings: HandoffSettings) -> float:
    return float(getattr(settings, "signal_max_future_seconds", 300.0))


def _future_message(settings: HandoffSettings) -> str:
    return f"more than {max_future_seconds(settings):g} seconds ahead of the server's clock"


def future_dated(incoming: Sequence[SignalIn], max_future: float) -> list[int]:
    """Positions of signals dated past now + max_future: a skewed clock must not future-date a
    score or skip a recycle period (issue 10, point 5)."""
    latest = time.time() + max_future
    return [n for n, s in enumerate(incoming) if s.occurred_at.timestamp() > latest]


def record_bytes(m: Message) -> int:
    """The size the producer checks against its max request size, computed the producer's way."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(m.key, m.value, list(m.headers)))


def check_record_sizes(
    incoming: Sequence[SignalIn], messages: Sequence[Message], limit: int
) -> None:
    """413 naming the field before publishing a record the producer would refuse: a retry of
    it can never succeed, so 503 with Retry-After (as before) had the sender retry for ever."""
    errors = []
    for n, (s, m) in enumerate(zip(incoming, messages, strict=True)):
        size = record_bytes(m)
        if size > limit:
            part = "traits" if len(to_json(s.traits)) > len(to_json(s.properties)) else "properties"
            errors.append(
                {
                    "field": _field(incoming, n, part),
                    "message": f"the signal is {size} bytes on the broker; at most {limit}",
                }
            )
    if errors:
        raise Problem(
            413,
            f"The signal is too large: {errors[0]['field']}: {errors[0]['message']}.",
            errors=errors,
        )


async def publish(rt: Runtime, messages: Sequence[Message]) -> None:
    """Send signal records (`to_message`) to handoff.signals.v1; return once the broker
    acknowledged all, else 503."""
    try:
        await asyncio.wait_for(rt.producer.send_all(messages), rt.state["publish_timeout"])
    except (KafkaError, TimeoutError):
        raise Problem(
            503,
            "The broker did not acknowledge the signals; nothing was accepted. Retry later.",
            headers=retry_after(5),
        ) from None


class ContributionOut(BaseModel):
    rule: str
    activity_type: str
    count: int
    points: int
    last_seen: datetime


class TriggerOut(BaseModel):
    kind: str = Field(description="threshold, activity, sequence or criteria")
    rule: str


class MqlState(BaseModel):
    state: str = Field(
        description='"mql" once qualified in the current cycle; "disqualified"; "closed" when '
        'sales closed the cycle for good; "waiting" until a recycled cycle opens; else "open"'
    )
    cycle: int
    mql_id: str | None
    qualified_at: datetime | None
    trigger: TriggerOut | None = None
    cycle_opens_at: datetime | None = None
    disqualified: str | None = Field(default=None, description="the reason code")


class FitOut(BaseModel):
    score: int
    grade: str
    rules: list[str] = Field(description="the fit rules the lead's traits match")


class ActivityOut(BaseModel):
    activity_type: str
    occurred_at: datetime
    rules: list[str] = Field(description="the behaviour rules it matches")
    properties: dict[str, str]


class LeadScoreOut(BaseModel):
    lead_id: str
    score: int = Field(description="engagement + fit as of the latest activity (`as_of`)")
    engagement_score: int
    fit_score: int
    fit_grade: str
    threshold: int
    model_version: str
    as_of: datetime | None
    score_now: int = Field(description="the same score decayed to the time of this request")
    engagement_now: int
    mql: MqlState
    reason: str = Field(description="the sentence a rep would read, as of `as_of`")
    fit: FitOut
    contributions: list[ContributionOut]
    recent: list[ActivityOut] = Field(description="the latest activities, newest first")
    updated_at: datetime | None


RECENT = 20


@router.get("/leads/{lead_id}/score", response_model=LeadScoreOut, summary="A lead's score and why")
async def get_score(
    lead_id: str, request: Request, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> LeadScoreOut:
    rt: Runtime = request.app.state.runtime
    async with rt.engine.connect() as conn:
        found = await repository.get(conn, lead_id)
    if found is None:
        raise Problem(404, f"No signals have been scored for lead {lead_id!r}.")
    if is_tombstone(found.lead):
        raise Problem(404, f"Lead {lead_id!r} was erased; no signals have come in since.")
    lead = found.lead
    model: ScoringModel = rt.state["model"]
    score = engine.score_at(model, lead)
    now = engine.score_at(model, lead, max(time.time(), lead.last_at or 0.0))
    top = contributions(model, lead)
    trigger = None
    if lead.trigger and ":" in lead.trigger:
        kind, rule = lead.trigger.split(":", 1)
        trigger = TriggerOut(kind=kind, rule=rule)
    state = engine.cycle_state(lead, time.time())
    return LeadScoreOut(
        lead_id=lead.lead_id,
        score=score.total,
        engagement_score=score.engagement,
        fit_score=score.fit.points,
        fit_grade=score.fit.grade,
        threshold=model.threshold,
        model_version=model.version,
        as_of=None if score.at is None else instant(score.at),
        score_now=now.total,
        engagement_now=now.engagement,
        mql=MqlState(
            state=state,
            cycle=lead.cycle,
            mql_id=mql_id(lead.lead_id, lead.cycle) if lead.is_mql else None,
            qualified_at=None if lead.qualified_at is None else instant(lead.qualified_at),
            trigger=trigger,
            cycle_opens_at=None if lead.opens_at is None else instant(lead.opens_at),
            disqualified=lead.disqualified,
        ),
        reason=reason(model, lead, score.at or 0.0, top[:5]),
        fit=FitOut(score=score.fit.points, grade=score.fit.grade, rules=list(score.fit.rules)),
        contributions=[
            ContributionOut(
                rule=c.rule,
                activity_type=c.activity_type,
                count=c.count,
                points=c.points,
                last_seen=instant(c.last_seen),
            )
            for c in top
        ],
        recent=[
            ActivityOut(
                activity_type=kind,
                occurred_at=instant(at),
                rules=[model.rule(n).name for n in model.rules_for(kind, props)],
                properties=dict(props or {}),
            )
            for at, kind, props in reversed(lead.history[-RECENT:])
        ],
        updated_at=None if score.at is None else instant(score.at),
    )
