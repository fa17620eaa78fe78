"""`handoff dlq list|replay` against the real broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from handoff.cli import main
from handoff.events import dlq_topic
from handoff.messaging.consumer import dead_letter
from tests.factories import identify, new_id
from tests.integration.kafka_helpers import collect


async def _topics(bootstrap: str) -> str:
    topic = f"test.dlq.{new_id()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1), NewTopic(dlq_topic(topic), 2, 1)])
    await admin.close()
    return topic


def _record(topic: str, offset: int, key: bytes, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=[("content-type", b"application/cloudevents+json")],
    )


async def _dead_letters(bootstrap: str, topic: str, values: list[bytes], key: bytes) -> None:
    """Four dead letters in ONE producer batch: the embedded broker's ListOffsets then says 1."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200)
    await producer.start()
    try:
        futures = []
        for n, value in enumerate(values):
            message = dead_letter(
                _record(topic, 10 + n, key, value),
                "ValueError: year 10000 is out of range",
                "handoff-scoring",
                stage="apply",
                attempts=4,
            )
            futures.append(
                await producer.send(
                    message.topic,
                    message.value,
                    key=message.key,
                    headers=list(message.headers),
                    partition=1,
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def test_list_shows_every_dead_letter_with_its_origin_and_no_value(
    bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = await _topics(bootstrap)
    lead = new_id()
    values = [identify(lead, email=f"ada{n}@example.com").to_json() for n in range(4)]
    await _dead_letters(bootstrap, topic, values, lead.encode())

    code = await asyncio.to_thread(main, ["dlq", "list", topic, "--bootstrap", bootstrap])

    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[-1] == f"4 dead letter(s) in {dlq_topic(topic)}"
    assert [line.split()[0] for line in lines[:-1]] == ["1:0", "1:1", "1:2", "1:3"]
    assert f"from={topic}/0@10" in lines[0] and f"from={topic}/0@13" in lines[3]
    assert "consumer=handoff-scoring" in lines[0] and "attempts=4" in lines[0]
    assert "error=ValueError: year 10000 is out of range" in lines[0]
    assert f"key={lead}" in lines[0]
    assert "@example.com" not in out, "values (and their emails) are never printed"


async def test_replay_sends_the_original_record_back_to_its_source_topic(
    bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = await _topics(bootstrap)
    lead = new_id()
    values = [identify(lead, email=f"ada{n}@example.com").to_json() for n in range(4)]
    await _dead_letters(bootstrap, topic, values, lead.encode())

    one = await asyncio.to_thread(
        main, ["dlq", "replay", dlq_topic(topic), "--bootstrap", bootstrap, "--offset", "1:2"]
    )
    assert one == 0 and f"replayed 1 record(s) to {topic}" in capsys.readouterr().out
    back = await collect(bootstrap, topic, lambda rs: len(rs) >= 1)
    assert [(r.key, r.value) for r in back] == [(lead.encode(), values[2])]
    assert list(back[0].headers) == [("content-type", b"application/cloudevents+json")]

    rest = await asyncio.to_thread(
        main, ["dlq", "replay", topic, "--bootstrap", bootstrap, "--all"]
    )
    assert rest == 0 and f"replayed 4 record(s) to {topic}" in capsys.readouterr().out
    back = await collect(bootstrap, topic, lambda rs: len(rs) >= 5)
    assert [r.value for r in back] == [values[2], *values]


async def test_replay_refuses_an_offset_that_is_not_there(
    bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = await _topics(bootstrap)
    code = await asyncio.to_thread(
        main, ["dlq", "replay", topic, "--bootstrap", bootstrap, "--offset", "0:7"]
    )
    assert code == 1
    assert "no dead letter at 0:7" in capsys.readouterr().err
    assert (
        await asyncio.to_thread(main, ["dlq", "list", "no.such.topic", "--bootstrap", bootstrap])
        == 1
    )
    assert "no topic no.such.topic.dlq" in capsys.readouterr().err
