"""Bad input to POST /v1/signals gets the 4xx of CONTRACT.md as problem+json naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from handoff.http.auth import KeyRing, new_api_key
from handoff_ingress.settings import IngressSettings
from tests.ingress_senders import offline_ingress

REPO = Path(__file__).resolve().parents[3]
WRITER, WRITER_RECORD = new_api_key("writer", ["signals:write"])
READER, READER_RECORD = new_api_key("reader", ["read"])
GOOD = {"id": "e1", "lead_id": "L-1", "type": "page_view", "occurred_at": "2026-11-21T10:00:00Z"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = IngressSettings(config_dir=REPO / "config", max_body_bytes=200_000)
    app, _ = offline_ingress(settings)  # no lifespan: nothing reaches a broker
    app.state.keyring = KeyRing([WRITER_RECORD, READER_RECORD])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://ingress"
    ) as c:
        yield c


def auth(key: str = WRITER) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def post(client: httpx.AsyncClient, body: object, key: str = WRITER) -> httpx.Response:
    return await client.post("/v1/signals", json=body, headers=auth(key))


def assert_problem(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = resp.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def fields(body: dict[str, object]) -> list[str]:
    errors = body["errors"]
    assert isinstance(errors, list)
    return [e["field"] for e in errors]


async def test_a_missing_key_and_a_wrong_key_get_the_same_401(client: httpx.AsyncClient) -> None:
    missing = assert_problem(await client.post("/v1/signals", json=GOOD), 401)
    wrong = assert_problem(await post(client, GOOD, key="hk_x_not-a-key"), 401)
    assert missing["detail"] == wrong["detail"]


async def test_a_key_without_the_scope_gets_403(client: httpx.AsyncClient) -> None:
    assert_problem(await post(client, GOOD, key=READER), 403)


async def test_malformed_json_is_422_naming_the_body(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/signals",
        content=b'{"id": "e1",',
        headers={**auth(), "content-type": "application/json"},
    )
    assert fields(assert_problem(resp, 422)) == ["body"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-21T10:00:00"}, "occurred_at"),  # no time zone
        ({"lead_id": 42}, "lead_id"),
        ({"type": "Page View"}, "type"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_an_invalid_signal_is_422_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, object], field: str
) -> None:
    body = assert_problem(await post(client, {**GOOD, **change}), 422)
    assert field in fields(body)


async def test_a_missing_lead_id_is_named(client: httpx.AsyncClient) -> None:
    signal = {k: v for k, v in GOOD.items() if k != "lead_id"}
    assert fields(assert_problem(await post(client, signal), 422)) == ["lead_id"]


async def test_an_error_in_a_batch_names_its_position(client: httpx.AsyncClient) -> None:
    batch = {"signals": [GOOD, GOOD, {**GOOD, "lead_id": ""}]}
    assert fields(assert_problem(await post(client, batch), 422)) == ["signals.2.lead_id"]


async def test_an_identify_without_traits_is_422(client: httpx.AsyncClient) -> None:
    body = assert_problem(await post(client, {**GOOD, "type": "identify"}), 422)
    assert fields(body) == ["traits"]


async def test_a_batch_over_1000_is_422(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/signals", json={"signals": [GOOD] * 1001}, headers=auth())
    assert fields(assert_problem(resp, 422)) == ["signals"]


async def test_a_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    assert_problem(await post(client, {**GOOD, "properties": {"x": "a" * 200_001}}), 413)


async def test_a_chunked_oversized_body_without_content_length_is_413(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"id": "e1", "lead_id": "L-1", "type": "page_view", "properties": {"x": "'
        for _ in range(201):
            yield b"a" * 1000
        yield b'"}}'

    resp = await client.post(
        "/v1/signals", content=chunks(), headers={**auth(), "content-type": "application/json"}
    )
    assert "content-length" not in resp.request.headers
    assert_problem(resp, 413)


async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/signals", content=b"id=1", headers={**auth(), "content-type": "text/plain"}
    )
    assert_problem(resp, 415)


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here", headers=auth()), 404)
