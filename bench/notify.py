"""notify's delivery rate beside a bare httpx loop, and event-to-webhook latency.

- rate: `--deliveries` queued deliveries to one local receiver (another process), sent by
  the real Worker (claim with SKIP LOCKED, sign, POST, record each try), beside a bare
  httpx loop posting the same bodies with the same concurrency in the same run.
  Goal (issue 13): at least 0.5 of the bare loop.
- latency: the notify service (in this process) consuming handoff.lead.assigned events
  published at half the measured rate for `--seconds`; the time from publishing an event
  to the receiver getting its webhook, p50/p99. Goal: p99 under 100 ms.

    uv run python -m bench notify      # or: uv run python -m bench.notify --deliveries 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import shutil
import statistics
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from bench import results
from bench.stack import embedded_stack
from handoff.db import create_engine
from handoff.events import routing
from handoff.logs import configure_logging
from handoff_dev.ports import free_port
from handoff_dev.stack import DevStack
from handoff_notify.adapters.signing import signed_headers
from handoff_notify.app import create_app
from handoff_notify.settings import NotifySettings
from tests.notify_helpers import SECRET_NEW, assigned, handle, subscribe, worker_for

CONCURRENCY = 8


def _receiver_process(port: int, pipe: Connection) -> None:
    """A receiver of its own, so it does not share the sender's core: 200 to everything,
    recording when each webhook-id arrived; the arrivals go back through `pipe` at the end."""
    from handoff_dev.receivers import Received, WebhookReceiver

    arrivals: dict[str, float] = {}

    def note(got: Received) -> None:
        arrivals.setdefault(got.headers.get("webhook-id", ""), time.time())

    async def serve() -> None:
        receiver = await WebhookReceiver(on_received=note).start(port)
        pipe.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        await receiver.stop()
        pipe.send(arrivals)

    asyncio.run(serve())


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.parent, child = multiprocessing.Pipe()
        self.proc = multiprocessing.get_context("spawn").Process(
            target=_receiver_process, args=(self.port, child), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Receiver:
        self.proc.start()
        assert self.parent.recv() == "ready"
        return self

    def arrivals(self) -> dict[str, float]:
        self.parent.send("stop")
        got: dict[str, float] = self.parent.recv()
        return got

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()


async def bare_loop(url: str, bodies: list[tuple[str, bytes]]) -> float:
    """Deliveries per second of a plain httpx loop: the same bodies, signed, same concurrency."""
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)

    async def one(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            message_id, body = queue.get_nowait()
            headers = signed_headers([SECRET_NEW], message_id, _now(), body)
            (await client.post(url, content=body, headers=headers)).raise_for_status()

    async with httpx.AsyncClient(timeout=10) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(CONCURRENCY)))
        return len(bodies) / (time.perf_counter() - started)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def worker_rate(database_url: str, url: str, count: int) -> float:
    engine = create_engine(database_url)
    try:
        rep = f"bench-{uuid.uuid4().hex[:6]}"
        await subscribe(engine, url=url, secrets=(SECRET_NEW,), reps=(rep,))
        for start in range(0, count, 1000):
            await handle(engine, [assigned(rep) for _ in range(min(1000, count - start))])
        worker = worker_for(database_url, per_endpoint=CONCURRENCY)
        await worker.start()
        try:
            started = time.perf_counter()
            sent = await worker.drain()
            elapsed = time.perf_counter() - started
        finally:
            await worker.stop()
        assert sent == count, f"sent {sent} of {count}"
        return count / elapsed
    finally:
        await engine.dispose()


async def latency(stack: DevStack, url: str, rate: float, seconds: float) -> list[str]:
    """Publish assigned events at `rate` per second for `seconds`; their ids and send times."""
    assert stack.database_url and stack.bootstrap
    config = Path(tempfile.mkdtemp(prefix="handoff-bench-notify-")) / "notify.yaml"
    rep = f"lat-{uuid.uuid4().hex[:6]}"
    config.write_text(
        "subscriptions:\n"
        f"  - id: bench-latency\n    url: {url}\n    secrets: [{SECRET_NEW}]\n"
        f"    events: [handoff.lead.assigned]\n    reps: [{rep}]\n"
        "safety:\n  allow_networks: [127.0.0.0/8]\n"
        f"delivery:\n  concurrency_per_endpoint: {CONCURRENCY}\n"
    )
    settings = NotifySettings(
        database_url=stack.database_url,
        kafka_bootstrap_servers=stack.bootstrap,
        HANDOFF_NOTIFY_CONFIG_FILE=str(config),
    )
    app = create_app(settings)
    sent: list[str] = []
    async with app.router.lifespan_context(app):
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=0)
        await producer.start()
        try:
            consumer = app.state.runtime.consumer
            for _ in range(600):  # until the consumer holds its partitions
                if consumer is not None and consumer.holds_assignment():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            gap, total = 1.0 / rate, int(rate * seconds)
            start = time.perf_counter()
            for n in range(total):
                e = assigned(rep, sent_at=time.time())
                await producer.send(
                    routing.TOPIC,
                    e.model_dump_json(exclude_none=True).encode(),
                    key=e.data["lead_id"].encode(),
                )
                sent.append(e.id)
                delay = start + (n + 1) * gap - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await producer.flush()
            await asyncio.sleep(2.0)  # the last ones arrive
        finally:
            await producer.stop()
    shutil.rmtree(config.parent, ignore_errors=True)
    return sent


async def bench(stack: DevStack, deliveries: int, seconds: float, at: float | None) -> None:
    assert stack.database_url
    with Receiver() as r:
        bodies = [
            (f"base-{n}", assigned("bench").model_dump_json().encode()) for n in range(deliveries)
        ]
        base = await bare_loop(r.url, bodies)
        rate = await worker_rate(stack.database_url, r.url, deliveries)
        r.arrivals()
    print(
        f"  delivery rate   notify worker {rate:8.0f}/s   bare httpx loop {base:8.0f}/s   "
        f"ratio {rate / base:.2f} (goal >= 0.5)",
        flush=True,
    )
    results.record("notify deliveries / bare httpx loop", rate / base, "", ">= 0.5")
    with Receiver() as r:
        sent_at: dict[str, float] = {}
        half = at or max(rate / 2, 1.0)
        ids = await latency(stack, r.url, half, seconds)
        arrivals = r.arrivals()
    engine = create_engine(stack.database_url)
    with contextlib.suppress(Exception):
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT event_id, (convert_from(body, 'UTF8')::jsonb -> 'data' ->> 'sent_at')::float8 "
                    "FROM notify.deliveries WHERE event_id = ANY(:ids)"
                ),
                {"ids": ids},
            )
            sent_at = {r[0]: r[1] for r in rows}
    await engine.dispose()
    lags = sorted((arrivals[i] - sent_at[i]) * 1000 for i in ids if i in arrivals and i in sent_at)
    if len(lags) < len(ids):
        print(f"  latency: only {len(lags)} of {len(ids)} webhooks arrived", flush=True)
    if lags:
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(
            f"  assigned -> webhook at {half:.0f}/s: p50 {statistics.median(lags):.1f} ms   "
            f"p99 {p99:.1f} ms (goal p99 < 100 ms, {len(lags)} events)",
            flush=True,
        )
        results.record(
            "assigned -> webhook delivered, p99 at half the max rate", p99, "ms", "< 100"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=None, help="events/s for the latency run")
    args = parser.parse_args(argv)
    configure_logging("console", "error")
    with embedded_stack(topics=True) as stack:
        asyncio.run(bench(stack, args.deliveries, args.seconds, args.rate))


if __name__ == "__main__":
    main()
