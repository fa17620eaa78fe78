"""Every event type handoff publishes, written by the one encoder, reads back through the
CloudEvents SDK (the Kafka structured binding) and through its own topic's model."""

from __future__ import annotations

import inspect
import json
from typing import Any, get_args

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from polyfactory.factories.pydantic_factory import ModelFactory

import handoff.events as events
from handoff.events.envelope import CloudEvent, parse_event
from handoff.messaging.producer import Message

MODULES = (
    events.signals,
    events.scoring,
    events.routing,
    events.sla,
    events.commands,
    events.insight,
    events.notify,
)


def _catalogue() -> list[tuple[str, type[CloudEvent[Any]]]]:
    found = []
    for module in MODULES:
        for model in vars(module).values():
            if (
                inspect.isclass(model)
                and issubclass(model, CloudEvent)
                and model.__module__ == module.__name__
                and get_args(model.model_fields["type"].annotation)
            ):
                found.append((module.TOPIC, model))
    return found


CATALOGUE = _catalogue()


def test_the_catalogue_holds_every_topic_and_type() -> None:
    assert {topic for topic, _ in CATALOGUE} == set(events.ADAPTERS) == set(events.ALL_TOPICS)
    types = [get_args(m.model_fields["type"].annotation)[0] for _, m in CATALOGUE]
    assert len(types) == len(set(types)) >= 25


@pytest.mark.parametrize(("topic", "model"), CATALOGUE, ids=lambda v: getattr(v, "__name__", v))
def test_each_event_type_reads_back_through_the_sdk_and_its_model(
    topic: str, model: type[CloudEvent[Any]]
) -> None:
    factory = ModelFactory.create_factory(model, __check_model__=False)
    for seed in range(5):
        factory.seed_random(seed)
        event = factory.build(
            id=f"e-{seed}",
            source="/handoff/test",
            subject=f"L-{seed}",
            datacontenttype="application/json",
        )
        message = Message.of(topic, event)

        sdk = from_kafka_event(KafkaMessage(dict(message.headers), message.key, message.value))
        assert sdk.get_specversion() == "1.0"
        assert (sdk.get_type(), sdk.get_id(), sdk.get_source()) == (
            event.type,
            event.id,
            event.source,
        )
        assert sdk.get_subject() == event.subject
        assert sdk.get_time() == event.time
        assert sdk.get_data() == json.loads(event.data.model_dump_json(exclude_none=True))

        assert parse_event(events.ADAPTERS[topic], message.value) == event


def test_a_foreign_event_without_data_is_passed_on_without_data() -> None:
    from handoff.events.envelope import GenericEvent

    event = GenericEvent(id="x-1", source="/crm", type="com.example.ping", subject="L-1")
    written = json.loads(event.to_json())
    assert "data" not in written and "datacontenttype" not in written
    assert written["subject"] == "L-1" and written["specversion"] == "1.0"
