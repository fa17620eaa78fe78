"""Typed CloudEvents for every handoff topic: one module per topic, changes are additive."""

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


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


__all__ = [
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
