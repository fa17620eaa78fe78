"""What the routing consumer reads: MQLs, SLA escalations and CRM commands, in one handler."""

from __future__ import annotations

from handoff.events import commands, scoring, sla
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes
from handoff_routing.entrypoints.deps import RoutingDeps
from handoff_routing.service_layer.handlers import ConsumedEvent, RoutingHandler


def routing_handler(deps: RoutingDeps) -> Handler[ConsumedEvent]:
    return RoutingHandler(deps.routing, on_freed=deps.sweeper.wake)


CONSUMES = Consumes[RoutingDeps](
    adapters={
        scoring.TOPIC: scoring.scoring_event_adapter,
        sla.TOPIC: sla.sla_event_adapter,
        commands.TOPIC: commands.command_adapter,
    },
    handler=routing_handler,
)
