"""What the scoring consumer reads: handoff.signals.v1, and from handoff.routing.v1 the
recycles, dispositions and rejections that open or close MQL cycles; all applied by the
SignalHandler."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from handoff.events import routing, signals
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes, Runtime
from handoff_scoring.handlers import SignalHandler

# Only the routing events scoring acts on; the others are skipped unparsed (not dead letters).
CycleEvent = Annotated[
    routing.LeadRecycled | routing.LeadDispositioned | routing.LeadRejected,
    Field(discriminator="type"),
]
cycle_event_adapter: TypeAdapter[CycleEvent] = TypeAdapter(CycleEvent)


def signal_handler(rt: Runtime) -> Handler[Any]:
    return SignalHandler(rt.state["model"], rt.state.get("signal_max_future_seconds", 300.0))


CONSUMES = Consumes(
    adapters={signals.TOPIC: signals.signal_adapter, routing.TOPIC: cycle_event_adapter},
    handler=signal_handler,
)
