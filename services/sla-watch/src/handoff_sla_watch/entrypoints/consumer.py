"""What the sla-watch consumer reads: handoff.routing.v1, applied by the RoutingHandler."""

from __future__ import annotations

from typing import Any

from handoff.events import routing
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes, Runtime
from handoff_sla_watch.handlers import RoutingHandler


def routing_handler(rt: Runtime) -> Handler[Any]:
    return RoutingHandler(rt.state["policies"], wake=rt.state["alarm"].ring_by)


CONSUMES = Consumes(
    adapters={routing.TOPIC: routing.routing_event_adapter}, handler=routing_handler
)
