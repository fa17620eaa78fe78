"""What the routing consumer reads: handoff.scoring.v1, whose MQLs the MqlHandler routes."""

from __future__ import annotations

from handoff.events import scoring
from handoff.messaging.consumer import Handler
from handoff.runtime import Consumes, Runtime
from handoff_routing.handlers import MqlHandler


def mql_handler(rt: Runtime) -> Handler:
    return MqlHandler(rt.state["config"].roster)


CONSUMES = Consumes(adapters={scoring.TOPIC: scoring.scoring_event_adapter}, handler=mql_handler)
