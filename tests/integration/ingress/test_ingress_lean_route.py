"""The lean webhook route and FastAPI's route answer alike: the same status, headers, problem+json
body and metric for good and bad requests, on the real PostgreSQL and broker; and the lean route
really serves the common request, and hands FastAPI the rest before reading the body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handoff.events import signals
from handoff_ingress.app import create_app
from handoff_ingress.domain.providers import standard
from handoff_ingress.entrypoints.lean_webhooks import LeanWebhooks
from handoff_ingress.settings import IngressSettings
from tests.factories import new_id
from tests.ingress_senders import (
    STANDARD_SECRET,
    hubspot_request,
    segment_request,
    standard_request,
)
from tests.integration.ingress.test_ingress_webhooks import env, ingress_file, make_app, signal
from tests.integration.kafka_helpers import collect

BASE = "http://ingress"
# HubSpot signs the URL it posts to; without public_url, verification reads the request's own.
HUBSPOT_DIRECT = """
  hubspot_direct:
    provider: hubspot
    secrets: [{env: HANDOFF_WEBHOOK_HUBSPOT_SECRET}]
    lead_id_prefix: "hubspot-"
    mapping:
      - event: e_visited_page
        activity: page_view
"""
Request = tuple[bytes, dict[str, str]]
# What may differ between two answers to the same question: nothing but these headers' presence.
COMPARED_HEADERS = ("content-type", "content-length", "retry-after", "connection")


@dataclass
class Doors:
    lean: httpx.AsyncClient
    plain: httpx.AsyncClient  # the same service with every webhook left to FastAPI
    lean_app: FastAPI
    bootstrap: str


@pytest.fixture(scope="module")
async def doors(
    database_url: str, bootstrap: str, config_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Doors]:
    path = ingress_file(config_dir, tmp_path_factory.mktemp("lean"))
    path.write_text(path.read_text() + HUBSPOT_DIRECT)
    settings: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "config_dir": config_dir,
    }
    variables = env(datetime.now(UTC) + timedelta(hours=1))
    lean = make_app(path, variables, **settings)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in variables.items():
            mp.setenv(k, v)
        plain = create_app(
            IngressSettings(HANDOFF_INGRESS_CONFIG_FILE=path, **settings), lean_webhooks=False
        )
    async with (
        lean.router.lifespan_context(lean),
        plain.router.lifespan_context(plain),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=lean), base_url=BASE) as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url=BASE) as b,
    ):
        yield Doors(a, b, lean, bootstrap)


def counted(source: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "handoff_webhook_requests_total", {"source": source, "outcome": outcome}
    )
    return value or 0.0


async def post(client: httpx.AsyncClient, source: str, request: Request) -> httpx.Response:
    body, headers = request
    return await client.post(f"/v1/webhooks/{source}", content=body, headers=headers)


def same_answer(lean: httpx.Response, plain: httpx.Response) -> None:
    assert lean.status_code == plain.status_code
    for name in COMPARED_HEADERS:
        assert lean.headers.get(name) == plain.headers.get(name), name
    assert lean.content == plain.content


async def both(
    doors: Doors, source: str, make: Callable[[], Request], outcome: str | None = None
) -> tuple[httpx.Response, httpx.Response]:
    """The same kind of request through each door (each its own, as ids must differ), the answers
    compared byte for byte; with `outcome`, each door counted it once under that outcome."""
    before = counted(source, outcome) if outcome else 0.0
    lean = await post(doors.lean, source, make())
    middle = counted(source, outcome) if outcome else 0.0
    plain = await post(doors.plain, source, make())
    if outcome:
        assert middle - before == 1 and counted(source, outcome) - middle == 1
    same_answer(lean, plain)
    return lean, plain


async def test_a_good_delivery_is_answered_alike_and_published_once_per_door(
    doors: Doors,
) -> None:
    lead = new_id("L")
    lean, _ = await both(
        doors, "standard", lambda: standard_request(signal(lead, "page_view")), "accepted"
    )
    assert lean.status_code == 202
    assert lean.json() == {"accepted": 1, "duplicate": False, "unmapped": 0}
    records = await collect(
        doors.bootstrap, signals.TOPIC, lambda rs: len(rs) >= 2, keys={lead.encode()}, within=20
    )
    assert len(records) == 2


async def test_a_retry_through_the_other_door_is_the_same_duplicate(doors: Doors) -> None:
    first = standard_request(signal(new_id(), "page_view"))
    second = standard_request(signal(new_id(), "page_view"))
    assert (await post(doors.lean, "standard", first)).status_code == 202
    assert (await post(doors.plain, "standard", second)).status_code == 202
    lean_again = await post(doors.lean, "standard", second)
    plain_again = await post(doors.plain, "standard", first)
    assert lean_again.status_code == 200 and lean_again.json()["duplicate"] is True
    same_answer(lean_again, plain_again)


async def test_a_bad_signature_is_the_same_401(doors: Doors) -> None:
    def forged() -> Request:
        body, headers = standard_request(signal(new_id(), "page_view"))
        return body, headers | {"webhook-signature": "v1,AAAA"}

    lean, _ = await both(doors, "standard", forged, "unverified")
    assert lean.status_code == 401
    assert lean.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("signed_for", "status"),
    [(f"{BASE}/v1/webhooks/hubspot_direct", 202), (f"{BASE}/v1/webhooks/elsewhere", 401)],
)
async def test_a_signature_over_the_request_url_is_checked_alike(
    doors: Doors, signed_for: str, status: int
) -> None:
    def make() -> Request:
        visit = {
            "eventId": int(time.time() * 1e6),
            "objectId": new_id("")[1:],
            "occurredAt": int(time.time() * 1000),
            "eventName": "e_visited_page",
            "properties": {"hs_url": "https://acme.example/blog"},
        }
        return hubspot_request([visit], signed_for)

    outcome = "accepted" if status == 202 else "unverified"
    lean, _ = await both(doors, "hubspot_direct", make, outcome)
    assert lean.status_code == status


async def test_an_unknown_source_is_the_same_404(doors: Doors) -> None:
    lean, _ = await both(doors, "zapier", lambda: standard_request(signal(new_id(), "page_view")))
    assert lean.status_code == 404


async def test_bad_json_is_the_same_422_naming_the_body(doors: Doors) -> None:
    lean, _ = await both(doors, "standard", lambda: standard_request_raw(b'{"id": "e", '))
    assert lean.status_code == 422 and lean.json()["errors"][0]["field"] == "body"


def standard_request_raw(body: bytes) -> Request:
    """A signed Standard Webhooks request whose body is exactly `body` (not JSON, for one)."""
    _, headers = standard_request("placeholder")
    key = standard.decode_secret(STANDARD_SECRET)
    stamp = headers["webhook-timestamp"]
    headers["webhook-signature"] = standard.sign(key, headers["webhook-id"], stamp, body)
    return body, headers


@pytest.mark.parametrize(
    ("drop", "kind", "field"),
    [("lead_id", "page_view", "lead_id"), ("traits", "identify", "traits")],
)
async def test_a_missing_field_is_the_same_422_naming_it(
    doors: Doors, drop: str, kind: str, field: str
) -> None:
    def make() -> Request:
        s = signal(new_id(), kind)
        s.pop(drop, None)
        return standard_request(s)

    lean, _ = await both(doors, "standard", make)
    assert lean.status_code == 422 and lean.json()["errors"][0]["field"] == field


async def test_a_provider_payload_error_is_the_same_422(doors: Doors) -> None:
    lean, _ = await both(
        doors,
        "segment",
        lambda: segment_request({"type": "track", "userId": "u", "event": "x"}),
    )
    assert lean.status_code == 422 and lean.json()["errors"][0]["field"] == "messageId"


async def test_a_body_too_large_is_the_same_413_declared_or_chunked(doors: Doors) -> None:
    big = {"signals": [signal(new_id(), "page_view", properties={"pad": "x" * 3000})]}
    lean, _ = await both(doors, "small", lambda: standard_request(big))
    assert lean.status_code == 413
    body, headers = standard_request(big)

    async def chunks() -> AsyncIterator[bytes]:
        for n in range(0, len(body), 500):
            yield body[n : n + 500]

    lean_chunked = await doors.lean.post("/v1/webhooks/small", content=chunks(), headers=headers)
    plain_chunked = await doors.plain.post("/v1/webhooks/small", content=chunks(), headers=headers)
    assert lean_chunked.status_code == 413
    same_answer(lean_chunked, plain_chunked)


async def test_a_source_over_its_rate_is_the_same_429_with_retry_after(doors: Doors) -> None:
    # Each app holds its own buckets (per process), so each door meets the limit on its third.
    def make() -> Request:
        return standard_request(signal(new_id(), "page_view"))

    lean = [await post(doors.lean, "limited", make()) for _ in range(3)]
    plain = [await post(doors.plain, "limited", make()) for _ in range(3)]
    assert [r.status_code for r in lean] == [202, 202, 429]
    for a, b in zip(lean, plain, strict=True):
        same_answer(a, b)
    assert int(lean[2].headers["retry-after"]) >= 1


class Refuse:
    """The app behind the lean route in these tests: records what reached it, answers 418."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def lean_only(doors: Doors, read_timeout: float = 10.0) -> tuple[ASGIApp, Refuse]:
    """The lean route in front of `Refuse` instead of FastAPI."""
    behind = Refuse()
    lean = LeanWebhooks(doors.lean_app.state, 2_000_000, read_timeout)

    async def front(scope: Scope, receive: Receive, send: Send) -> None:
        if not await lean.serve(scope, receive, send):
            await behind(scope, receive, send)

    return front, behind


