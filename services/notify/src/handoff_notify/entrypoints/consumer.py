"""What the notify consumer reads: routing's and sla-watch's topics, and insight's once the
shared package has its events module. Every event is read as a plain CloudEvent, so a
webhook carries all of it, fields added by a newer producer included."""

from __future__ import annotations

import importlib.util
from typing import Any

from pydantic import TypeAdapter

from handoff.events import routing, scoring, sla
from handoff.events.envelope import GenericEvent
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes
from handoff_notify.entrypoints.deps import NotifyDeps
from handoff_notify.service_layer.handlers import EventHandler

INSIGHT_TOPIC = "handoff.insight.v1"
_any_event: TypeAdapter[Any] = TypeAdapter(GenericEvent)


def topics(insight: bool | None = None) -> list[str]:
    """routing and sla always (scoring for the MQL's reason in the new-lead notice); insight
    when asked, or by default when its module exists."""
    if insight is None:
        insight = importlib.util.find_spec("handoff.events.insight") is not None
    return [scoring.TOPIC, routing.TOPIC, sla.TOPIC, *([INSIGHT_TOPIC] if insight else [])]


def event_handler(deps: NotifyDeps) -> Handler[GenericEvent]:
    return EventHandler(
        deps.notices.render,
        wake=deps.bell.ring,
        clock=deps.clock,
        new_lead_grace_seconds=deps.settings.new_lead_grace_seconds,
    )


def consumes(insight: bool | None = None) -> Consumes[NotifyDeps]:
    return Consumes(adapters={t: _any_event for t in topics(insight)}, handler=event_handler)
