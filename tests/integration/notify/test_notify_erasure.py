"""notify erases a lead when `handoff.lead.erased` arrives, on real PostgreSQL: the MQL's
name, company and reason go; delivered and failed deliveries keep their log row without the
body or the receiver's answer; a pending mail is cancelled; a pending webhook still goes out
without the personal fields; the erased event itself reaches webhooks subscribed to it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.events.envelope import GenericEvent
from handoff.metrics import LEADS_ERASED
from handoff_dev.receivers import Answer, Received, WebhookReceiver
from handoff_notify.adapters import deliveries_repo
from handoff_notify.domain.attempts import Policies
from handoff_notify.domain.retry import RetryPolicy
from handoff_notify.domain.subscriptions import Subscription
from handoff_notify.entrypoints.api import DeliveryOut
from tests.notify_helpers import (
    SECRET_NEW,
    assigned,
    deliveries_of,
    event,
    follow_up,
    handle,
    scoring_mql,
    subscribe,
    uid,
    unsubscribe,
)
from tests.notify_helpers import worker_for as make_worker

TOKEN = uid("kanari").split("-")[1]
EMAIL = f"kanari.{TOKEN}@example.com"
NAME = f"Kanari {TOKEN} Tori"
COMPANY = f"Kanari {TOKEN} KK"
NOTE = f"called her mobile 090-{TOKEN}"
CANARIES = (EMAIL, NAME, COMPANY, NOTE)


def mql_event(lead_id: str) -> GenericEvent:
    """An MQL as scoring publishes it, naming the canary; read as notify reads it."""
    traits = {"email": EMAIL, "name": NAME, "company": {"name": COMPANY, "size": 300}}
    return scoring_mql(lead_id, reason=f"{NAME} visited pricing", traits=traits)


def erased(lead_id: str, aliases: list[str]) -> Any:
    e = event(
        "handoff.lead.erased", lead_id=lead_id, aliases=aliases, erased_at="2026-12-01T09:30:00Z"
    )
    return e.model_copy(update={"source": "/handoff/scoring"})


def render_mail(sub: Subscription, e: Any, seen: Any) -> bytes | None:
    """A mail naming the lead, as notify's notices do."""
    name = seen.lead_name if seen is not None else None
    return json.dumps({"to": "rep@example.com", "subject": f"New lead: {name}", "text": "",
                       "html": ""}).encode()  # fmt: skip


async def canary_rows(engine: AsyncEngine) -> dict[str, int]:
    """Rows of notify's tables holding a canary (bytea columns in hex too)."""
    needles = [*CANARIES, *(c.encode().hex() for c in CANARIES)]
    found = {}
    async with engine.connect() as conn:
        tables = await conn.execute(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'notify' AND table_type = 'BASE TABLE'"
            )
        )
        for (table,) in tables.all():
            hits = (
                await conn.execute(
                    text(
                        f'SELECT count(*) FROM notify."{table}" AS t WHERE EXISTS (SELECT 1 FROM '
                        "unnest(CAST(:n AS text[])) AS n WHERE strpos(t::text, n) > 0)"
                    ),
                    {"n": needles},
                )
            ).scalar_one()
            if hits:
                found[table] = hits
    return found


async def mqls_of(engine: AsyncEngine, lead_ids: list[str]) -> dict[str, Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM notify.mqls WHERE lead_id = ANY(CAST(:l AS text[]))"),
            {"l": lead_ids},
        )
        return {r.mql_id: r for r in rows}


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[WebhookReceiver, WebhookReceiver]]:
    ok = await WebhookReceiver([SECRET_NEW]).start()

    def echo(got: Received) -> Answer:  # a receiver quoting what it got in its error
        return Answer(500, body=got.body)

    failing = await WebhookReceiver([SECRET_NEW], echo).start()
    yield ok, failing
    await ok.stop()
    await failing.stop()


