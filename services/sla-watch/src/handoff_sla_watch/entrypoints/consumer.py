"""What the sla-watch consumer reads: handoff.routing.v1, applied by the TimerHandler."""

from __future__ import annotations

from handoff.events import routing
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes
from handoff_sla_watch.entrypoints.deps import SlaDeps
from handoff_sla_watch.service_layer.timers import TimerHandler


def timer_handler(deps: SlaDeps) -> Handler[routing.RoutingEvent]:
    return TimerHandler(deps.policies, wake=deps.alarm.ring_by)


CONSUMES = Consumes(adapters={routing.TOPIC: routing.routing_event_adapter}, handler=timer_handler)
