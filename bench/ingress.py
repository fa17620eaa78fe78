"""Webhook ingress throughput beside a bare ASGI endpoint, and batch POST /v1/signals, same run.

Ingress starts as production runs it: `python -m handoff_ingress` with HANDOFF_INGRESS_WORKERS
(default 0: one worker process per core, each on uvloop and httptools); set the variable to
compare another count.

1. Webhook requests/s: the real ingress service (its delivery desk and relay running) takes
   Standard Webhooks requests, one signal each, each verified, claimed in PostgreSQL and
   acknowledged by the broker before its 202. The baseline is a bare ASGI app that only answers
   202, served by the same uvicorn settings (workers, loop, parser). Both are driven by the same
   load tool (keep-alive HTTP/1.1 connections in a separate process, on uvloop) with the same
   pre-signed requests; rounds alternate. Goal: webhook/bare >= 0.6.
2. Batch POST /v1/signals with 1000 signals a request: signals/s acknowledged by the broker,
   beside raw aiokafka produce of the same records, 1000 a call, from the same number of
   concurrent senders (goal: batch/raw >= 0.5; the old absolute goal >= 20,000 is kept).

    make bench        # or: uv run python -m bench.ingress --seconds 5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench import results
from handoff.events.signals import TOPIC
from handoff.logs import configure_logging
from handoff.messaging.producer import Message, Producer, make_producer
from handoff.runtime import worker_count
from handoff.settings import HandoffSettings
from handoff_dev.ports import free_port, wait_for_port
from handoff_dev.stack import DevStack
from handoff_ingress.adapters.events_out import to_message
from handoff_ingress.domain.providers import standard
from handoff_ingress.domain.signals import SignalIn

SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldC0wMDE="
REPO = Path(__file__).resolve().parent.parent


def unlimited_config(path: Path) -> Path:
    """The shipped ingress config at `path`, with the standard source's rate limit out of the
    way: the figure is the webhook path's cost, not how cheaply the limiter refuses."""
    path.write_text(
        (REPO / "config" / "ingress.yaml")
        .read_text()
        .replace(
            "rate_limit: {per_second: 1000, burst: 2000}",
            "rate_limit: {per_second: 1000000, burst: 1000000}",
            1,
        )
    )
    return path


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The baseline: read the body, answer 202 with a small JSON body, nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"accepted":1}'
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"14")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def webhook_requests(port: int, count: int, path: str) -> list[bytes]:
    """Pre-signed Standard Webhooks requests, one fresh signal and delivery id each."""
    key = standard.decode_secret(SECRET)
    stamp = int(time.time())
    prefix = uuid.uuid4().hex[:8]
    out = []
    for n in range(count):
        lead = f"W-{prefix}-{n % 5000}"
        body = json.dumps(
            {
                "id": f"wb-{prefix}-{n}",
                "lead_id": lead,
                "type": "page_view",
                "occurred_at": "2026-11-21T10:00:00Z",
                "properties": {"url": "https://acme.example/blog"},
            }
        ).encode()
        msg_id = f"msg_{prefix}_{n}"
        head = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {stamp}\r\n"
            f"webhook-signature: {standard.sign(key, msg_id, stamp, body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


async def _connection(
    port: int, requests: list[bytes], cursor: list[int], stop_at: float, counts: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at and cursor[0] < len(requests):
            request = requests[cursor[0]]
            cursor[0] += 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            counts[status] = counts.get(status, 0) + 1
    finally:
        writer.close()


async def _hammer(port: int, path: str, connections: int, seconds: float, count: int) -> Any:
    requests = webhook_requests(port, count, path)
    cursor, counts = [0], {}  # type: ignore[var-annotated]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(port, requests, cursor, started + seconds, counts)
            for _ in range(connections)
        )
    )
    return sum(counts.values()), time.perf_counter() - started, counts


def _hammer_process(
    port: int, path: str, connections: int, seconds: float, count: int, out: Any
) -> None:
    # uvloop, as the servers use: the load tool must not be the slower side.
    out.put(uvloop.run(_hammer(port, path, connections, seconds, count)))


def load(port: int, path: str, connections: int, seconds: float) -> tuple[float, dict[int, int]]:
    """The load tool, in its own process so it does not share the server's event loop."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_hammer_process, args=(port, path, connections, seconds, 40_000, queue)
    )
    proc.start()
    done, elapsed, counts = queue.get()
    proc.join()
    return done / elapsed, counts


def start_bare(port: int, workers: int) -> subprocess.Popen[bytes]:
    """The bare app under the settings run_service gives ingress: workers, uvloop, httptools."""
    code = (
        "import uvicorn; "
        f"uvicorn.run('bench.ingress:bare_app', host='127.0.0.1', port={port}, "
        f"workers={workers}, loop='uvloop', http='httptools', log_level='warning', "
        "access_log=False, lifespan='on')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    if not wait_for_port(port, 60):
        proc.kill()
        raise RuntimeError("the bare ASGI server did not start")
    return proc


def signal_batch(prefix: str, n: int) -> list[dict[str, Any]]:
    """Request n's 1000 signals."""
    return [
        {
            "id": f"bs-{prefix}-{n}-{i}",
            "lead_id": f"S-{prefix}-{(n * 1000 + i) % 20000}",
            "type": "page_view" if i % 10 else "pricing_page_view",
            "occurred_at": "2026-11-21T10:00:00Z",
            "properties": {"url": "https://acme.example/pricing"},
        }
        for i in range(1000)
    ]


