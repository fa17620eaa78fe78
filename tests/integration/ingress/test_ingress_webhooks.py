"""Webhooks on the real app, PostgreSQL and broker: each provider to signals on the topic, dedupe
(also 50 copies at once), replay, one 401 for every failure, rotation, limits, broker down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from handoff.events import signals
from handoff.events.envelope import fact_id
from handoff_dev.broker import EmbeddedBroker
from handoff_dev.ports import free_port
from handoff_ingress.app import create_app
from handoff_ingress.settings import IngressSettings
from tests.factories import new_id
from tests.ingress_senders import (
    JSON,
    STANDARD_PREVIOUS,
    WEBHOOK_ENV,
    dumps,
    hubspot_request,
    marketo_request,
    segment_request,
    standard_request,
)
from tests.integration.kafka_helpers import collect

BASE = "http://ingress"
HUBSPOT_URL = f"{BASE}/v1/webhooks/hubspot"
EXTRA_SOURCES = """
  limited:
    provider: standard
    secrets: [{env: HANDOFF_WEBHOOK_STANDARD_SECRET}]
    rate_limit: {per_second: 0.01, burst: 2}
  small:
    provider: standard
    secrets: [{env: HANDOFF_WEBHOOK_STANDARD_SECRET}]
    max_body_bytes: 2048
