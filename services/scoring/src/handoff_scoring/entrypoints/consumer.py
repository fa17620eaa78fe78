"""What the scoring consumer reads: handoff.signals.v1, applied by the SignalHandler."""

from __future__ import annotations

from handoff.events import signals
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes, Runtime
from handoff_scoring.handlers import SignalHandler


def signal_handler(rt: Runtime) -> Handler:
    return SignalHandler(rt.state["model"])


CONSUMES = Consumes(adapters={signals.TOPIC: signals.signal_adapter}, handler=signal_handler)
