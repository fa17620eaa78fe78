"""Routing's HTTP API on the real app, database and broker: reads, actions and error answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.http.auth import new_api_key
from handoff_routing.app import create_app
from handoff_routing.handlers import handoff_id_for
from handoff_routing.settings import RoutingSettings
from tests.factories import mql, new_id
from tests.integration.test_routing_handler import route, team

JSON = {"content-type": "application/json"}


@dataclass
class Api:
    client: httpx.AsyncClient
    writer: dict[str, str]
    reader: dict[str, str]

    async def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(path, json=body, headers={**self.writer, **(headers or {})})


@pytest.fixture(scope="module")
async def api(database_url: str, bootstrap: str, config_dir: Path) -> AsyncIterator[Api]:
    writer_secret, writer = new_api_key("crm", ["handoffs:write", "read"])
    reader_secret, reader = new_api_key("dashboard", ["read"])
    settings = RoutingSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
        api_keys=[writer, reader],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            yield Api(
                client,
                {"authorization": f"Bearer {writer_secret}"},
                {"authorization": f"Bearer {reader_secret}"},
            )


async def assigned_lead(engine: AsyncEngine) -> tuple[str, str]:
    """A fresh lead handed to aiko.tanaka; returns (lead_id, handoff_id)."""
    lead = new_id()
    event = mql(lead)
    await route(engine, team(("aiko.tanaka", True)), [event])
    return lead, handoff_id_for(event.data.mql_id)


async def test_a_lead_s_handoff_and_its_decision_can_be_read(api: Api, engine: AsyncEngine) -> None:
    lead, handoff_id = await assigned_lead(engine)

    got = await api.client.get(f"/v1/leads/{lead}/handoff", headers=api.reader)
    assert got.status_code == 200
    body = got.json()
    assert body["handoff_id"] == handoff_id
    assert (body["state"], body["rep_id"], body["rule"]) == (
        "assigned",
        "aiko.tanaka",
        "default_pool",
    )

    trace = await api.client.get(f"/v1/handoffs/{handoff_id}/decision", headers=api.reader)
    assert trace.status_code == 200
    assert trace.json()["decision"][0]["candidates"] == [{"rep_id": "aiko.tanaka", "skipped": None}]


async def test_unknown_leads_and_handoffs_are_404_problems(api: Api) -> None:
    lead = await api.client.get(f"/v1/leads/{new_id()}/handoff", headers=api.reader)
    decision = await api.client.get("/v1/handoffs/nope/decision", headers=api.reader)
    accept = await api.post("/v1/handoffs/nope/accept", {"rep_id": "aiko.tanaka"})
    for response in (lead, decision, accept):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_assigned_rep_accepts_and_may_repeat_it(api: Api, engine: AsyncEngine) -> None:
    _, handoff_id = await assigned_lead(engine)
    first = await api.post(f"/v1/handoffs/{handoff_id}/accept", {"rep_id": "aiko.tanaka"})
    again = await api.post(f"/v1/handoffs/{handoff_id}/accept", {"rep_id": "aiko.tanaka"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["state"] == again.json()["state"] == "accepted"

    late = await api.post(
        f"/v1/handoffs/{handoff_id}/reject", {"rep_id": "aiko.tanaka", "reason_code": "no_budget"}
    )
    assert late.status_code == 409
    assert late.json()["state"] == "accepted"


async def test_another_rep_gets_a_409_naming_the_state(api: Api, engine: AsyncEngine) -> None:
    _, handoff_id = await assigned_lead(engine)
    response = await api.post(f"/v1/handoffs/{handoff_id}/accept", {"rep_id": "kenji.sato"})
    assert response.status_code == 409
    assert response.json()["state"] == "assigned"
    assert "another rep" in response.json()["detail"]


async def test_a_rejection_needs_a_known_reason_code(api: Api, engine: AsyncEngine) -> None:
    _, handoff_id = await assigned_lead(engine)
    path = f"/v1/handoffs/{handoff_id}/reject"
    wrong = await api.post(path, {"rep_id": "aiko.tanaka", "reason_code": "too_busy"})
    assert wrong.status_code == 422
    (error,) = wrong.json()["errors"]
    assert error["field"] == "reason_code"
    assert "known: not_decision_maker, no_budget" in error["message"]

    right = await api.post(
        path, {"rep_id": "aiko.tanaka", "reason_code": "not_now", "note": "4月以降"}
    )
    assert right.status_code == 200
    assert (right.json()["state"], right.json()["reason_code"]) == ("rejected", "not_now")


async def test_bad_requests_get_problems_not_500s(api: Api, engine: AsyncEngine) -> None:
    _, handoff_id = await assigned_lead(engine)
    path = f"/v1/handoffs/{handoff_id}/accept"

    unknown_field = await api.post(path, {"rep_id": "aiko.tanaka", "urgent": True})
    assert unknown_field.status_code == 422
    assert unknown_field.json()["errors"] == [{"field": "urgent", "message": "unknown field"}]

    missing = await api.post(path, {})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "rep_id"

    malformed = await api.client.post(path, content=b"{rep_id", headers={**api.writer, **JSON})
    assert malformed.status_code == 422

    not_json = await api.client.post(
        path, content=b"rep_id=a", headers={**api.writer, "content-type": "text/plain"}
    )
    assert not_json.status_code == 415


async def test_credentials_are_checked_before_the_body(api: Api, engine: AsyncEngine) -> None:
    _, handoff_id = await assigned_lead(engine)
    path = f"/v1/handoffs/{handoff_id}/accept"
    anonymous = await api.client.post(path, content=b"{broken", headers=JSON)
    read_only = await api.client.post(path, json={"rep_id": "aiko.tanaka"}, headers=api.reader)
    assert anonymous.status_code == 401
    assert read_only.status_code == 403


async def test_the_reason_codes_are_listed_with_japanese_labels(api: Api) -> None:
    response = await api.client.get("/v1/reason-codes", headers=api.reader)
    assert response.status_code == 200
    codes = {c["code"]: c for c in response.json()["reason_codes"]}
    assert len(codes) == 9
    assert codes["wrong_territory"]["label_ja"] == "担当外"
    assert codes["not_now"]["follow_up"] == "recycle"
