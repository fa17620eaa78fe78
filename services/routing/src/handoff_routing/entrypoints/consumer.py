"""What the routing consumer reads: MQLs, SLA escalations and CRM commands, in one handler."""

from __future__ import annotations

from handoff.events import commands, scoring, sla
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes, Runtime
from handoff_routing.entrypoints.deps import RoutingDeps
from handoff_routing.service_layer.handlers import RoutingHandler


def routing_handler(deps: RoutingDeps) -> Handler:
    return RoutingHandler(deps.routing, on_freed=deps.sweeper.wake)


def _from_runtime(rt: Runtime) -> Handler:
    deps: RoutingDeps = rt.state["deps"]
    return routing_handler(deps)


CONSUMES = Consumes(
    adapters={
        scoring.TOPIC: scoring.scoring_event_adapter,
        sla.TOPIC: sla.sla_event_adapter,
        commands.TOPIC: commands.command_adapter,
    },
    handler=_from_runtime,
)
