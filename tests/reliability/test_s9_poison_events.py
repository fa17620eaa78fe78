"""A poison event on every partition of each topic (signals, scoring, routing, sla): a record
produced straight to the topic whose CloudEvent `source` holds U+0000, which PostgreSQL text
refuses. Each consumer that reads it must move past it: the poison lands in `<topic>.dlq`
naming the consumer, and the good leads behind it are processed as if it were not there.

Last of the scenarios: without poison isolation it stalls the partitions for good."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from handoff.events import dlq_topic, routing, scoring, signals, sla
from tests.factories import T0, activity, mql
from tests.reliability.harness import GROUPS, TopicWatch, settle, until
from tests.reliability.load import make_load, send
from tests.reliability.rig import Rig

POISON_SOURCE = "/reliability/poison\u0000"
PARTITIONS = 4


def poison_events(lead: str) -> dict[str, dict[str, Any]]:
    """One event per topic that parses as its type (the consumer acts on it), then NUL-sourced."""
    at = T0.isoformat()
    common = {"lead_id": lead, "handoff_id": f"h-{lead}", "rep_id": "emma.clark", "at": at}
    events = {
        signals.TOPIC: json.loads(activity(lead).to_json()),
        scoring.TOPIC: json.loads(mql(lead).to_json()),
        routing.TOPIC: json.loads(
            routing.LeadRecycled(
                id=f"p-{lead}", subject=lead, data=routing.RecycledData(**common, until=at)
            ).to_json()
        ),
        sla.TOPIC: json.loads(
            sla.SlaEscalated(
                id=f"p-{lead}",
                subject=lead,
                data=sla.EscalatedData(
                    lead_id=lead,
                    handoff_id=f"h-{lead}",
                    timer_id=f"t-{lead}",
                    policy="p",
                    stage="accept",
                    due_at=at,
                    fired_at=at,
                    level=1,
                    action="remind",
                ),
            ).to_json()
        ),
    }
    for event in events.values():
        event["source"] = POISON_SOURCE
    return events


async def test_a_poison_event_in_each_topic_is_dead_lettered_and_the_partition_moves_on(
    rig: Rig, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    poisons: dict[str, list[str]] = defaultdict(list)
    producer = AIOKafkaProducer(bootstrap_servers=rig.bootstrap)
    await producer.start()
    try:
        for p in range(PARTITIONS):
            for topic, event in poison_events(f"poison-{p}").items():
                key = f"poison-{topic}-{p}"
                event["subject"] = event["data"]["lead_id"] = key
                await producer.send_and_wait(
                    topic, json.dumps(event).encode(), key=key.encode(), partition=p
                )
                poisons[topic].append(key)
    finally:
        await producer.stop()

    load = make_load("poison", leads=24)  # behind the poison on every partition
    await send(http, rig.signals_url, load)
    await settle(
        rig,
        http,
        load,
        faults=f"{sum(map(len, poisons.values()))} NUL-sourced events, "
        f"one per partition of {len(poisons)} topics",
        started=started,
    )

    readers = defaultdict(set)
    for group, topics in GROUPS.items():
        for topic in topics:
            readers[topic].add(group)
    for topic, keys in poisons.items():
        await dead_lettered(rig, topic, {(key, group) for key in keys for group in readers[topic]})


async def dead_lettered(rig: Rig, topic: str, want: set[tuple[str, str]]) -> None:
    """Wait until `<topic>.dlq` holds each (key, consumer) wanted."""
    watch = DeadLetters(rig.bootstrap, dlq_topic(topic), [key for key, _ in want])
    await watch.start()
    try:
        await until(lambda: watch.holds(want), lambda: f"{want - watch.seen} in {watch.topic}")
    finally:
        await watch.stop()


class DeadLetters(TopicWatch):
    """The DLQ's records of some keys, with the consumer each names in its headers."""

    def __init__(self, bootstrap: str, topic: str, keys: list[str]) -> None:
        super().__init__(bootstrap, topic, keys)
        self.seen: set[tuple[str, str]] = set()

    async def holds(self, want: set[tuple[str, str]]) -> bool:
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for r in records:
                headers = dict(r.headers or ())
                if r.key in self.keys and "handoff-dlq-consumer" in headers:
                    self.seen.add((r.key.decode(), headers["handoff-dlq-consumer"].decode()))
        return want <= self.seen
