"""Two notify processes share the topics and the delivery queue; one is killed with SIGKILL
in the middle of the work and started again. Every event reaches the receiver, the queue
holds exactly one delivery per event per subscription, and a webhook arrives twice only
when the kill fell between a send and its record (then with the same webhook-id, the
receiver's idempotency key): at most the killed process's in-flight tries.

It runs on a broker of its own: a member SIGKILLed out of the shared `handoff-notify` group
can hold up that group's next join on the embedded broker, and the end-to-end notify joins
the same group later in the session."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.events import routing
from handoff.topics import ensure_topics
from handoff_dev.broker import EmbeddedBroker
from handoff_dev.ports import free_port
from handoff_dev.processes import ServiceProcess
from handoff_dev.receivers import Answer, Received, WebhookReceiver
from handoff_dev.stack import DevStack
from handoff_notify.settings import SERVICE
from tests.notify_helpers import SECRET_NEW, contacted, uid

EVENTS = 400
PER_ENDPOINT = 4


async def test_every_event_is_delivered_once_per_subscription_across_a_kill_and_two_instances(
    stack: DevStack, engine: AsyncEngine, tmp_path: Path
) -> None:
    async def slowly(r: Received) -> Answer:
        await asyncio.sleep(0.02)  # so tries are in flight when the kill lands
        return Answer(200)

    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    bootstrap = await asyncio.to_thread(broker.start)
    try:
        await ensure_topics(bootstrap, 4)
        await _deliver_across_a_kill(stack, engine, tmp_path, bootstrap, slowly)
    finally:
        await asyncio.to_thread(broker.stop)


async def _deliver_across_a_kill(
    stack: DevStack, engine: AsyncEngine, tmp_path: Path, bootstrap: str, slowly: Any
) -> None:
    receiver = await WebhookReceiver([SECRET_NEW], slowly).start()
    rep = uid("rep")
    sub_id = uid("crash")
    config = tmp_path / "notify.yaml"
    config.write_text(
        json.dumps(
            {
                "subscriptions": [
                    {
                        "id": sub_id,
                        "url": receiver.url,
                        "secrets": [SECRET_NEW],
                        "events": ["handoff.lead.contacted"],
                        "reps": [rep],
                    }
                ],
                "delivery": {"concurrency_per_endpoint": PER_ENDPOINT},
                "safety": {"allow_networks": ["127.0.0.0/8"]},
            }
        )
    )
    env = {
        **stack.service_env(),
        # This module's database (the one `engine` reads), not the session's.
        "HANDOFF_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "HANDOFF_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HANDOFF_NOTIFY_CONFIG_FILE": str(config),
        "HANDOFF_NOTIFY_LEASE_SECONDS": "5",
        "HANDOFF_NOTIFY_MAX_SLEEP_SECONDS": "0.2",
        "HANDOFF_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "HANDOFF_CONSUMER_BATCH_MAX": "50",
        "HANDOFF_LOG_LEVEL": "warning",
    }
    logs = tmp_path / "logs"
    procs = [ServiceProcess(SERVICE, free_port(), env, logs) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        await asyncio.to_thread(p.wait_ready, 90)
    events = [contacted(rep) for _ in range(EVENTS)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for e in events:
            await producer.send(
                routing.TOPIC,
                e.model_dump_json(exclude_none=True).encode(),
                key=e.data["lead_id"].encode(),
            )
        await producer.flush()
        await receiver.wait_for(EVENTS // 4, within=90)
        procs[0].kill()  # SIGKILL, mid-work
        victim = ServiceProcess(SERVICE, free_port(), env, logs)
        victim.start()
        procs.append(victim)
        await asyncio.to_thread(victim.wait_ready, 90)

        async def all_ids() -> bool:
            return len({r.headers["webhook-id"] for r in receiver.received}) >= EVENTS

        for _ in range(1200):
            if await all_ids():
                break
            await asyncio.sleep(0.1)
        for _ in range(100):  # the last records may still be committing
            async with engine.connect() as conn:
                pending = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM notify.deliveries WHERE subscription_id = :s "
                            "AND status <> 'succeeded'"
                        ),
                        {"s": sub_id},
                    )
                ).scalar_one()
            if pending == 0:
                break
            await asyncio.sleep(0.1)
        assert pending == 0
        # Every delivery done, so none is tried again; the instances stopped (drained), so none
        # is in flight: what the receiver holds now is every try, late duplicates included.
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
        ids = Counter(r.headers["webhook-id"] for r in receiver.received)
        assert set(ids) == {e.id for e in events}
        assert all(r.verified for r in receiver.received)
        duplicates = sum(ids.values()) - EVENTS
        assert duplicates <= PER_ENDPOINT, ids.most_common(5)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT event_id, count(*), min(status) FROM notify.deliveries "
                        "WHERE subscription_id = :s GROUP BY event_id"
                    ),
                    {"s": sub_id},
                )
            ).all()
        assert len(rows) == EVENTS
        assert all(count == 1 for _, count, _ in rows)
    finally:
        await producer.stop()
        for p in procs:
            p.stop()
        await receiver.stop()
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM notify.subscriptions WHERE subscription_id = :s"), {"s": sub_id}
            )