async def test_an_erased_lead_leaves_no_personal_data_in_notify_and_its_facts_still_go_out(
    engine: AsyncEngine,
    database_url: str,
    receivers: tuple[WebhookReceiver, WebhookReceiver],
    capfd: pytest.CaptureFixture[str],
) -> None:
    ok, failing = receivers
    rep, lead, alias = uid("rep"), uid("L"), uid("anon")
    crm = await subscribe(
        engine,
        url=ok.url,
        secrets=(SECRET_NEW,),
        reps=(rep,),
        event_types=("handoff.lead.assigned", "handoff.lead.rejected", "handoff.lead.erased"),
    )
    broken = await subscribe(engine, url=failing.url, secrets=(SECRET_NEW,), reps=(rep,))
    mail = await subscribe(engine, channel="email", url="", reps=(rep,))
    subs = [crm.subscription_id, broken.subscription_id, mail.subscription_id]
    try:
        first, of_alias = mql_event(lead), mql_event(alias)
        broken_mql = GenericEvent.model_validate(
            {
                **first.model_dump(),
                "id": uid("evt"),
                "data": {**first.data, "mql_id": uid("mql"), "score": "high"},
            }
        )
        await handle(engine, [broken_mql])  # scoring never published it: nothing to erase later
        assert await mqls_of(engine, [lead]) == {}
        assignment = assigned(
            rep, lead_id=lead, mql_id=first.data["mql_id"], traits={"email": EMAIL}
        )
        await handle(engine, [first, of_alias, assignment], render=render_mail)
        async with engine.begin() as conn:  # the mail waits: its endpoint's breaker is open
            await conn.execute(
                text(
                    "UPDATE notify.subscriptions SET open_until = now() + interval '1 hour' "
                    "WHERE subscription_id = :s"
                ),
                {"s": mail.subscription_id},
            )
        worker = make_worker(database_url, policies=Policies(retry=RetryPolicy(schedule=())))
        await worker.start()
        try:
            assert await worker.drain() == 2  # delivered to the CRM, failed at the broken one
            rejected = follow_up(assignment, "handoff.lead.rejected", reason_code="x", note=NOTE)
            await handle(engine, [rejected], render=render_mail)
            held = await canary_rows(engine)
            assert {"mqls", "deliveries"} <= set(held), held  # the test can fail

            later = mql_event(lead)  # after the erasure in the same batch: kept
            counted = LEADS_ERASED.labels("notify")._value.get()
            erasure = erased(lead, [alias])
            await handle(engine, [erasure, later], render=render_mail)
            assert LEADS_ERASED.labels("notify")._value.get() == counted + 1
            mqls = await mqls_of(engine, [lead, alias])
            kept = mqls.pop(later.data["mql_id"])
            assert kept.lead_name == NAME
            # Erasing again (the same event read without the consumer's inbox) fails nothing.
            await handle(engine, [erasure], render=render_mail)
            assert LEADS_ERASED.labels("notify")._value.get() == counted + 2
            assert {(m.reason, m.lead_name, m.company_name) for m in mqls.values()} == {
                (None, None, None)
            }
            assert len(mqls) == 2
            assert await canary_rows(engine) == {}

            [delivered, stripped, announced] = await deliveries_of(engine, crm.subscription_id)
            assert (delivered["status"], delivered["attempts"], delivered["last_status"]) == (
                "succeeded",
                1,
                204,
            )
            assert delivered["body"] == b"" and delivered["erased_at"] is not None
            [failed] = await deliveries_of(engine, broken.subscription_id)
            assert (failed["status"], failed["attempts"], failed["last_status"]) == (
                "failed",
                1,
                500,
            )
            assert (failed["body"], failed["last_response"]) == (b"", None)
            [cancelled] = await deliveries_of(engine, mail.subscription_id)
            assert (cancelled["status"], cancelled["next_at"]) == ("cancelled", None)
            assert "erased" in cancelled["last_error"]
            assert stripped["status"] == "pending" and stripped["event_type"] == rejected.type
            assert announced["event_type"] == "handoff.lead.erased"

            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE notify.subscriptions SET open_until = NULL WHERE subscription_id = :s"
                    ),
                    {"s": mail.subscription_id},
                )
            assert await worker.drain() == 2  # the stripped rejection and the erasure; no mail
        finally:
            await worker.stop()
        bodies = [json.loads(r.body) for r in ok.received]
        assert [b["type"] for b in bodies] == [
            "handoff.lead.assigned",
            "handoff.lead.rejected",
            "handoff.lead.erased",
        ]
        assert bodies[1]["data"]["reason_code"] == "x" and "note" not in bodies[1]["data"]
        assert bodies[2]["data"] == {
            "lead_id": lead,
            "aliases": [alias],
            "erased_at": "2026-12-01T09:30:00Z",
        }
        [cancelled] = await deliveries_of(engine, mail.subscription_id)
        assert (cancelled["status"], cancelled["attempts"]) == ("cancelled", 0)

        # The delivery log as the API shows it, the metrics and the logs: no canary.
        async with engine.connect() as conn:
            listed = await deliveries_repo.listing(
                conn, status=None, subscription_id=None, before=None, limit=1000
            )
        shown = json.dumps([DeliveryOut.of(r).model_dump(mode="json") for r in listed])
        assert crm.subscription_id in shown
        assert [c for c in CANARIES if c in shown] == []
        assert [c for c in CANARIES if c in generate_latest().decode()] == []
        out, err = capfd.readouterr()
        assert "notify.lead.erased" in out + err
        assert [c for c in CANARIES if c in out + err] == []
    finally:
        await unsubscribe(engine, *subs)
