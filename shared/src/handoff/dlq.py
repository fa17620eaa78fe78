"""`handoff dlq list|replay TOPIC`: read a dead-letter topic and send chosen records back.

Reading stops at the high watermark each fetch returns, never at `end_offsets`: the
embedded broker answers ListOffsets with the last batch's base offset + 1, which would
hide every record but the first of the last batch.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from handoff.events import dlq_topic
from handoff.messaging.dead_letters import DLQ_HEADER_PREFIX, VALUE_DROPPED

_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")


class DlqError(Exception):
    """Something the operator must fix: a topic that does not exist, an unknown offset."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def ref(self) -> str:
        """How `replay --offset` names it: partition:offset."""
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        found = dict(self.headers).get(f"{DLQ_HEADER_PREFIX}{name}", b"")
        return found.decode(errors="replace")

    @property
    def source_topic(self) -> str:
        return self.header("topic")

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith(DLQ_HEADER_PREFIX)]

    def describe(self) -> str:
        """One line for an operator: where it came from and why, never the value (PII)."""
        when = datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).isoformat(timespec="seconds")
        key = _EMAIL.sub("<email>", self.key.decode(errors="replace"))
        origin = f"{self.source_topic}/{self.header('partition')}@{self.header('offset')}"
        dropped = "  value=dropped (too large; read it at its origin)" if self.value_dropped else ""
        return (
            f"{self.ref:<8} {when}  key={key}  from={origin}  consumer={self.header('consumer')}"
            f"  stage={self.header('stage') or 'parse'}  attempts={self.header('attempts') or 1}"
            f"  error={self.header('error')}{dropped}"
        )

    @property
    def value_dropped(self) -> bool:
        return any(k == VALUE_DROPPED for k, _ in self.headers)


def dead_letter_topic(topic: str) -> str:
    """Either name works: the source topic or its `.dlq`."""
    return topic if topic.endswith(".dlq") else dlq_topic(topic)


async def read_all(bootstrap: str, topic: str, *, within: float = 30.0) -> list[DeadLetter]:
    """Every record of the dead-letter topic, read from the start to the fetched high watermark."""
    name = dead_letter_topic(topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="handoff-dlq",
    )
    try:
        await consumer.start()
        if name not in await consumer.topics():
            raise DlqError(f"no topic {name} on {bootstrap}")
        partitions = [
            TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[DeadLetter] = []
        deadline = time.monotonic() + within
        while not await _at_high_watermark(consumer, partitions):
            if time.monotonic() > deadline:
                raise DlqError(f"{name}: the broker did not answer fetches within {within:.0f}s")
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                found.extend(
                    DeadLetter(
                        r.partition,
                        r.offset,
                        r.timestamp,
                        r.key or b"",
                        r.value or b"",
                        tuple(r.headers or ()),
                    )
                    for r in records
                )
        return sorted(found, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


async def _at_high_watermark(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> bool:
    for tp in partitions:
        high = consumer.highwater(tp)  # None until a fetch of this partition has answered
        if high is None or await consumer.position(tp) < high:
            return False
    return True


def choose(letters: Sequence[DeadLetter], refs: Sequence[str]) -> list[DeadLetter]:
    """The records named `partition:offset`, or by offset alone when only one partition has it."""
    chosen = []
    for ref in refs:
        if ":" in ref:
            matches = [d for d in letters if d.ref == ref]
        else:
            matches = [d for d in letters if str(d.offset) == ref]
            if len(matches) > 1:
                raise DlqError(f"offset {ref} is in several partitions; say which: partition:{ref}")
        if not matches:
            raise DlqError(f"no dead letter at {ref}; `handoff dlq list` shows what there is")
        chosen.extend(matches)
    return chosen


async def replay(bootstrap: str, letters: Sequence[DeadLetter]) -> dict[str, int]:
    """Send each record back to its source topic with its original key, value and headers."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="handoff-dlq")
    sent: dict[str, int] = {}
    try:
        await producer.start()
        for letter in letters:
            if letter.value_dropped:
                print(
                    f"skipped {letter.ref}: its value was too large to keep; replay it from its origin"
                )
                continue
            target = letter.source_topic
            if not target:
                raise DlqError(f"{letter.ref} names no source topic (header handoff-dlq-topic)")
            await producer.send_and_wait(
                target, letter.value, key=letter.key, headers=letter.original_headers
            )
            sent[target] = sent.get(target, 0) + 1
    finally:
        await producer.stop()
    return sent


def cmd_list(bootstrap: str, topic: str) -> int:
    letters = asyncio.run(read_all(bootstrap, topic))
    for letter in letters:
        print(letter.describe())
    print(f"{len(letters)} dead letter(s) in {dead_letter_topic(topic)}")
    return 0


def cmd_replay(bootstrap: str, topic: str, refs: Sequence[str], everything: bool) -> int:
    letters = asyncio.run(read_all(bootstrap, topic))
    chosen = list(letters) if everything else choose(letters, refs)
    sent = asyncio.run(replay(bootstrap, chosen))
    for target, count in sorted(sent.items()):
        print(f"replayed {count} record(s) to {target}")
    if not sent:
        print(f"nothing to replay in {dead_letter_topic(topic)}")
    return 0
