"""What the insight consumer reads: scoring, routing and SLA events, applied by the FunnelHandler."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from handoff.events import routing, scoring, sla
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes
from handoff_insight.entrypoints.deps import InsightDeps
from handoff_insight.service_layer.facts import FunnelEvent
from handoff_insight.service_layer.handlers import FunnelHandler

ADAPTERS: dict[str, TypeAdapter[Any]] = {
    scoring.TOPIC: scoring.scoring_event_adapter,
    routing.TOPIC: routing.routing_event_adapter,
    sla.TOPIC: sla.sla_event_adapter,
}


def funnel_handler(deps: InsightDeps) -> Handler[FunnelEvent]:
    return FunnelHandler(deps.config)


CONSUMES = Consumes(adapters=ADAPTERS, handler=funnel_handler)
