"""What the routing consumer reads: MQLs, SLA escalations and CRM commands, in one handler."""

from __future__ import annotations

from typing import Any

from handoff.events import commands, scoring, sla
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes, Runtime
from handoff_routing.handlers import RoutingHandler


def routing_handler(rt: Runtime) -> Handler[Any]:
    sweeper = rt.state.get("sweeper")
    return RoutingHandler(rt.state["routing"], on_freed=sweeper.wake if sweeper else None)


CONSUMES = Consumes(
    adapters={
        scoring.TOPIC: scoring.scoring_event_adapter,
        sla.TOPIC: sla.sla_event_adapter,
        commands.TOPIC: commands.command_adapter,
    },
    handler=routing_handler,
)
