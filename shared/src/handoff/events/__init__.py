"""Typed CloudEvents for every handoff topic: one module per topic, changes are additive."""

from typing import Any

from pydantic import TypeAdapter

from handoff.events import commands, insight, notify, routing, scoring, signals, sla
from handoff.events.envelope import CloudEvent, fact_id, parse_event

ALL_TOPICS = (
    signals.TOPIC,
    scoring.TOPIC,
    routing.TOPIC,
    sla.TOPIC,
    commands.TOPIC,
    insight.TOPIC,
    notify.TOPIC,
)

# Every topic's events, as a consumer of everything (notify, the DLQ tools, the tests) parses them.
ADAPTERS: dict[str, TypeAdapter[Any]] = {
    signals.TOPIC: signals.signal_adapter,
    scoring.TOPIC: scoring.scoring_event_adapter,
    routing.TOPIC: routing.routing_event_adapter,
    sla.TOPIC: sla.sla_event_adapter,
    commands.TOPIC: commands.command_adapter,
    insight.TOPIC: insight.insight_event_adapter,
    notify.TOPIC: notify.notify_event_adapter,
}


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


__all__ = [
    "ADAPTERS",
    "ALL_TOPICS",
    "CloudEvent",
    "commands",
    "dlq_topic",
    "fact_id",
    "insight",
    "notify",
    "parse_event",
    "routing",
    "scoring",
    "signals",
    "sla",
]
