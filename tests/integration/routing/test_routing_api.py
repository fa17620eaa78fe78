"""Routing's HTTP API on the real app, database and broker: reads, actions and error answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.events.signals import Traits
from handoff.http.auth import new_api_key
from handoff.messaging.consumer import Inbound
from handoff_routing.app import create_app
from handoff_routing.entrypoints.deps import RoutingDeps
from handoff_routing.service_layer.handlers import RoutingHandler
from handoff_routing.service_layer.handoff_batch import handoff_id_for
from handoff_routing.settings import RoutingSettings
from tests.factories import mql, new_id
from tests.integration.routing.test_routing_handler import route, team

JSON = {"content-type": "application/json"}


@dataclass
class Api:
    client: httpx.AsyncClient
    writer: dict[str, str]
    reader: dict[str, str]
    admin: dict[str, str]
    app: Any

    async def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(path, json=body, headers={**self.writer, **(headers or {})})


@pytest.fixture(scope="module")
async def api(database_url: str, bootstrap: str, config_dir: Path) -> AsyncIterator[Api]:
    writer_secret, writer = new_api_key("crm", ["handoffs:write", "read"])
    reader_secret, reader = new_api_key("dashboard", ["read"])
    admin_secret, admin = new_api_key("sales-ops", ["admin"])
    settings = RoutingSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
        api_keys=[writer, reader, admin],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            yield Api(
                client,
                {"authorization": f"Bearer {writer_secret}"},
                {"authorization": f"Bearer {reader_secret}"},
                {"authorization": f"Bearer {admin_secret}"},
                app,
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


async def test_an_accepted_lead_is_contacted_and_dispositioned(
    api: Api, engine: AsyncEngine
) -> None:
    _, handoff_id = await assigned_lead(engine)
    path = f"/v1/handoffs/{handoff_id}"
    early = await api.post(f"{path}/contact", {"rep_id": "aiko.tanaka", "channel": "phone"})
    assert early.status_code == 409 and early.json()["state"] == "assigned"
    await api.post(f"{path}/accept", {"rep_id": "aiko.tanaka"})
    contacted = await api.post(f"{path}/contact", {"rep_id": "aiko.tanaka", "channel": "phone"})
    assert (contacted.status_code, contacted.json()["state"]) == (200, "contacted")
    bad = await api.post(f"{path}/disposition", {"rep_id": "aiko.tanaka", "outcome": "won"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "outcome"
    days = await api.post(
        f"{path}/disposition",
        {"rep_id": "aiko.tanaka", "outcome": "sql", "recycle_after_days": 30},
    )
    assert days.status_code == 422 and days.json()["errors"][0]["field"] == "recycle_after_days"
    done = await api.post(
        f"{path}/disposition",
        {"rep_id": "aiko.tanaka", "outcome": "recycle", "recycle_after_days": 30},
    )
    assert done.status_code == 200
    body = done.json()
    assert (body["state"], body["outcome"]) == ("dispositioned", "recycle")
    assert body["recycle_until"] is not None


async def test_an_action_by_a_rep_not_on_the_roster_is_a_422_naming_them(
    api: Api, engine: AsyncEngine
) -> None:
    _, handoff_id = await assigned_lead(engine)
    response = await api.post(f"/v1/handoffs/{handoff_id}/accept", {"rep_id": "nobody"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "rep_id", "message": "no rep 'nobody' on the roster"}
    ]


# Roster administration


async def test_the_roster_seeded_from_routing_yaml_is_listed_for_admins_only(api: Api) -> None:
    reps = await api.client.get("/v1/reps", headers=api.admin)
    assert reps.status_code == 200
    by_id = {r["id"]: r for r in reps.json()["reps"]}
    assert by_id["kenji.sato"]["weight"] == 2
    assert by_id["kenji.sato"]["managed_by"] == "config"
    pools = await api.client.get("/v1/pools/enterprise", headers=api.admin)
    assert pools.json()["strategy"] == "least_loaded"
    assert (await api.client.get("/v1/reps", headers=api.writer)).status_code == 403


async def test_a_rep_added_and_changed_through_the_api_is_stored_with_its_schedule(
    api: Api,
) -> None:
    rep_id = new_id("rep")
    body = {
        "name": "Ren Mori",
        "email": "ren.mori@example.co.jp",
        "team": "inside-sales-jp",
        "timezone": "Asia/Tokyo",
        "working_hours": {"days": ["mon", "tue"], "start": "09:00", "end": "17:00"},
    }
    put = await api.client.put(f"/v1/reps/{rep_id}", json=body, headers=api.admin)
    assert put.status_code == 200, put.text
    assert put.json()["managed_by"] == "api"
    away = {"from": "2026-12-28T00:00:00+09:00", "until": "2027-01-05T00:00:00+09:00"}
    patch = await api.client.patch(
        f"/v1/reps/{rep_id}", json={"active": False, "out_of_office": [away]}, headers=api.admin
    )
    assert patch.status_code == 200, patch.text
    got = (await api.client.get(f"/v1/reps/{rep_id}", headers=api.admin)).json()
    assert (got["active"], got["name"], got["out_of_office"][0]["from"]) == (
        False,
        "Ren Mori",
        "2026-12-28T00:00:00+09:00",
    )
    assert (await api.client.delete(f"/v1/reps/{rep_id}", headers=api.admin)).status_code == 204
    assert (await api.client.get(f"/v1/reps/{rep_id}", headers=api.admin)).status_code == 404


async def test_roster_mistakes_are_422s_and_409s_naming_what_is_wrong(api: Api) -> None:
    unknown_member = await api.client.put(
        "/v1/pools/night-shift", json={"members": ["aiko.tanaka", "ghost"]}, headers=api.admin
    )
    assert unknown_member.status_code == 422
    assert unknown_member.json()["errors"] == [{"field": "members.1", "message": "no rep 'ghost'"}]
    bad_weight = await api.client.patch(
        "/v1/reps/aiko.tanaka", json={"weight": 0}, headers=api.admin
    )
    assert bad_weight.status_code == 422 and bad_weight.json()["errors"][0]["field"] == "weight"
    owner = await api.client.put(
        "/v1/accounts/example.org", json={"name": "Ex", "owner": "ghost"}, headers=api.admin
    )
    assert owner.status_code == 422 and owner.json()["errors"][0]["field"] == "owner"
    in_rule = await api.client.delete("/v1/pools/jp-tokyo", headers=api.admin)
    assert in_rule.status_code == 409 and "rule 'tokyo'" in in_rule.json()["detail"]
    in_pool = await api.client.delete("/v1/reps/aiko.tanaka", headers=api.admin)
    assert in_pool.status_code == 409 and "pool" in in_pool.json()["detail"]
    wrong_id = await api.client.put(
        "/v1/reps/a",
        json={"id": "b", "name": "B", "email": "b@x.io", "team": "t"},
        headers=api.admin,
    )
    assert wrong_id.status_code == 422 and wrong_id.json()["errors"][0]["field"] == "id"
    missing = await api.client.delete("/v1/accounts/never.example", headers=api.admin)
    assert missing.status_code == 404


async def test_a_new_account_routes_the_next_lead_without_a_restart(api: Api) -> None:
    domain = f"{new_id('co').lower()}.example.jp"
    put = await api.client.put(
        f"/v1/accounts/{domain}",
        json={"name": "New Co", "owner": "emma.clark"},
        headers=api.admin,
    )
    assert put.status_code == 200, put.text
    try:
        deps: RoutingDeps = api.app.state.deps
        lead = new_id()
        event = mql(lead)
        traits = Traits.model_validate({"email": f"taro@sales.{domain}"})
        event = event.model_copy(update={"data": event.data.model_copy(update={"traits": traits})})
        async with deps.uow() as uow:
            await RoutingHandler(deps.routing)(uow, [Inbound(event, "t", 0, 0)])
            await uow.commit()
        got = await api.client.get(f"/v1/leads/{lead}/handoff", headers=api.reader)
        assert (got.json()["rule"], got.json()["rep_id"], got.json()["pool"]) == (
            "named-accounts",
            "emma.clark",
            f"account:{domain}",
        )
    finally:
        await api.client.delete(f"/v1/accounts/{domain}", headers=api.admin)
