"""cProfile of two hot paths in process, for the lab notes in bench/README.md: routing's batch
path (parse, inbox, RoutingHandler, commit) with its outbox relay, and the sla-watch firer
draining a burst beside its claim-and-delete baseline. Not a benchmark: no goal, no results.

    uv run --locked python -m bench.profiles routing --mqls 6000 --batch 1000
    uv run --locked python -m bench.profiles sla --burst 20000 --pending 100000

Each prints the time per item without the profiler and with it, then the functions that took
the most time of their own; `--save DIR` keeps the .prof files for `python -m pstats`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import asyncpg

from bench import sla as sla_bench
from bench.profiling import summary
from bench.routing import mql, team_yaml
from bench.stack import embedded_stack
from handoff.db import UnitOfWorkFactory, asyncpg_dsn, create_engine
from handoff.events import scoring
from handoff.events.envelope import utcnow
from handoff.logs import configure_logging
from handoff.messaging.consumer import BatchConsumer
from handoff.messaging.outbox import OutboxRelay
from handoff.messaging.producer import Producer, make_producer
from handoff.runtime import tune_gc
from handoff.settings import HandoffSettings
from handoff_routing.adapters import roster
from handoff_routing.adapters.roster import RosterStore
from handoff_routing.config import load_config
from handoff_routing.entrypoints.consumer import CONSUMES
from handoff_routing.service_layer.handlers import RoutingHandler
from handoff_routing.service_layer.handoff_batch import Routing


class Record:
    """What the consumer reads of a Kafka record."""

    def __init__(self, topic: str, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.value = topic, 0, offset, value
        self.key: bytes | None = None
        self.headers: tuple[()] = ()


def show(prof: cProfile.Profile, title: str, save: Path | None, top: int = 25) -> None:
    print(f"-- {title}: own time by library, then the {top} functions with the most", flush=True)
    stats = pstats.Stats(prof)
    if save is not None:
        stats.dump_stats(save / f"{title.replace(' ', '_')}.prof")
    print(summary(stats, top), flush=True)


async def profile_routing(
    url: str, bootstrap: str, total: int, batch: int, save: Path | None
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="handoff-profile-"))
    (folder / "routing.yaml").write_text(team_yaml())
    config = load_config(folder / "routing.yaml")
    engine = create_engine(url)
    uow = UnitOfWorkFactory(engine)
    async with uow() as unit:
        await roster.seed(unit.conn, config)
        await unit.commit()
    settings = HandoffSettings(database_url=url, kafka_bootstrap_servers=bootstrap)
    routing = Routing(config, RosterStore(config.default_pool), utcnow)
    # The consumer's own parse and transaction, without its Kafka loop: records are made here.
    consumer = BatchConsumer(
        name="profile",
        schema="routing",
        adapters=CONSUMES.adapters,
        handler=RoutingHandler(routing),
        uow_factory=uow,
        producer=cast(Producer, None),  # dead letters only; the bench's MQLs are all valid
        settings=settings,
    )
    tune_gc()  # as the service does at start

    def records(prefix: str) -> list[Any]:
        return [Record(scoring.TOPIC, n, mql(prefix, n).to_json()) for n in range(total)]

    async def apply(recs: list[Any]) -> float:
        started = time.perf_counter()
        for i in range(0, len(recs), batch):
            good, dead = consumer.parse(recs[i : i + batch])
            assert not dead
            await consumer._apply_in_transaction(good)
        return time.perf_counter() - started

    warm, plain, profiled = records("warm")[: 2 * batch], records("plain"), records("prof")
    await apply(warm)
    seconds = await apply(plain)
    print(f"routing batch path: {seconds / total * 1e6:,.0f} us per MQL without the profiler")
    prof = cProfile.Profile()
    prof.enable()
    seconds = await apply(profiled)
    prof.disable()
    print(f"routing batch path: {seconds / total * 1e6:,.0f} us per MQL under cProfile")
    show(prof, "routing batch path", save)

    kafka = make_producer(settings, "profile")
    await kafka.start()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        relay = OutboxRelay(asyncpg_dsn(url), "routing", Producer(kafka))
        events = await conn.fetchval(
            "SELECT count(*) FROM routing.outbox WHERE published_at IS NULL"
        )
        prof = cProfile.Profile()
        started = time.perf_counter()
        prof.enable()
        while await relay.publish_pending(conn):
            pass
        prof.disable()
        seconds = time.perf_counter() - started
        print(f"outbox relay: {seconds / max(1, events) * 1e6:,.0f} us per event under cProfile")
        show(prof, "outbox relay", save, top=15)
    finally:
        await conn.close()
        await kafka.stop()
        await engine.dispose()


async def profile_sla(url: str, burst: int, pending: int, save: Path | None) -> None:
    engine = create_engine(url)
    tune_gc()
    try:
        await sla_bench.insert(engine, pending, "now() + interval '1 day'")
        await sla_bench.burst(engine, sla_bench.BaselineFiring, 2000)  # warm both paths
        await sla_bench.burst(engine, sla_bench.RecordingFiring, 2000)
        base, _ = await sla_bench.burst(engine, sla_bench.BaselineFiring, burst)
        real, _ = await sla_bench.burst(engine, sla_bench.RecordingFiring, burst)
        print(
            f"burst of {burst:,} without the profiler: firer {real:.2f} s, baseline {base:.2f} s "
            f"({real / base:.2f}x; the burst falls due 3 s after it is written, not counted)"
        )
        for name, make in (
            ("sla baseline", sla_bench.BaselineFiring),
            ("sla firer", sla_bench.RecordingFiring),
        ):
            prof = cProfile.Profile()
            prof.enable()
            seconds, _ = await sla_bench.burst(engine, make, burst)
            prof.disable()
            # The event loop's idle time (epoll) includes the 3 s wait for the burst's due time.
            print(f"{name}: {seconds:.2f} s under cProfile")
            show(prof, name, save, top=20)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", choices=("routing", "sla"))
    parser.add_argument("--mqls", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=1000, help="MQLs per routing batch")
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--save", type=Path, default=None, help="a folder for the .prof files")
    args = parser.parse_args(argv)
    configure_logging("json", "warning")  # the services log at info; no per-batch lines here
    with embedded_stack(topics=args.path == "routing") as stack:
        assert stack.database_url and stack.bootstrap
        if args.path == "routing":
            asyncio.run(
                profile_routing(
                    stack.database_url, stack.bootstrap, args.mqls, args.batch, args.save
                )
            )
        else:
            asyncio.run(profile_sla(stack.database_url, args.burst, args.pending, args.save))


if __name__ == "__main__":
    main()
