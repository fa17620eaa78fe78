"""Erasing a lead on real PostgreSQL and the real broker: scoring's DELETE, the erased event on
handoff.scoring.v1, and routing blanking its part when it consumes that event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWorkFactory
from handoff.events import scoring, signals
from handoff.events.envelope import utcnow
from handoff.http.auth import new_api_key
from handoff_routing.domain.handoff import Action, RepAction
from handoff_routing.service_layer.handoff_batch import handoff_id_for
from handoff_scoring.adapters.events_out import erased_event
from handoff_scoring.app import create_app
from handoff_scoring.domain.lead import epoch_seconds
from handoff_scoring.service_layer.erasure import erase_lead
from handoff_scoring.settings import ScoringSettings
from tests.factories import T0, activity, identify, mql, new_id
from tests.integration.kafka_helpers import collect
from tests.integration.routing.test_routing_handler import act, route, team
from tests.integration.scoring.test_scoring_handler import MODEL, apply, mqls_for, stored

CANARY_EMAIL = "kanari.7f3a@example.invalid"
CANARY_NAME = "Kanari Tori 7f3a"
CANARY_NOTE = "call Kanari on +81-3-7f3a"
CANARIES = (CANARY_EMAIL, CANARY_NAME, CANARY_NOTE, "7f3a")


@dataclass
class Api:
    client: httpx.AsyncClient
    admin: dict[str, str]
    reader: dict[str, str]


@pytest.fixture(scope="module")
async def api(database_url: str, bootstrap: str, config_dir: Path) -> AsyncIterator[Api]:
    admin_secret, admin = new_api_key("privacy-officer", ["admin"])
    reader_secret, reader = new_api_key("dashboard", ["read", "signals:write"])
    settings = ScoringSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        config_dir=config_dir,
        api_keys=[admin, reader],
        outbox_poll_seconds=0.2,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            yield Api(
                client,
                {"authorization": f"Bearer {admin_secret}"},
                {"authorization": f"Bearer {reader_secret}"},
            )


def alias(lead_id: str, previous_id: str) -> signals.AliasSignal:
    return signals.AliasSignal(
        id=new_id("evt"),
        source="/tests",
        subject=lead_id,
        data=signals.AliasData(lead_id=lead_id, previous_id=previous_id, occurred_at=T0),
    )


async def a_known_mql(engine: AsyncEngine) -> tuple[str, str]:
    """A lead with canary traits, an anonymous history merged in by an alias, and an MQL."""
    lead, anon = new_id(), new_id("anon")
    await apply(
        engine, [activity(anon, "pricing_page_view", url=f"https://x.example/{CANARY_NAME}")]
    )
    traits = {"email": CANARY_EMAIL, "name": CANARY_NAME, "title": "CTO"}
    await apply(engine, [identify(lead, **traits, company={"size": 300, "domain": "acme.test"})])
    await apply(engine, [alias(lead, anon), activity(lead, "demo_request", at=T0 + timedelta(1))])
    return lead, anon


async def everything_held(engine: AsyncEngine, schema: str, lead_ids: list[str]) -> str:
    """Every row of the schema's lead tables and outbox for these leads, as one text."""
    keys = [i.encode() for i in lead_ids]
    queries: list[tuple[str, dict[str, Any]]] = {
        "scoring": [
            (
                "SELECT encode(state, 'escape'), * FROM scoring.leads "
                "WHERE lead_id = ANY(CAST(:ids AS text[]))",
                {"ids": lead_ids},
            ),
            (
                "SELECT * FROM scoring.activities WHERE lead_id = ANY(CAST(:ids AS text[]))",
                {"ids": lead_ids},
            ),
        ],
        "routing": [
            (
                "SELECT * FROM routing.handoffs WHERE lead_id = ANY(CAST(:ids AS text[]))",
                {"ids": lead_ids},
            ),
        ],
    }[schema]
    queries.append(
        (
            f"SELECT encode(value, 'escape') FROM {schema}.outbox "
            "WHERE key = ANY(CAST(:keys AS bytea[]))",
            {"keys": keys},
        )
    )
    out = []
    async with engine.connect() as conn:
        for sql, params in queries:
            rows = await conn.execute(text(sql), params)
            out += [repr(tuple(r)) for r in rows]
    return "\n".join(out)


def held(dump: str) -> list[str]:
    return [c for c in CANARIES if c in dump]


# The tests without the app come first: the app's outbox relay, alive until the module ends,
# would publish the rows these tests mark as sent or not.


