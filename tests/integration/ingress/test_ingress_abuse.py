"""Webhooks under abuse on the real app, PostgreSQL and broker: a flood of unsigned junk never
starves a genuine sender, signals dated in the future are answered 202 but dropped and counted,
and what the app keeps per rejected request stays bounded."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from handoff_ingress.entrypoints.deps import IngressDeps
from handoff_ingress.service_layer.webhooks import Webhooks
from tests.factories import new_id
from tests.ingress_senders import JSON, dumps, segment_request, standard_request
from tests.integration.ingress.test_ingress_webhooks import BASE, env, make_app, signal

GUARDED = """
  guarded:
    provider: standard
    secrets: [{env: HANDOFF_WEBHOOK_STANDARD_SECRET}]
    rate_limit: {per_second: 1, burst: 10}
unverified_max_addresses: 50
"""


@pytest.fixture(scope="module")
async def app(
    database_url: str, bootstrap: str, config_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    path = tmp_path_factory.mktemp("abuse") / "ingress.yaml"
    path.write_text((config_dir / "ingress.yaml").read_text() + GUARDED)
    application = make_app(
        path,
        env(datetime.now(UTC) + timedelta(hours=1)),
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
    )
    async with application.router.lifespan_context(application):
        yield application


def client(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30)


def ingress(app: FastAPI) -> Webhooks:
    deps: IngressDeps = app.state.deps
    return deps.webhooks


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_flood_of_unsigned_junk_never_gets_a_genuine_sender_429(app: FastAPI) -> None:
    junk_body = dumps(signal(new_id(), "page_view"))
    junk_headers = JSON | {"webhook-id": "msg_junk", "webhook-timestamp": str(int(time.time()))}
    async with client(app) as c:

        async def junk() -> int:
            resp = await c.post("/v1/webhooks/guarded", content=junk_body, headers=junk_headers)
            return resp.status_code

        async def genuine() -> int:
            body, headers = standard_request(signal(new_id(), "page_view"))
            resp = await c.post("/v1/webhooks/guarded", content=body, headers=headers)
            return resp.status_code

        # The junk comes first and keeps coming while the genuine sender sends (same address:
        # a limit per address alone would not protect it). The source's burst is 10.
        first = await asyncio.gather(*(junk() for _ in range(60)))
        mixed = await asyncio.gather(*(genuine() if n % 10 == 0 else junk() for n in range(100)))
    genuine_codes = [code for n, code in enumerate(mixed) if n % 10 == 0]
    junk_codes = first + [code for n, code in enumerate(mixed) if n % 10]
    assert genuine_codes == [202] * 10
    assert set(junk_codes) <= {401, 429} and 429 in junk_codes  # its own limit, not the source's


async def test_a_future_dated_webhook_signal_is_202_dropped_and_counted(app: FastAPI) -> None:
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    before = metric("handoff_webhook_future_events_dropped_total", source="standard")
    batch = {
        "signals": [
            signal(new_id(), "page_view", occurred_at=ahead),
            signal(new_id(), "page_view", occurred_at=datetime.now(UTC).isoformat()),
        ]
    }
    async with client(app) as c:
        body, headers = standard_request(batch)
        resp = await c.post("/v1/webhooks/standard", content=body, headers=headers)
        seg_before = metric("handoff_webhook_future_events_dropped_total", source="segment")
        message = {
            "type": "track",
            "messageId": new_id("m"),
            "userId": new_id(),
            "event": "Demo Requested",
            "timestamp": ahead,
        }
        seg = await c.post("/v1/webhooks/segment", content=segment_request(message)[0],
                           headers=segment_request(message)[1])  # fmt: skip
    assert resp.status_code == 202 and resp.json()["accepted"] == 1
    assert metric("handoff_webhook_future_events_dropped_total", source="standard") == before + 1
    assert seg.status_code == 202 and seg.json()["accepted"] == 0
    assert metric("handoff_webhook_future_events_dropped_total", source="segment") == seg_before + 1


def _samples() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series the registry exposes, by name and labels (not values)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))) for m in REGISTRY.collect() for s in m.samples
    }


async def _reject_many(app: FastAPI, count: int, seed: int, words: set[str]) -> list[int]:
    """Rejected requests of every kind, from many addresses, to arbitrary paths and sources;
    `words` collects the caller-chosen text sent (addresses, path parts, source names)."""
    rng = random.Random(seed)
    codes: list[int] = []
    for batch in range(count // 20):
        address = f"10.{seed}.{batch // 256}.{batch % 256}"
        words.add(address)
        async with client(app, address) as c:
            for n in range(20):
                kind = n % 5
                word = f"{rng.getrandbits(64):x}"
                words.add(word)
                if kind == 0:  # unsigned: 401, then 429 from this address
                    resp = await c.post(
                        "/v1/webhooks/standard", content=b"{}", headers=JSON | {"webhook-id": word}
                    )
                elif kind == 1:  # a source that does not exist
                    resp = await c.post(f"/v1/webhooks/{word}", content=b"{}", headers=JSON)
                elif kind == 2:  # a path that does not exist
                    resp = await c.get(f"/v1/{word}/{word}")
                elif kind == 3:  # a NUL in a path parameter
                    resp = await c.get(f"/v1/leads/{word}%00/score")
                else:  # no key
                    resp = await c.post("/v1/signals", content=b"{}", headers=JSON)
                codes.append(resp.status_code)
    return codes


async def test_rejected_requests_leave_nothing_growing(app: FastAPI) -> None:
    # A first round creates every label set the rejections use (per configured source).
    words: set[str] = set()
    warm = await _reject_many(app, 500, seed=1, words=words)
    webhook_series, limiter = _webhook_series(), ingress(app).unverified
    codes = await _reject_many(app, 3000, seed=2, words=words)
    assert set(warm + codes) <= {401, 404, 422, 429}
    assert len(limiter) == 50  # 3000 requests from 150 addresses: the cap holds
    assert _webhook_series() == webhook_series
    labels = {v for _, items in _samples() for _, v in items}
    assert not labels & words  # no metric label from a path, source name or address
    assert ingress(app).desk._queue.empty()


def _webhook_series() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {s for s in _samples() if s[0].startswith("handoff_webhook")}