def raw_produce(seconds: float, settings: HandoffSettings, clients: int) -> float:
    """The baseline: records the size of the batch part's, 1000 a call, from `clients`
    concurrent senders through one aiokafka producer (the services' settings, acks=all):
    records/s acknowledged. Nothing is parsed, checked or built per request."""
    prefix = uuid.uuid4().hex[:8]
    batches = [
        [
            Message(
                TOPIC,
                s["lead_id"].encode(),
                to_message(SignalIn.model_validate(s)).value,
            )
            for s in signal_batch(prefix, n)
        ]
        for n in range(clients * 2)
    ]

    async def run() -> float:
        kafka = make_producer(settings, client_id="bench-raw")
        await kafka.start()
        try:
            producer = Producer(kafka)
            await producer.send_all(batches[0])  # warm up: metadata, connections
            sent, cursor = 0, [0]
            started = time.perf_counter()

            async def sender() -> None:
                nonlocal sent
                while time.perf_counter() - started < seconds:
                    cursor[0] += 1
                    batch = batches[cursor[0] % len(batches)]
                    await producer.send_all(batch)
                    sent += len(batch)

            await asyncio.gather(*(sender() for _ in range(clients)))
            return sent / (time.perf_counter() - started)
        finally:
            await kafka.stop()

    return asyncio.run(run())


def batch_signals(seconds: float, url: str, key: str, clients: int) -> tuple[float, int]:
    """Batches of 1000 signals from `clients` concurrent senders; signals/s acknowledged."""
    prefix = uuid.uuid4().hex[:8]

    def batch(n: int) -> bytes:
        return json.dumps({"signals": signal_batch(prefix, n)}).encode()

    async def run() -> tuple[float, int]:
        bodies = [batch(n) for n in range(clients * 8)]
        accepted, errors, cursor = 0, 0, [0]
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await client.post("/v1/signals", content=bodies[0], headers=headers)  # warm up
            started = time.perf_counter()

            async def sender() -> None:
                nonlocal accepted, errors
                while time.perf_counter() - started < seconds:
                    n = cursor[0] = cursor[0] + 1
                    body = bodies[n % len(bodies)].replace(b"bs-", f"b{n}-".encode())
                    resp = await client.post("/v1/signals", content=body, headers=headers)
                    if resp.status_code == 202:
                        accepted += resp.json()["accepted"]
                    else:
                        errors += 1

            await asyncio.gather(*(sender() for _ in range(clients)))
            return accepted / (time.perf_counter() - started), errors

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--only", choices=("webhook", "batch"), help="run one of the two parts")
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-bench-"))
    stack = DevStack.from_env(data_dir, pg_port=free_port(), broker_port=free_port())
    ingress_yaml = unlimited_config(data_dir / "ingress.yaml")
    stack.extra_env.update(
        {
            "HANDOFF_CONFIG_DIR": str(REPO / "config"),
            "HANDOFF_INGRESS_CONFIG_FILE": str(ingress_yaml),
            "HANDOFF_WEBHOOK_STANDARD_SECRET": SECRET,
            "HANDOFF_LOG_LEVEL": "warning",
            # As production runs it (0: a worker per core); the dev stack's default is 1.
            "HANDOFF_INGRESS_WORKERS": os.environ.get("HANDOFF_INGRESS_WORKERS", "0"),
        }
    )
    workers = worker_count(int(stack.extra_env["HANDOFF_INGRESS_WORKERS"]))
    bare_port = free_port()
    bare: subprocess.Popen[bytes] | None = None
    try:
        stack.start_infrastructure()
        stack.migrate()
        stack.create_topics()
        stack.ensure_api_key()
        ingress_port = free_port()
        stack.start_services(ports={"ingress": ingress_port}, only=["ingress"])
        bare = start_bare(bare_port, workers)
        path = "/v1/webhooks/standard"
        print(
            f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
            f"ingress and the bare app with {workers} worker process(es) each",
            flush=True,
        )
        best_bare = best_hook = 0.0
        for r in range(1, args.rounds + 1 if args.only != "batch" else 1):
            bare_rate, bare_codes = load(bare_port, path, args.connections, args.seconds)
            hook_rate, hook_codes = load(ingress_port, path, args.connections, args.seconds)
            best_bare, best_hook = max(best_bare, bare_rate), max(best_hook, hook_rate)
            print(
                f"round {r}: bare ASGI {bare_rate:,.0f} req/s {bare_codes}, "
                f"webhook {hook_rate:,.0f} req/s {hook_codes}",
                flush=True,
            )
        if args.only != "batch":
            print(f"bare ASGI 202 (best of {args.rounds}): {best_bare:,.0f} requests/s")
            print(f"webhook {path} (best of {args.rounds}): {best_hook:,.0f} requests/s")
            print(f"webhook/bare = {best_hook / best_bare:.2f}  (goal >= 0.60)", flush=True)
            results.record("webhook requests / bare ASGI 202", best_hook / best_bare, "x", ">= 0.6")
        if args.only == "webhook":
            return
        rate, errors = batch_signals(
            args.seconds, f"http://127.0.0.1:{ingress_port}", stack.api_key, args.batch_clients
        )
        print(
            f"batch POST /v1/signals, 1000 a request: {rate:,.0f} signals/s acknowledged by the "
            f"broker, {errors} failed requests  (goal >= 20,000)"
        )
        results.record("batch POST /v1/signals, 1000 a request", rate, "signals/s", ">= 20000")
        assert stack.bootstrap
        raw = raw_produce(
            args.seconds,
            HandoffSettings(kafka_bootstrap_servers=stack.bootstrap),
            args.batch_clients,
        )
        print(
            f"raw aiokafka produce, 1000 a call: {raw:,.0f} records/s; "
            f"batch/raw = {rate / raw:.2f}  (goal >= 0.50)"
        )
        results.record("batch POST /v1/signals / raw aiokafka produce", rate / raw, "x", ">= 0.5")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(10)
        for proc in stack.services.values():
            proc.stop()
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