"""
NOW = "2026-11-21T10:00:00Z"


def env(expires: datetime) -> dict[str, str]:
    return WEBHOOK_ENV | {
        "HANDOFF_WEBHOOK_HUBSPOT_URL": HUBSPOT_URL,
        "HANDOFF_WEBHOOK_STANDARD_SECRET_PREVIOUS": STANDARD_PREVIOUS,
        "HANDOFF_WEBHOOK_STANDARD_SECRET_PREVIOUS_EXPIRES_AT": expires.isoformat(),
    }


@dataclass
class Hooks:
    client: httpx.AsyncClient
    bootstrap: str

    async def post(self, source: str, request: tuple[bytes, dict[str, str]]) -> httpx.Response:
        body, headers = request
        return await self.client.post(f"/v1/webhooks/{source}", content=body, headers=headers)

    async def topic(self, lead: str, count: int) -> list[Any]:
        records = await collect(
            self.bootstrap,
            signals.TOPIC,
            lambda rs: len(rs) >= count,
            keys={lead.encode()},
            within=20,
        )
        return [signals.signal_adapter.validate_json(r.value) for r in records]


def ingress_file(config_dir: Path, folder: Path) -> Path:
    path = folder / "ingress.yaml"
    path.write_text((config_dir / "ingress.yaml").read_text() + EXTRA_SOURCES)
    return path


def make_app(path: Path, variables: dict[str, str], **settings: Any) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        for k, v in variables.items():
            mp.setenv(k, v)
        return create_app(IngressSettings(HANDOFF_INGRESS_CONFIG_FILE=path, **settings))


@pytest.fixture(scope="module")
def ingress_yaml(config_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingress_file(config_dir, tmp_path_factory.mktemp("ingress"))


@pytest.fixture(scope="module")
async def hooks(
    database_url: str, bootstrap: str, config_dir: Path, ingress_yaml: Path
) -> AsyncIterator[Hooks]:
    app = make_app(
        ingress_yaml,
        env(datetime.now(UTC) + timedelta(hours=1)),
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=20) as client:
            yield Hooks(client, bootstrap)


def signal(lead: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": new_id("e"), "lead_id": lead, "type": kind, "occurred_at": NOW, **extra}


async def test_a_standard_webhook_puts_its_signals_on_the_topic(hooks: Hooks) -> None:
    lead = new_id()
    batch = {
        "signals": [
            signal(lead, "identify", traits={"title": "CTO"}),
            signal(lead, "pricing_page_view"),
        ]
    }
    resp = await hooks.post("standard", standard_request(batch))
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 2, "duplicate": False, "unmapped": 0}
    events = await hooks.topic(lead, 2)
    assert [e.type for e in events] == ["handoff.signal.identify", "handoff.signal.activity"]
    assert {e.source for e in events} == {"/handoff/webhooks/standard"}
    assert [e.id for e in events] == [
        fact_id("/handoff/webhooks/standard", s["id"]) for s in batch["signals"]
    ]


async def test_each_provider_format_arrives_as_signals(hooks: Hooks) -> None:
    contact = str(int(time.time() * 1000))
    ms = int(time.time() * 1000)
    hubspot = [
        {"eventId": 1, "portalId": 62515, "subscriptionId": 9, "objectId": contact, "occurredAt": ms,
         "subscriptionType": "contact.propertyChange", "propertyName": "jobtitle", "propertyValue": "CTO"},
        {"eventId": 2, "portalId": 62515, "subscriptionId": 9, "objectId": contact, "occurredAt": ms,
         "eventName": "e_visited_page", "properties": {"hs_url": "https://acme.example/pricing"}},
    ]  # fmt: skip
    user = new_id("u")
    seg = {"batch": [
        {"type": "identify", "messageId": new_id("m"), "userId": user, "traits": {"email": "a@example.jp"}},
        {"type": "track", "messageId": new_id("m"), "userId": user, "event": "Demo Requested"},
    ]}  # fmt: skip
    mkto_lead = new_id("")[1:]
    mkto = {
        "lead_id": mkto_lead,
        "activity": "Fill Out Form",
        "activity_id": new_id("a"),
        "title": "部長",
    }

    assert (await hooks.post("hubspot", hubspot_request(hubspot, HUBSPOT_URL))).status_code == 202
    assert (await hooks.post("segment", segment_request(seg))).status_code == 202
    assert (await hooks.post("marketo", marketo_request(mkto))).status_code == 202

    hs = await hooks.topic(f"hubspot-{contact}", 2)
    assert [(e.type, e.source) for e in hs] == [
        ("handoff.signal.identify", "/handoff/webhooks/hubspot"),
        ("handoff.signal.activity", "/handoff/webhooks/hubspot"),
    ]
    assert hs[0].data.traits.title == "CTO" and hs[1].data.activity_type == "pricing_page_view"
    sg = await hooks.topic(user, 2)
    assert [getattr(e.data, "activity_type", "identify") for e in sg] == [
        "identify",
        "demo_request",
    ]
    mk = await hooks.topic(f"marketo-{mkto_lead}", 2)
    assert [getattr(e.data, "activity_type", "identify") for e in mk] == ["identify", "form_submit"]
    assert mk[1].data.source == "marketo"


async def test_a_retried_delivery_answers_200_and_has_no_second_effect(hooks: Hooks) -> None:
    lead = new_id()
    request = standard_request(signal(lead, "page_view"))
    first, second = await hooks.post("standard", request), await hooks.post("standard", request)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json() == {"accepted": 0, "duplicate": True, "unmapped": 0}
    # The same webhook-id signed again later (a retry) with another body is still the same delivery.
    body, headers = standard_request(signal(lead, "demo_request"), msg_id=request[1]["webhook-id"])
    assert (await hooks.post("standard", (body, headers))).status_code == 200
    await hooks.post("standard", standard_request(signal(lead, "email_open")))
    events = await hooks.topic(lead, 2)
    assert [e.data.activity_type for e in events] == ["page_view", "email_open"]


async def test_fifty_copies_at_once_publish_once(hooks: Hooks) -> None:
    lead = new_id()
    seg = {"type": "track", "messageId": new_id("m"), "userId": lead, "event": "Demo Requested"}
    request = segment_request(seg)
    answers = await asyncio.gather(*(hooks.post("segment", request) for _ in range(50)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 49 + [202]
    # A later signal of the same lead lands after every copy (same key, same partition).
    later = {"type": "track", "messageId": new_id("m"), "userId": lead, "event": "Email Opened"}
    assert (await hooks.post("segment", segment_request(later))).status_code == 202
    events = await hooks.topic(lead, 2)
    assert [e.data.activity_type for e in events] == ["demo_request", "email_open"]


async def test_copies_spread_over_two_instances_publish_once(
    hooks: Hooks, database_url: str, bootstrap: str, config_dir: Path, ingress_yaml: Path
) -> None:
    """Ingress keeps no state of its own beyond the shared claims table: behind a load
    balancer, a provider's copies landing on different instances still publish once."""
    second = make_app(
        ingress_yaml,
        env(datetime.now(UTC) + timedelta(hours=1)),
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
    )
    lead = new_id()
    request = standard_request(signal(lead, "demo_request"))
    async with second.router.lifespan_context(second):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=20) as other:

            async def post_to_second() -> httpx.Response:
                return await other.post(
                    "/v1/webhooks/standard", content=request[0], headers=request[1]
                )

            answers = await asyncio.gather(
                *(hooks.post("standard", request) for _ in range(10)),
                *(post_to_second() for _ in range(10)),
            )
    assert sorted(r.status_code for r in answers) == [200] * 19 + [202]
    later = standard_request(signal(lead, "email_open"))
    assert (await hooks.post("standard", later)).status_code == 202
    events = await hooks.topic(lead, 2)
    assert [e.data.activity_type for e in events] == ["demo_request", "email_open"]