async def test_the_lean_route_serves_a_common_delivery_without_fastapi(doors: Doors) -> None:
    lean, behind = lean_only(doors)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lean), base_url=BASE) as c:
        answer = await post(c, "standard", standard_request(signal(new_id(), "page_view")))
        assert answer.status_code == 202 and behind.paths == []
        await post(c, "zapier", standard_request({}))
        await c.post("/v1/webhooks/standard?x=1", content=b"{}")
        await c.get("/v1/webhooks/standard")
        await c.post("/v1/signals", content=b"{}")
    assert behind.paths == [
        "/v1/webhooks/zapier",
        "/v1/webhooks/standard",
        "/v1/webhooks/standard",
        "/v1/signals",
    ]


async def call(
    app: ASGIApp, receive: Callable[[], Awaitable[Message]], length: bytes = b"100"
) -> list[Message]:
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/webhooks/standard",
        "raw_path": b"/v1/webhooks/standard",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-length", length), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("ingress", 80),
        "scheme": "http",
        "http_version": "1.1",
    }
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_a_body_that_never_arrives_is_408_and_closes_the_connection(doors: Doors) -> None:
    lean, behind = lean_only(doors, read_timeout=0.2)

    async def never() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    sent = await asyncio.wait_for(call(lean, never), 5)
    assert sent[0]["status"] == 408 and behind.paths == []
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_a_caller_gone_mid_body_gets_no_answer_and_nothing_is_accepted(
    doors: Doors,
) -> None:
    lean, _ = lean_only(doors)
    before = counted("standard", "accepted")

    async def gone() -> Message:
        return {"type": "http.disconnect"}

    assert await call(lean, gone) == []
    assert counted("standard", "accepted") == before


@pytest.mark.parametrize("length", [b"\xb2", b"-1", b"", b"1e3"])
async def test_a_content_length_that_is_not_a_number_is_left_to_fastapi(
    doors: Doors, length: bytes
) -> None:
    lean, behind = lean_only(doors)

    async def body() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent = await call(lean, body, length)
    assert behind.paths == ["/v1/webhooks/standard"] and sent[0]["status"] == 418
