"""Bad input on every service's shared HTTP layer, in process without a database or broker:
NUL and overlong path parameters, deeply nested JSON, short bodies (408), oversized records
(413), values no consumer could store, and signals dated in the future. Never a 5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from handoff.http.auth import KeyRing, new_api_key
from handoff.http.limits import BodyLimit
from handoff.http.problem import install_problem_handlers
from handoff_ingress.settings import IngressSettings
from handoff_routing.app import create_app as routing_app
from handoff_routing.settings import RoutingSettings
from handoff_scoring.app import create_app as scoring_app
from handoff_scoring.settings import ScoringSettings
from handoff_sla_watch.app import create_app as sla_app
from handoff_sla_watch.settings import SlaSettings
from tests.ingress_senders import offline_ingress

REPO = Path(__file__).resolve().parents[3]
ADMIN, ADMIN_RECORD = new_api_key("admin", ["admin"])
AUTH = {"Authorization": f"Bearer {ADMIN}"}
DEEP = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000


def signal(**over: Any) -> dict[str, Any]:
    return {
        "id": "e1",
        "lead_id": "L-1",
        "type": "page_view",
        "occurred_at": "2026-11-21T10:00:00Z",
    } | over


def _client(app: FastAPI, host: str) -> httpx.AsyncClient:
    app.state.keyring = KeyRing([ADMIN_RECORD])
    app.state.runtime = SimpleNamespace(state={})  # no lifespan: no broker, no database
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=f"http://{host}")


@pytest.fixture
async def scoring() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(scoring_app(ScoringSettings(config_dir=REPO / "config")), "scoring") as c:
        yield c


@pytest.fixture
async def ingress() -> AsyncIterator[httpx.AsyncClient]:
    app, _ = offline_ingress(IngressSettings(config_dir=REPO / "config"))
    async with _client(app, "ingress") as c:
        yield c


@pytest.fixture
async def routing() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(routing_app(RoutingSettings(config_dir=REPO / "config")), "routing") as c:
        yield c


@pytest.fixture
async def sla() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(sla_app(SlaSettings(config_dir=REPO / "config")), "sla") as c:
        yield c


def assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["detail"]
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["errors"]]


BY_ID = {
    "scoring": ["/v1/leads/{}/score"],
    "routing": [
        "/v1/leads/{}/handoff",
        "/v1/handoffs/{}/decision",
        "/v1/reps/{}",
        "/v1/pools/{}",
        "/v1/accounts/{}",
    ],
    "sla": ["/v1/leads/{}/sla"],
}


async def test_a_nul_in_any_path_parameter_is_422_naming_it(
    scoring: httpx.AsyncClient, routing: httpx.AsyncClient, sla: httpx.AsyncClient
) -> None:
    clients = {"scoring": scoring, "routing": routing, "sla": sla}
    for service, route in [(s, r) for s, routes in BY_ID.items() for r in routes]:
        client = clients[service]
        body = assert_problem(await client.get(route.format("%00"), headers=AUTH), 422)
        assert len(body["errors"]) == 1 and "NUL" in body["errors"][0]["message"]
        assert body["errors"][0]["field"] in {"lead_id", "handoff_id", "rep_id", "name", "domain"}
        long = assert_problem(await client.get(route.format("x" * 10_000), headers=AUTH), 422)
        assert "longer than" in long["errors"][0]["message"]


async def test_a_nul_in_a_query_parameter_is_422_naming_it(sla: httpx.AsyncClient) -> None:
    body = assert_problem(await sla.get("/v1/sla/overdue?limit=%00", headers=AUTH), 422)
    assert fields(body) == ["limit"]


@pytest.mark.parametrize("deep", [DEEP, DEEP_OBJECT])
async def test_deeply_nested_json_is_422_on_signals_and_routing_bodies(
    ingress: httpx.AsyncClient, routing: httpx.AsyncClient, deep: bytes
) -> None:
    headers = AUTH | {"content-type": "application/json"}
    assert_problem(await ingress.post("/v1/signals", content=deep, headers=headers), 422)
    for route in ("accept", "reject", "contact", "disposition"):
        resp = await routing.post(f"/v1/handoffs/h-1/{route}", content=deep, headers=headers)
        assert fields(assert_problem(resp, 422)) == ["body"]
    resp = await routing.put("/v1/reps/r-1", content=deep, headers=headers)
    assert_problem(resp, 422)


async def test_nesting_inside_a_property_is_bounded_below_the_consumers_reader(
    ingress: httpx.AsyncClient,
) -> None:
    nested: Any = 1
    for _ in range(60):
        nested = {"a": nested}
    body = assert_problem(
        await ingress.post("/v1/signals", json=signal(properties={"p": nested}), headers=AUTH), 422
    )
    assert fields(body)[0].startswith("properties.p.a")
    assert "nested deeper" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lead_id": "L\u0000x"}, "lead_id"),
        ({"id": "e\u0000"}, "id"),
        ({"source": "crm\u0000"}, "source"),
        ({"properties": {"url": "/a\u0000b"}}, "properties.url"),
        ({"properties": {"k\u0000": 1}}, "properties"),
        ({"traits": {"email": "a\u0000@example.com"}}, "traits.email"),
        ({"type": "alias", "previous_id": "anon\u0000"}, "previous_id"),
        ({"lead_id": "L" * 10_000}, "lead_id"),
        ({"id": "e" * 10_000}, "id"),
        ({"properties": {"n": 2**64}}, "properties.n"),
        ({"properties": {"n": -(2**63) - 1}}, "properties.n"),
        ({"traits": {"company": {"size": 2**70}}}, "traits.company.size"),
        ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59-14:00"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59Z"}, "occurred_at"),
    ],
)
async def test_values_no_consumer_could_store_are_422_naming_the_field(
    ingress: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    resp = await ingress.post("/v1/signals", json=signal(**change), headers=AUTH)
    assert field in fields(assert_problem(resp, 422))


async def test_invalid_utf8_and_lone_surrogates_are_422(ingress: httpx.AsyncClient) -> None:
    headers = AUTH | {"content-type": "application/json"}
    raw = json.dumps(signal()).encode().replace(b"L-1", b"L-\xff\xfe")
    assert_problem(await ingress.post("/v1/signals", content=raw, headers=headers), 422)
    lone = json.dumps(signal()).encode().replace(b"L-1", b"L-\\ud800")
    assert_problem(await ingress.post("/v1/signals", content=lone, headers=headers), 422)


async def test_a_signal_dated_in_the_future_is_422_naming_occurred_at(
    ingress: httpx.AsyncClient,
) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    one = assert_problem(
        await ingress.post("/v1/signals", json=signal(occurred_at=ahead), headers=AUTH), 422
    )
    assert fields(one) == ["occurred_at"] and "300 seconds" in one["errors"][0]["message"]
    batch = {"signals": [signal(id="a"), signal(id="b", occurred_at=ahead)]}
    many = assert_problem(await ingress.post("/v1/signals", json=batch, headers=AUTH), 422)
    assert fields(many) == ["signals.1.occurred_at"]


async def test_the_future_bound_is_a_setting() -> None:
    settings = IngressSettings(
        config_dir=REPO / "config",
        HANDOFF_SIGNAL_MAX_FUTURE_SECONDS=3600,
    )
    ahead = (datetime.now(UTC) + timedelta(minutes=50)).isoformat()
    refused = (datetime.now(UTC) + timedelta(minutes=70)).isoformat()
    app, producer = offline_ingress(settings)
    async with _client(app, "ingress") as client:
        # Within the bound the signal passes every check and is published (to a recorder here).
        resp = await client.post("/v1/signals", json=signal(occurred_at=ahead), headers=AUTH)
        assert resp.status_code == 202 and resp.json() == {"accepted": 1}
        assert [m.key for m in producer.sent] == [b"L-1"]
        resp = await client.post("/v1/signals", json=signal(occurred_at=refused), headers=AUTH)
        assert "3600 seconds" in assert_problem(resp, 422)["errors"][0]["message"]
        assert len(producer.sent) == 1


async def test_a_signal_larger_than_the_producer_takes_is_413_naming_the_field(
    ingress: httpx.AsyncClient,
) -> None:
    big = signal(properties={"blob": "x" * 1_500_000})
    body = assert_problem(await ingress.post("/v1/signals", json=big, headers=AUTH), 413)
    assert fields(body) == ["properties"] and "1048576" in body["errors"][0]["message"]
    traits = {"signals": [signal(), signal(id="e2", traits={"bio": "y" * 1_200_000})]}
    body = assert_problem(await ingress.post("/v1/signals", json=traits, headers=AUTH), 413)
    assert fields(body) == ["signals.1.traits"]


def _echo_app(read_timeout: float) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=10_000, read_timeout=read_timeout)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


async def _call(app: FastAPI, receive: Callable[[], Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "headers": [(b"content-length", b"100"), (b"content-type", b"application/json")],
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "root_path": "",
    }
    await asyncio.wait_for(app(scope, receive, send), 5)
    return sent


async def test_a_body_shorter_than_its_content_length_gets_408_and_close() -> None:
    chunks = [{"type": "http.request", "body": b"{", "more_body": True}]

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # the rest of the declared body never comes
        raise AssertionError("unreachable")

    sent = await _call(_echo_app(read_timeout=0.2), receive)
    assert sent[0]["status"] == 408
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"connection"] == b"close"


async def test_a_body_trickled_past_the_deadline_gets_408() -> None:
    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.05)  # each chunk in time, the whole body not
        return {"type": "http.request", "body": b" ", "more_body": True}

    sent = await _call(_echo_app(read_timeout=0.3), receive)
    assert sent[0]["status"] == 408


async def test_a_complete_body_is_not_bound_by_the_deadline_afterwards() -> None:
    chunks = [{"type": "http.request", "body": b"x" * 100, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop()

    sent = await _call(_echo_app(read_timeout=0.2), receive)
    assert sent[0]["status"] == 200