async def test_a_message_repeated_inside_one_batch_counts_once(hooks: Hooks) -> None:
    lead = new_id()
    message = {"type": "track", "messageId": new_id("m"), "userId": lead, "event": "Email Opened"}
    resp = await hooks.post("segment", segment_request({"batch": [message, message]}))
    assert resp.status_code == 202 and resp.json()["accepted"] == 1


# Well past the 5 minutes: a loaded machine may take seconds between signing and checking.
# The exact boundary is tested with a fixed clock in the unit tests.
@pytest.mark.parametrize("skew", [-400, 400])
async def test_an_old_or_future_timestamp_is_refused(hooks: Hooks, skew: int) -> None:
    request = standard_request(signal(new_id(), "page_view"), at=time.time() + skew)
    assert (await hooks.post("standard", request)).status_code == 401


async def test_every_verification_failure_gets_the_same_401(hooks: Hooks) -> None:
    body, good = standard_request(signal(new_id(), "page_view"))
    variants = [
        {"content-type": "application/json"},
        good | {"webhook-signature": "v1,AAAA"},
        good | {"webhook-timestamp": str(int(time.time()) - 3600)},
        good | {"webhook-timestamp": "soon"},
        good | {"webhook-id": "msg_other"},
        standard_request(
            signal(new_id(), "page_view"), secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
        )[1],
    ]
    answers = [
        await hooks.client.post("/v1/webhooks/standard", content=body, headers=h) for h in variants
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.content for r in answers}) == 1
    assert answers[0].headers["content-type"] == "application/problem+json"
    hs_body = dumps([{"eventId": 1}])
    v1 = JSON | {"x-hubspot-signature": "0" * 64, "x-hubspot-signature-version": "v1"}
    hubspot = await hooks.client.post("/v1/webhooks/hubspot", content=hs_body, headers=v1)
    marketo = await hooks.post(
        "marketo", marketo_request({"lead_id": "1"}, token="wrong-token-xxxxxxxx")
    )
    assert hubspot.status_code == marketo.status_code == 401
    assert hubspot.json()["detail"] == marketo.json()["detail"] == answers[0].json()["detail"]


async def test_the_old_and_new_secret_both_verify_during_rotation(hooks: Hooks) -> None:
    lead = new_id()
    old = standard_request(signal(lead, "page_view"), secret=STANDARD_PREVIOUS)
    new = standard_request(signal(lead, "page_view"))
    both_body, both = standard_request(signal(lead, "page_view"))
    old_sig = standard_request(
        {}, msg_id=both["webhook-id"], secret=STANDARD_PREVIOUS, at=int(both["webhook-timestamp"])
    )[1]["webhook-signature"]
    both["webhook-signature"] = f"{old_sig} {both['webhook-signature']}"
    for request in (old, new, (both_body, both)):
        assert (await hooks.post("standard", request)).status_code == 202


async def test_an_expired_secret_no_longer_verifies(
    database_url: str, bootstrap: str, config_dir: Path, ingress_yaml: Path
) -> None:
    app = make_app(
        ingress_yaml,
        env(datetime.now(UTC) - timedelta(seconds=1)),
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE) as c,
    ):
        body, headers = standard_request(signal(new_id(), "page_view"), secret=STANDARD_PREVIOUS)
        resp = await c.post("/v1/webhooks/standard", content=body, headers=headers)
    assert resp.status_code == 401