async def test_erasure_deletes_sent_outbox_rows_and_scrubs_unsent_ones(
    own_engine: AsyncEngine,
) -> None:
    engine = own_engine  # no relay may publish the unsent row meanwhile (the `api` app has one)
    lead, _ = await a_known_mql(engine)
    async with engine.begin() as conn:  # as if the MQL had been sent once and again written
        await conn.execute(
            text(
                "INSERT INTO scoring.outbox (topic, key, value, published_at) "
                "SELECT topic, key, value, now() FROM scoring.outbox WHERE key = :k"
            ),
            {"k": lead.encode()},
        )

    async with UnitOfWorkFactory(engine)() as uow:
        erasure = await erase_lead(uow, MODEL, lead, utcnow(), "test")
        await uow.commit()

    assert erasure is not None
    assert erasure.outbox.deleted == 1
    assert (erasure.outbox.scrubbed, erasure.outbox.fields) == (1, ("data.traits",))
    mql, erased = await mqls_for(engine, lead), erasure.event
    assert len(mql) == 1 and mql[0].data.traits is None  # still to be published, without traits
    assert held(await everything_held(engine, "scoring", [lead])) == []
    async with engine.connect() as conn:
        last = (
            await conn.execute(
                text("SELECT value FROM scoring.outbox WHERE key = :k ORDER BY id DESC LIMIT 1"),
                {"k": lead.encode()},
            )
        ).scalar_one()
    assert scoring.scoring_event_adapter.validate_json(last) == erased


async def test_signals_sent_before_the_erasure_are_dropped_and_later_ones_start_afresh(
    engine: AsyncEngine,
) -> None:
    lead, _ = await a_known_mql(engine)
    in_flight = identify(lead, email=CANARY_EMAIL, name=CANARY_NAME)  # time: taken in now
    async with UnitOfWorkFactory(engine)() as uow:
        erasure = await erase_lead(uow, MODEL, lead, utcnow(), "test")
        await uow.commit()
    assert erasure is not None

    await apply(engine, [in_flight])
    row = await stored(engine, lead)
    assert row is not None and row.lead.traits == {}

    later = T0 + timedelta(days=30)
    await apply(engine, [identify(lead, title="CFO"), activity(lead, "demo_request", at=later)])
    row = await stored(engine, lead)
    assert row is not None
    assert row.lead.traits == {"title": "CFO"} and len(row.lead.history) == 1
    assert row.lead.erased_at == epoch_seconds(erasure.event.data.erased_at)
    latest = (await mqls_for(engine, lead))[-1]
    assert latest.data.cycle == 2  # a new mql_id: routing hands the lead over afresh
    assert latest.data.traits is not None and latest.data.traits.email is None


async def test_deleting_a_lead_erases_it_with_its_aliases_and_answers_what_went(
    api: Api, engine: AsyncEngine
) -> None:
    lead, anon = await a_known_mql(engine)
    assert len(await mqls_for(engine, lead)) == 1
    assert held(await everything_held(engine, "scoring", [lead, anon])) != []

    response = await api.client.delete(f"/v1/leads/{lead}", headers=api.admin)

    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["lead_id"], body["aliases"]) == (lead, 1)
    assert body["pending"] == ["routing", "insight", "notify"]
    leads = next(p for p in body["erased"] if p["table"] == "scoring.leads")
    assert leads["rows"] == 1  # the anonymous row was merged away by the alias
    assert {"traits.email", "traits.name", "traits.title", "history", "aliases", "mql"} <= set(
        leads["fields"]
    )
    assert held(response.text) == []
    assert held(await everything_held(engine, "scoring", [lead, anon])) == []
    row = await stored(engine, lead)
    assert row is not None
    assert (row.lead.history, row.lead.traits, row.lead.cycle, row.score) == ([], {}, 2, 0)
    gone = await api.client.get(f"/v1/leads/{lead}/score", headers=api.reader)
    assert gone.status_code == 404
    assert "erased" in gone.json()["detail"]


async def test_unknown_leads_are_404_and_only_admin_keys_may_erase(api: Api) -> None:
    for unknown_id in (new_id(), "L-" + "9" * 300):
        unknown = await api.client.delete(f"/v1/leads/{unknown_id}", headers=api.admin)
        assert unknown.status_code == 404, unknown_id
        assert unknown.headers["content-type"] == "application/problem+json"
    # A NUL can be no lead's id: the shared layer refuses it for every route, naming it.
    nul = await api.client.delete("/v1/leads/%00", headers=api.admin)
    assert nul.status_code == 422
    assert nul.json()["errors"][0]["field"] == "lead_id"
    lead = new_id()
    forbidden = await api.client.delete(f"/v1/leads/{lead}", headers=api.reader)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    anonymous = await api.client.delete(f"/v1/leads/{lead}")
    assert anonymous.status_code == 401


