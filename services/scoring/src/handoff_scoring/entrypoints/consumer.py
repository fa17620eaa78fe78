"""What the scoring consumer reads: handoff.signals.v1, and from handoff.routing.v1 the
recycles, dispositions and rejections that open or close MQL cycles; all applied by the
SignalHandler."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from handoff.events import routing, signals
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes
from handoff_scoring.entrypoints.deps import ScoringDeps
from handoff_scoring.service_layer.handlers import SalesOutcome, ScoringInput, SignalHandler

# Only the routing events scoring acts on; the others are skipped unparsed (not dead letters).
CycleEvent = Annotated[SalesOutcome, Field(discriminator="type")]
cycle_event_adapter: TypeAdapter[CycleEvent] = TypeAdapter(CycleEvent)


def signal_handler(deps: ScoringDeps) -> Handler[ScoringInput]:
    return SignalHandler(deps.model, deps.settings.signal_max_future_seconds)


CONSUMES: Consumes[ScoringDeps] = Consumes(
    adapters={signals.TOPIC: signals.signal_adapter, routing.TOPIC: cycle_event_adapter},
    handler=signal_handler,
)
