"""Memory per service under rejected requests: RSS of every installed service while each
takes N requests that are all refused (default 100,000 each), from many client addresses'
worth of junk: unsigned webhooks (ingress), unknown sources and paths, NUL in path parameters, bad JSON,
no key. Passes when no service's RSS grows by more than --max-growth-mb between the first
tenth of the load (allocators and caches warmed) and the end.

    uv run python -m bench.rejected                 # 100k per service (the soak)
    uv run python -m bench.rejected --requests 2000 # a smoke run

The in-process test of the same property, with exact counts instead of RSS, is
tests/integration/ingress/test_ingress_abuse.py::test_rejected_requests_leave_nothing_growing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from handoff.logs import configure_logging
from handoff.service import installed_services
from handoff_dev.ports import free_port
from handoff_dev.stack import DevStack

REPO = Path(__file__).resolve().parent.parent
SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldC0wMDE="


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


LEAD_ROUTE = {
    "scoring": "/v1/leads/{}/score",
    "routing": "/v1/leads/{}/handoff",
    "sla-watch": "/v1/leads/{}/sla",
}


def _post(path: str, host: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\n{host}{extra}content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


def ingress_junk(kind: int, word: str, host: str, key: str) -> bytes:
    """Rejected requests for ingress, which has no lead route: its webhooks and signals."""
    if kind == 0:  # unsigned webhook: 401, then 429 per address
        return _post("/v1/webhooks/standard", host, b'{"id": "e"}', f"webhook-id: {word}\r\n")
    if kind == 1:  # an unknown webhook source
        return _post(f"/v1/webhooks/{word}", host, b"{}")
    if kind == 2:  # a NUL in the source path parameter
        return _post(f"/v1/webhooks/{word}%00", host, b"{}")
    if kind == 3:  # malformed JSON with a valid key
        body = b'{"id": "' + word.encode() + b'"'
        return _post("/v1/signals", host, body, f"authorization: Bearer {key}\r\n")
    return _post("/v1/signals", host, b"{}", f"authorization: Bearer wrong-{word}\r\n")


def junk(service: str, n: int, port: int, key: str) -> bytes:
    """The n-th rejected request for a service: a different kind and fresh text each time."""
    word = f"{uuid.uuid4().hex}{n}"
    host = f"host: 127.0.0.1:{port}\r\n"
    kind = n % 5
    if service == "ingress":
        return ingress_junk(kind, word, host, key)
    if kind == 1:  # an unknown path
        return f"GET /v1/{word} HTTP/1.1\r\n{host}\r\n".encode()
    lead = LEAD_ROUTE.get(service, "/v1/leads/{}")  # insight, notify: no such route, 404
    if kind in (0, 2):  # a NUL in a path parameter
        path = lead.format(f"{word}%00")
        return f"GET {path} HTTP/1.1\r\n{host}authorization: Bearer {key}\r\n\r\n".encode()
    if kind == 3 and service == "sla-watch":  # a NUL in a query parameter
        path = f"/v1/sla/overdue?limit={word}%00"
        return f"GET {path} HTTP/1.1\r\n{host}authorization: Bearer {key}\r\n\r\n".encode()
    if kind == 3:  # malformed JSON with a valid key
        body = b'{"rep_id": "' + word.encode() + b'"'
        return _post(f"/v1/handoffs/{word}/accept", host, body, f"authorization: Bearer {key}\r\n")
    path = lead.format(word)  # no valid key
    return f"GET {path} HTTP/1.1\r\n{host}authorization: Bearer wrong-{word}\r\n\r\n".encode()


async def drive(
    service: str, port: int, key: str, count: int, on_tenth: asyncio.Event
) -> dict[int, int]:
    codes: dict[int, int] = {}
    cursor = [0]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while cursor[0] < count:
                n = cursor[0]
                cursor[0] += 1
                writer.write(junk(service, n, port, key))
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                codes[status] = codes.get(status, 0) + 1
                if n == count // 10:
                    on_tenth.set()
                if b"connection: close" in head.lower():
                    break
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(16)))
    return codes


async def measure(
    service: str, port: int, pid: int, key: str, count: int
) -> tuple[float, float, dict[int, int]]:
    tenth = asyncio.Event()
    task = asyncio.create_task(drive(service, port, key, count, tenth))
    await tenth.wait()
    warm = rss_mb(pid)
    codes = await task
    return warm, rss_mb(pid), codes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=100_000, help="per service")
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    data_dir = Path(tempfile.mkdtemp(prefix="handoff-rejected-"))
    stack = DevStack.from_env(data_dir, pg_port=free_port(), broker_port=free_port())
    stack.extra_env.update(
        {
            "HANDOFF_CONFIG_DIR": str(REPO / "config"),
            "HANDOFF_WEBHOOK_STANDARD_SECRET": SECRET,
            "HANDOFF_LOG_LEVEL": "warning",
        }
    )
    failed = []
    try:
        stack.start_infrastructure()
        stack.migrate()
        stack.create_topics()
        stack.ensure_api_key()
        # A free port for every installed service, never a default that `make run` may hold.
        stack.start_services(ports={spec.name: free_port() for spec in installed_services()})
        for name, proc in stack.services.items():
            assert proc.process is not None  # started above
            warm, end, codes = asyncio.run(
                measure(name, proc.port, proc.process.pid, stack.api_key, args.requests)
            )
            growth = end - warm
            bad = {c: n for c, n in codes.items() if c >= 500}
            print(
                f"{name}: {sum(codes.values()):,} rejected requests, RSS {warm:.1f} MB after a "
                f"tenth, {end:.1f} MB at the end ({growth:+.1f} MB); answers {dict(sorted(codes.items()))}",
                flush=True,
            )
            if growth > args.max_growth_mb or bad:
                failed.append(name)
    finally:
        for proc in stack.services.values():
            proc.stop()
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"load average: {os.getloadavg()[0]:.1f}")
    if failed:
        sys.exit(
            f"memory grew by more than {args.max_growth_mb} MB, or a 5xx, on: {', '.join(failed)}"
        )


if __name__ == "__main__":
    main()