async def test_routing_blanks_its_part_when_the_erased_event_arrives_from_the_broker(
    api: Api, engine: AsyncEngine, bootstrap: str
) -> None:
    lead, anon = await a_known_mql(engine)
    (mql,) = await mqls_for(engine, lead)
    roster = team(("aiko", True))
    await route(engine, roster, [mql])
    handoff_id = handoff_id_for(mql.data.mql_id)
    reject = RepAction(Action.REJECT, handoff_id, "aiko", reason_code="no_budget", note=CANARY_NOTE)
    await act(engine, roster, reject)
    before = await everything_held(engine, "routing", [lead])
    assert CANARY_NOTE in before and "example.invalid" in before

    assert (await api.client.delete(f"/v1/leads/{lead}", headers=api.admin)).status_code == 202

    def erased_arrived(records: list[Any]) -> bool:
        return any(b"handoff.lead.erased" in (r.value or b"") for r in records)

    records = await collect(bootstrap, scoring.TOPIC, erased_arrived, keys={lead.encode()})
    events = [scoring.scoring_event_adapter.validate_json(r.value) for r in records]
    erased = [e for e in events if isinstance(e, scoring.LeadErased)]
    assert len(erased) == 1 and erased[0].data.aliases == [anon]
    assert held(erased[0].to_json().decode()) == []

    await route(engine, roster, erased)
    await route(engine, roster, erased)  # a replay changes nothing and fails nothing

    after = await everything_held(engine, "routing", [lead])
    assert held(after) == [] and "example.invalid" not in after and "acme.test" not in after
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT state, reason_code, note, facts FROM routing.handoffs WHERE lead_id = :l"
                ),
                {"l": lead},
            )
        ).one()
    assert (row.state, row.reason_code, row.note) == ("rejected", "no_budget", None)
    assert row.facts["size_band"] and "email_domain" not in row.facts  # the KPIs' facts stay


def mql_of(lead: str, email: str) -> scoring.LeadMql:
    event = mql(lead)
    traits = signals.Traits(email=email, name=CANARY_NAME)
    return event.model_copy(update={"data": event.data.model_copy(update={"traits": traits})})


async def test_an_erasure_blanks_what_came_before_it_in_a_batch_and_nothing_after_it(
    engine: AsyncEngine,
) -> None:
    lead = new_id()
    before, after = mql_of(lead, CANARY_EMAIL), mql_of(lead, "new.start@fresh.example")
    erased = erased_event(lead, [], utcnow(), "test")

    await route(engine, team(("aiko", True)), [before, erased, after])

    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT mql_id, facts FROM routing.handoffs WHERE lead_id = :l"), {"l": lead}
        )
        facts = {row.mql_id: row.facts for row in rows}
    assert "email_domain" not in facts[before.data.mql_id]
    assert facts[after.data.mql_id]["email_domain"] == "fresh.example"


async def test_routing_blanks_what_a_reps_queue_shows_and_keeps_due_times_and_used_links(
    engine: AsyncEngine,
) -> None:
    lead = new_id()
    before, after = mql_of(lead, CANARY_EMAIL), mql_of(lead, "new.start@fresh.example")
    roster = team(("aiko", True))
    await route(engine, roster, [before])
    handoff_id = handoff_id_for(before.data.mql_id)
    digest = new_id("digest")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO routing.handoff_due (handoff_id, stage, due_at) VALUES (:h, 'accept', :t)"
            ),
            {"h": handoff_id, "t": T0 + timedelta(hours=1)},
        )
        await conn.execute(
            text(
                "INSERT INTO routing.one_click_uses (digest, handoff_id, rep_id, action, used_at) "
                "VALUES (:d, :h, 'aiko', 'accept', :t)"
            ),
            {"d": digest, "h": handoff_id, "t": T0},
        )

    async def notes() -> dict[str, Any]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT * FROM routing.mql_notes WHERE mql_id = ANY(CAST(:m AS text[]))"),
                {"m": [before.data.mql_id, after.data.mql_id]},
            )
            return {r.mql_id: r for r in rows}

    held = (await notes())[before.data.mql_id]
    assert (held.reason, held.lead_name) == (before.data.reason, CANARY_NAME)

    await route(engine, roster, [erased_event(lead, [], utcnow(), "test"), after])

    now = await notes()
    assert (now[before.data.mql_id].reason, now[before.data.mql_id].lead_name) == (None, None)
    assert now[before.data.mql_id].company_name is None
    assert now[after.data.mql_id].lead_name == CANARY_NAME  # what came after the erasure stays
    async with engine.connect() as conn:
        due = (
            await conn.execute(
                text("SELECT due_at FROM routing.handoff_due WHERE handoff_id = :h"),
                {"h": handoff_id},
            )
        ).scalar_one()
        used = (
            await conn.execute(
                text("SELECT handoff_id FROM routing.one_click_uses WHERE digest = :d"),
                {"d": digest},
            )
        ).scalar_one()
    assert (due, used) == (T0 + timedelta(hours=1), handoff_id)