async def test_a_body_too_large_is_413_declared_or_chunked(hooks: Hooks) -> None:
    big = {"signals": [signal(new_id(), "page_view", properties={"pad": "x" * 3000})]}
    body, headers = standard_request(big)
    declared = await hooks.client.post("/v1/webhooks/small", content=body, headers=headers)

    async def chunks() -> AsyncIterator[bytes]:
        for n in range(0, len(body), 500):
            yield body[n : n + 500]

    chunked = await hooks.client.post("/v1/webhooks/small", content=chunks(), headers=headers)
    assert declared.status_code == chunked.status_code == 413
    assert "content-length" not in chunked.request.headers
    assert chunked.headers["content-type"] == "application/problem+json"


async def test_a_source_over_its_rate_gets_429_with_retry_after(hooks: Hooks) -> None:
    answers = [
        await hooks.post("limited", standard_request(signal(new_id(), "page_view")))
        for _ in range(3)
    ]
    assert [r.status_code for r in answers] == [202, 202, 429]
    assert int(answers[2].headers["retry-after"]) >= 1


async def test_an_unknown_or_unconfigured_source_is_404(hooks: Hooks) -> None:
    assert (await hooks.post("zapier", standard_request({}))).status_code == 404


async def test_bad_payloads_get_422_naming_the_field(hooks: Hooks) -> None:
    seg = await hooks.post(
        "segment", segment_request({"type": "track", "userId": "u", "event": "x"})
    )
    assert seg.status_code == 422 and seg.json()["errors"][0]["field"] == "messageId"
    extra = signal(new_id(), "page_view") | {"colour": "green"}
    std = await hooks.post("standard", standard_request(extra))
    assert std.status_code == 422 and std.json()["errors"][0]["field"] == "colour"
    hs = await hooks.post("hubspot", hubspot_request("hello", HUBSPOT_URL))
    assert hs.status_code == 422 and hs.json()["errors"][0]["field"] == "body"


async def test_unmapped_events_are_counted_not_refused(hooks: Hooks) -> None:
    seg = {"type": "track", "messageId": new_id("m"), "userId": new_id(), "event": "Cart Viewed"}
    first = await hooks.post("segment", segment_request(seg))
    again = await hooks.post("segment", segment_request(seg))
    assert (first.status_code, first.json()) == (
        202,
        {"accepted": 0, "duplicate": False, "unmapped": 1},
    )
    assert again.status_code == 200
    metrics = (await hooks.client.get("/metrics")).text
    assert 'handoff_webhook_unmapped_events_total{source="segment"}' in metrics


@pytest.fixture
def doomed_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_broker_down_is_503_and_the_retry_is_not_taken_for_a_duplicate(
    hooks: Hooks,
    doomed_broker: EmbeddedBroker,
    database_url: str,
    config_dir: Path,
    ingress_yaml: Path,
) -> None:
    app = make_app(
        ingress_yaml,
        env(datetime.now(UTC) + timedelta(hours=1)),
        database_url=database_url,
        kafka_bootstrap_servers=doomed_broker.bootstrap,
        config_dir=config_dir,
        HANDOFF_INGRESS_PUBLISH_TIMEOUT_SECONDS=1.0,
        kafka_request_timeout_ms=1000,
    )
    lead = new_id()
    request = standard_request(signal(lead, "demo_request"))
    async with app.router.lifespan_context(app):
        doomed_broker.stop()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
            down = await c.post("/v1/webhooks/standard", content=request[0], headers=request[1])
    assert down.status_code == 503 and int(down.headers["retry-after"]) >= 1
    retry = await hooks.post("standard", request)
    assert retry.status_code == 202 and retry.json()["accepted"] == 1
    assert [e.data.activity_type for e in await hooks.topic(lead, 1)] == ["demo_request"]


async def test_database_down_is_503_and_nothing_is_published(
    bootstrap: str, config_dir: Path, ingress_yaml: Path, hooks: Hooks
) -> None:
    app = make_app(
        ingress_yaml,
        env(datetime.now(UTC) + timedelta(hours=1)),
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres",
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
    )
    lead = new_id()
    request = standard_request(signal(lead, "demo_request"))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE) as c,
    ):
        down = await c.post("/v1/webhooks/standard", content=request[0], headers=request[1])
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert "database" in down.json()["detail"]
    retry = await hooks.post("standard", request)
    assert retry.status_code == 202
    assert [e.data.activity_type for e in await hooks.topic(lead, 1)] == ["demo_request"]
