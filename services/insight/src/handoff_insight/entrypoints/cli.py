"""`handoff insight rebuild`: replay the three topics from the earliest offset into fresh tables.

Stop the insight service first. The rebuild empties the read model (funnel rows, links,
parked facts, rollup, inbox, alert state), reads every partition of handoff.scoring.v1,
handoff.routing.v1 and handoff.sla.v1 from its first record to the high watermark seen in
its fetches (never ListOffsets, which the embedded broker answers wrongly), applies them
with the service's own handler, judges every band once without publishing, and commits
the consumer group's offsets, so the service resumes where the rebuild stopped. Running it
twice gives the same tables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError
from sqlalchemy import text

from handoff.cli import Subcommands, fail
from handoff.db import UnitOfWorkFactory, create_engine
from handoff.events.envelope import UnknownEventType, parse_event
from handoff.messaging import inbox
from handoff.messaging.consumer import Inbound
from handoff_insight.adapters.tables import SCHEMA
from handoff_insight.config import load_config
from handoff_insight.entrypoints.consumer import ADAPTERS
from handoff_insight.service_layer.facts import FunnelEvent
from handoff_insight.service_layer.handlers import FunnelHandler
from handoff_insight.service_layer.judge import judge_groups
from handoff_insight.settings import SERVICE

TABLES = ("funnel", "handoffs", "parked", "rollup", "cube", "alerts", "inbox")


@dataclass
class Rebuilt:
    events: int = 0
    malformed: int = 0
    seconds: float = 0.0


async def rebuild(
    database_url: str,
    bootstrap: str,
    config_path: Path,
    *,
    group_id: str = SERVICE.group_id,
    idle_seconds: float = 5.0,
) -> Rebuilt:
    config = load_config(config_path)
    handler = FunnelHandler(config, judge=False)
    engine = create_engine(database_url)
    uow_factory = UnitOfWorkFactory(engine)
    kafka = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    done = Rebuilt()
    started = time.monotonic()
    await kafka.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in ADAPTERS
            for p in sorted(kafka.partitions_for_topic(topic) or ())
        ]
        kafka.assign(partitions)
        await kafka.seek_to_beginning(*partitions)
        async with uow_factory() as uow:
            await uow.conn.execute(text(f"TRUNCATE {', '.join(f'{SCHEMA}.{t}' for t in TABLES)}"))
            await uow.commit()
        last_record = time.monotonic()
        while True:
            batches = await kafka.getmany(timeout_ms=500, max_records=5000)
            records = [r for recs in batches.values() for r in recs]
            if records:
                last_record = time.monotonic()
                good = _parse(records, done)
                async with uow_factory() as uow:
                    fresh = await inbox.claim(
                        uow.conn, SCHEMA, [(i.event.source, i.event.id) for i in good]
                    )
                    seen: set[tuple[str, str]] = set()
                    new = []
                    for i in good:
                        key = (i.event.source, i.event.id)
                        if key in fresh and key not in seen:
                            seen.add(key)
                            new.append(i)
                    if new:
                        await handler(uow, new)
                    await uow.commit()
            if await _caught_up(kafka, partitions) or time.monotonic() - last_record > idle_seconds:
                break
        async with uow_factory() as uow:
            await judge_groups(uow.conn, config, None, emit=False)
            await uow.commit()
        positions = {tp: await kafka.position(tp) for tp in partitions}
        await kafka.commit(positions)
    finally:
        await kafka.stop()
        await engine.dispose()
    done.seconds = time.monotonic() - started
    return done


async def _caught_up(kafka: AIOKafkaConsumer, partitions: list[TopicPartition]) -> bool:
    """Every partition's position has reached the high watermark its last fetch reported."""
    for tp in partitions:
        high = kafka.highwater(tp)
        if high is None or await kafka.position(tp) < high:
            return False
    return True


def _parse(
    records: list[ConsumerRecord[bytes, bytes]], done: Rebuilt
) -> list[Inbound[FunnelEvent]]:
    """Parse as the service's consumer does; malformed values were dead-lettered then: skip."""
    good: list[Inbound[FunnelEvent]] = []
    for rec in records:
        try:
            event = parse_event(ADAPTERS[rec.topic], rec.value or b"")
        except UnknownEventType:
            continue
        except (ValidationError, ValueError):
            done.malformed += 1
            continue
        good.append(Inbound(event, rec.topic, rec.partition, rec.offset))
    done.events += len(good)
    return good


def main(database_url: str, bootstrap: str, config_path: Path, group_id: str) -> int:
    try:
        done = asyncio.run(rebuild(database_url, bootstrap, config_path, group_id=group_id))
    except Exception as exc:
        print(f"handoff insight rebuild: failed: {exc}")
        return 1
    print(
        f"rebuilt the insight read model from {done.events} events "
        f"({done.malformed} malformed skipped) in {done.seconds:.1f}s"
    )
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    url = args.database_url or os.environ.get("HANDOFF_DATABASE_URL")
    bootstrap = args.bootstrap or os.environ.get("HANDOFF_KAFKA_BOOTSTRAP_SERVERS")
    if not url or not bootstrap:
        return fail(
            "set HANDOFF_DATABASE_URL and HANDOFF_KAFKA_BOOTSTRAP_SERVERS "
            "(or pass --database-url and --bootstrap)"
        )
    config_dir = Path(os.environ.get("HANDOFF_CONFIG_DIR") or "config")
    config = Path(
        args.config or os.environ.get("HANDOFF_INSIGHT_CONFIG_FILE") or config_dir / "insight.yaml"
    )
    return main(url, bootstrap, config, args.group or SERVICE.group_id)


def register(sub: Subcommands) -> None:
    """`handoff insight rebuild`, through the `handoff.commands` entry point of handoff-insight."""
    insight = sub.add_parser("insight", help="insight operations")
    insight_sub = insight.add_subparsers(dest="insight_command", required=True)
    rebuild = insight_sub.add_parser(
        "rebuild",
        help="stop insight, then replay its topics from the earliest offset into fresh tables",
    )
    rebuild.add_argument("--database-url", default=None)
    rebuild.add_argument("--bootstrap", default=None)
    rebuild.add_argument("--config", default=None, help="insight.yaml (bands judged at the end)")
    rebuild.add_argument("--group", default=None, help="consumer group (default handoff-insight)")
    rebuild.set_defaults(func=cmd_rebuild)
