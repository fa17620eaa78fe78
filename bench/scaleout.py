"""Scale-out and memory: each consumer service at its maximum rate with one instance, then with
two instances sharing the partitions (the ratio), and the peak RSS of every service process.

Each service runs as its own process(es) on one embedded stack, the way `handoff dev` starts
them, one service at a time so none competes with another: first ingress takes a backlog of
signals by batch `POST /v1/signals` (its peak RSS under that load), then scoring drains the
signals, routing a backlog of MQLs, and sla-watch, insight and notify what those left on their
topics. A service is drained when its consumer group's committed offsets (committed after the
database commit) reach every partition's fetched high watermark; its rate is the events it
consumed from the moment every instance holds partitions (so a rebalance on joining is not in
the span) to that point. The round is run with one instance of each, then with two.

Memory is VmHWM from /proc (the kernel's high-water mark of resident memory) of each service
process and its children, read after the max-rate run with one instance; goal under 300 MB.

    make bench            # or: uv run --locked python -m bench.scaleout --signals 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from bench import results, topics
from bench.routing import mql, team_yaml
from handoff.db import create_engine
from handoff.events import commands, routing, scoring, signals, sla
from handoff.logs import configure_logging
from handoff.messaging.producer import Message, Producer, make_producer
from handoff.service import ServiceSpec, installed_services
from handoff.settings import HandoffSettings
from handoff_dev.ports import free_port
from handoff_dev.processes import ServiceProcess
from handoff_dev.stack import DevStack

MB = 1024 * 1024
MEMORY_GOAL = "< 300"
# What each consumer service reads (its entrypoints/consumer.py), in pipeline order.
CONSUMES: dict[str, tuple[str, ...]] = {
    "scoring": (signals.TOPIC, routing.TOPIC),
    "routing": (scoring.TOPIC, sla.TOPIC, commands.TOPIC),
    "sla-watch": (routing.TOPIC,),
    "insight": (scoring.TOPIC, routing.TOPIC, sla.TOPIC),
    "notify": (scoring.TOPIC, routing.TOPIC, sla.TOPIC),
}
# The topics whose events a rate counts. Scoring and routing also read topics that services
# later in the round fill (routing's assignments, sla-watch's escalations): the second round
# would find the first round's there, which they mostly skip, and count those cheap skips.
COUNTED: dict[str, tuple[str, ...]] = {
    "scoring": (signals.TOPIC,),
    "routing": (scoring.TOPIC,),
}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and every live descendant (ingress may run worker processes under its parent)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of resident memory (VmHWM) of one process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / MB
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time used so far by these processes (Linux)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class Run:
    service: str
    instances: int
    events: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds over the span, by part
    peak_mb: float = 0.0  # the largest VmHWM among the service's processes

    @property
    def rate(self) -> float:
        return self.events / self.seconds


class Scaleout:
    def __init__(self, stack: DevStack, data_dir: Path) -> None:
        assert stack.database_url and stack.bootstrap
        self.stack, self.data_dir = stack, data_dir
        self.bootstrap = stack.bootstrap
        self.settings = HandoffSettings(
            database_url=stack.database_url, kafka_bootstrap_servers=stack.bootstrap
        )
        self.specs: dict[str, ServiceSpec] = {s.name: s for s in installed_services()}

    def start(self, name: str, instances: int) -> list[ServiceProcess]:
        procs = []
        for n in range(instances):
            log_dir = self.data_dir / "logs" / f"{name}-{instances}x-{n}"
            proc = ServiceProcess(self.specs[name], free_port(), self.stack.service_env(), log_dir)
            proc.start()
            procs.append(proc)
        for proc in procs:
            proc.wait_ready(120)
        return procs

    @staticmethod
    def stop(procs: list[ServiceProcess]) -> None:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait_stopped(15)

    async def all_ready(self, procs: list[ServiceProcess], within: float = 120) -> None:
        """Every instance holds partitions at the same moment: the group has settled."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if all([await p.is_ready(client) for p in procs]):
                    return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{procs[0].spec.name}: the instances never all held partitions")

    async def ends(self, name: str) -> dict[tuple[str, int], int]:
        """Every partition's end on the topics `name` reads (fetched high watermarks)."""
        out = {}
        for topic in CONSUMES[name]:
            for p, end in (await topics.high_watermarks(self.bootstrap, topic)).items():
                out[(topic, p)] = end
        return out

    async def committed(
        self, admin: AIOKafkaAdminClient, name: str, ends: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        """The group's committed offsets; the partitions named (the embedded broker closes the
        connection when asked for all of a group's offsets)."""
        offsets = await admin.list_consumer_group_offsets(
            self.specs[name].group_id, partitions=[TopicPartition(t, p) for t, p in ends]
        )
        return {(tp.topic, tp.partition): max(0, meta.offset) for tp, meta in offsets.items()}

    async def unpublished(self, name: str) -> int:
        """Outbox rows the service's relay has not published yet (0 when it has no outbox)."""
        engine = create_engine(self.settings.database_url)
        try:
            async with engine.connect() as conn:
                left = await conn.scalar(
                    text(
                        f"SELECT count(*) FROM {self.specs[name].schema}.outbox "
                        "WHERE published_at IS NULL"
                    )
                )
                return int(left or 0)
        except ProgrammingError:
            return 0
        finally:
            await engine.dispose()

    async def drain(self, name: str, instances: int) -> Run:
        """Start `instances` of `name` over the backlog already on its topics; time to drained."""
        ends = await self.ends(name)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        committed0 = await self.committed(admin, name, ends)
        procs: list[ServiceProcess] = []
        try:
            # Started on the main thread (blocking; nothing else runs meanwhile), so each child gets
            # the parent-death signal and never outlives an interrupted bench.
            procs = self.start(name, instances)
            await self.all_ready(procs)
            pids = [p for proc in procs if proc.pid for p in process_tree(proc.pid)]
            infra = {
                "PostgreSQL": process_tree(self.stack.postgres.pid)
                if self.stack.postgres and self.stack.postgres.pid
                else [],
                "broker": [self.stack.broker.pid]
                if self.stack.broker and self.stack.broker.pid
                else [],
            }
            before = await self.committed(admin, name, ends)
            started = time.perf_counter()
            cpu0 = {"service": cpu_seconds(pids)} | {k: cpu_seconds(v) for k, v in infra.items()}
            counted = COUNTED.get(name, CONSUMES[name])
            left = sum(
                max(0, end - before.get(tp, 0)) for tp, end in ends.items() if tp[0] in counted
            )
            if left == 0:
                raise RuntimeError(
                    f"{name}: {instances} instance(s) drained the backlog before all held "
                    "partitions: too few events to measure; use more"
                )
            while True:
                now = await self.committed(admin, name, ends)
                if all(now.get(tp, 0) >= end for tp, end in ends.items()):
                    break
                for proc in procs:
                    if not proc.alive():
                        raise RuntimeError(f"{name} exited: {proc.last_log_line()}")
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - started
            cpu = {"service": cpu_seconds(pids) - cpu0["service"]} | {
                k: cpu_seconds(v) - cpu0[k] for k, v in infra.items()
            }
            peak = max(peak_rss_mb(p) for p in pids)
            while await self.unpublished(name):  # noqa: ASYNC110 (the next one's backlog)
                await asyncio.sleep(0.2)
            backlog = sum(
                max(0, end - committed0.get(tp, 0)) for tp, end in ends.items() if tp[0] in counted
            )
            if left < backlog / 2:
                print(
                    f"  {name} x{instances}: only {left:,} of {backlog:,} events came after every "
                    "instance held partitions; a larger backlog gives a steadier rate"
                )
            return Run(name, instances, left, seconds, cpu, peak)
        finally:
            self.stop(procs)
            await admin.close()

    async def ingress_signals(self, total: int, clients: int) -> tuple[float, float]:
        """Ingress alone takes `total` signals by batch POST /v1/signals from `clients` senders;
        signals/s and its processes' peak RSS in MB."""
        procs = self.start("ingress", 1)
        try:
            prefix = uuid.uuid4().hex[:8]
            requests = max(1, total // 1000)
            headers = {
                "authorization": f"Bearer {self.stack.api_key}",
                "content-type": "application/json",
            }
            cursor = 0

            def body(n: int) -> bytes:
                signals_ = [
                    {
                        "id": f"so-{prefix}-{n}-{i}",
                        "lead_id": f"SO-{prefix}-{(n * 1000 + i) % 20000}",
                        "type": ("page_view", "pricing_page_view", "email_click")[i % 3],
                        "occurred_at": "2026-11-21T10:00:00Z",
                        "properties": {"url": "https://acme.example/pricing"},
                    }
                    for i in range(1000)
                ]
                return json.dumps({"signals": signals_}).encode()

            async with httpx.AsyncClient(base_url=procs[0].url, timeout=60) as client:

                async def sender() -> None:
                    nonlocal cursor
                    while cursor < requests:
                        n, cursor = cursor, cursor + 1
                        resp = await client.post("/v1/signals", content=body(n), headers=headers)
                        if resp.status_code != 202:
                            raise RuntimeError(f"ingress answered {resp.status_code}: {resp.text}")

                started = time.perf_counter()
                await asyncio.gather(*(sender() for _ in range(clients)))
                seconds = time.perf_counter() - started
            assert procs[0].pid
            peak = max(peak_rss_mb(p) for p in process_tree(procs[0].pid))
            return requests * 1000 / seconds, peak
        finally:
            self.stop(procs)

    async def publish_mqls(self, total: int) -> None:
        kafka = make_producer(self.settings, "bench-scaleout")
        await kafka.start()
        try:
            prefix = uuid.uuid4().hex[:6]
            await Producer(kafka).send_all(
                [Message.of(scoring.TOPIC, mql(prefix, n)) for n in range(total)]
            )
        finally:
            await kafka.stop()


def note(one: Run, two: Run) -> str:
    """What limits the second instance on this machine, from where the CPU went."""
    cores = os.cpu_count() or 1
    parts = ", ".join(f"{k} {v / two.seconds:.2f}" for k, v in two.cpu.items())
    used = sum(two.cpu.values()) / two.seconds
    per_event = one.cpu.get("service", 0) / max(one.events, 1) * 1e6
    return (
        f"  with two: cores busy {parts} (of {cores}; {used:.2f} in all); one instance used "
        f"{per_event:,.0f} us of CPU per event. "
        + (
            "The cores are full: the instances, PostgreSQL and the broker share them, so a "
            "second instance takes CPU from the first and from the database."
            if used > 0.8 * cores
            else "The cores are not full: waiting (database commits, fetches) limits it."
        )
    )


async def bench(
    scale: Scaleout, signals_total: int, mqls: int, clients: int, services: list[str]
) -> None:
    runs: dict[tuple[str, int], Run] = {}
    for instances in (1, 2):
        rate, peak = await scale.ingress_signals(signals_total, clients)
        print(f"ingress: {rate:,.0f} signals/s by batch POST, peak RSS {peak:,.0f} MB", flush=True)
        if instances == 1:
            results.record("peak RSS, ingress (max-rate batch POST)", peak, "MB", MEMORY_GOAL)
        for name in services:
            if name == "routing":
                await scale.publish_mqls(mqls)
            run = await scale.drain(name, instances)
            runs[(name, instances)] = run
            print(
                f"{name} x{instances}: {run.events:,} events in {run.seconds:.1f} s, "
                f"{run.rate:,.0f} events/s, peak RSS {run.peak_mb:,.0f} MB (largest instance)",
                flush=True,
            )
            if instances == 1:
                results.record(f"peak RSS, {name} (max-rate run)", run.peak_mb, "MB", MEMORY_GOAL)
    for name in services:
        one, two = runs[(name, 1)], runs[(name, 2)]
        ratio = two.rate / one.rate
        print(
            f"{name}: two instances / one = {ratio:.2f} "
            f"({two.rate:,.0f} vs {one.rate:,.0f} events/s)\n{note(one, two)}",
            flush=True,
        )
        results.record(f"{name} scale-out, two instances / one", ratio, "", "> 1")
        # One instance's rate: what docs/running.md's partitions and instances are reasoned from.
        results.record(f"{name}, one instance", one.rate, "events/s", "> 0")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--signals", type=int, default=100_000, help="signals per round")
    parser.add_argument("--mqls", type=int, default=30_000, help="MQLs per round (routing)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent batch senders")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument(
        "--services",
        default=",".join(CONSUMES),
        help=f"comma-separated, in pipeline order (default {','.join(CONSUMES)})",
    )
    args = parser.parse_args(argv)
    services = [s for s in args.services.split(",") if s]
    if unknown := [s for s in services if s not in CONSUMES]:
        parser.error(f"unknown service(s) {unknown}; choose from {', '.join(CONSUMES)}")
    configure_logging("console", "warning")
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-bench-scaleout-"))
    stack = DevStack.from_env(
        data_dir, pg_port=free_port(), broker_port=free_port(), partitions=args.partitions
    )
    team = data_dir / "routing.yaml"
    team.write_text(team_yaml(), encoding="utf-8")
    stack.extra_env.update({"HANDOFF_ROUTING_CONFIG_FILE": str(team), "HANDOFF_LOG_FORMAT": "json"})
    try:
        stack.start_infrastructure()
        stack.migrate()
        stack.create_topics()
        stack.ensure_api_key()
        scale = Scaleout(stack, data_dir)
        asyncio.run(bench(scale, args.signals, args.mqls, args.clients, services))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
