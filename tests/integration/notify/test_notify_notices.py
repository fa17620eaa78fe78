"""Slack and email notices end to end on real PostgreSQL: rendered per rep in English or
Japanese, mailed through a local aiosmtpd server, posted as Block Kit to a local receiver,
with one-click links routing accepts; an SMTP outage only delays."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff import one_click
from handoff_dev.receivers import SmtpSink, WebhookReceiver
from handoff_notify.config import NotifyConfig
from handoff_notify.domain.attempts import Policies
from handoff_notify.domain.retry import RetryPolicy
from handoff_notify.service_layer.notices import Notices
from handoff_notify.settings import NotifySettings
from tests.notify_helpers import (
    Clock,
    assigned,
    deliveries_of,
    follow_up,
    handle,
    scoring_mql,
    subscribe,
    uid,
    unsubscribe,
    worker_for,
)

LINK_KEY = "link-key-" + "z" * 30
TYPES = (
    "handoff.lead.assigned",
    "handoff.sla.warning",
    "handoff.sla.escalated",
    "handoff.lead.reassigned",
)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    yield s
    s.stop()


def notices(ana: str, bo: str, manager: str) -> Notices:
    config = NotifyConfig.model_validate(
        {
            "people": {
                ana: {"name": "田中 愛子", "email": "ana@example.com", "team": "tokyo"},
                bo: {
                    "name": "Bo",
                    "email": "bo@example.com",
                    "language": "en",
                    "timezone": "Europe/London",
                },
                manager: {"name": "Kim", "email": "kim@example.com", "language": "en"},
            },
            "teams": {"tokyo": {"language": "ja", "timezone": "Asia/Tokyo"}},
        }
    )
    settings = NotifySettings(
        HANDOFF_ONE_CLICK_SECRETS=[SecretStr(LINK_KEY)],
        HANDOFF_NOTIFY_LINK_BASE_URL="http://127.0.0.1:8102",
    )
    return Notices.from_settings(config, settings)


def body_text(mail: EmailMessage, kind: str) -> str:
    part = mail.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


async def test_new_lead_mails_go_to_each_rep_in_their_language_with_working_links(
    engine: AsyncEngine, database_url: str, sink: SmtpSink
) -> None:
    ana, bo, mgr = uid("ana"), uid("bo"), uid("kim")
    render = notices(ana, bo, mgr).render
    sub = await subscribe(engine, channel="email", url="", event_types=TYPES, reps=(ana, bo))
    try:
        mql_ana = scoring_mql(
            uid("L"),
            reason="デモを2回依頼しました。",
            traits={"name": "鈴木 芽衣", "company": {"name": "雲株式会社"}},
        )
        for_ana = assigned(ana, mql_id=mql_ana.data["mql_id"], lead_id=mql_ana.data["lead_id"])
        for_bo = assigned(bo)
        await handle(engine, [mql_ana], render)
        await handle(engine, [for_ana, for_bo], render)
        worker = worker_for(database_url, smtp_port=sink.port)
        await worker.start()
        try:
            assert await worker.drain() == 2
        finally:
            await worker.stop()
        by_to = {m["To"]: m for m in sink.mails}
        ja, en = by_to["ana@example.com"], by_to["bo@example.com"]
        assert ja["Subject"] == "新しいリード：鈴木 芽衣, 雲株式会社"
        ja_text = body_text(ja, "plain")
        assert "田中 愛子さん、新しいリードが割り当てられました" in ja_text
        assert "理由：デモを2回依頼しました。" in ja_text
        assert "承諾する: http://127.0.0.1:8102/v1/handoffs/" in ja_text
        assert "&lang=ja" in ja_text  # routing's page speaks the notice's language
        assert "<p>" in body_text(ja, "html")
        assert en["Subject"].startswith("New lead: ")
        en_text = body_text(en, "plain")
        assert "New lead for you, Bo" in en_text and "Accept: http" in en_text
        # The links carry tokens routing accepts: for this handoff, this rep, this action.
        now = datetime.now(UTC)
        for mail, e, rep in ((ja, for_ana, ana), (en, for_bo, bo)):
            tokens = re.findall(r"token=([A-Za-z0-9_\-.]+)", body_text(mail, "plain"))
            grants = [
                one_click.verify([LINK_KEY], t, now, handoff_id=e.data["handoff_id"])
                for t in tokens
            ]
            assert [(g.rep_id, g.action) for g in grants] == [(rep, "accept"), (rep, "reject")]
    finally:
        await unsubscribe(engine, sub.subscription_id)


async def test_escalation_goes_to_the_manager_and_a_reassignment_to_both_reps(
    engine: AsyncEngine, database_url: str, sink: SmtpSink
) -> None:
    ana, bo, mgr = uid("ana"), uid("bo"), uid("kim")
    render = notices(ana, bo, mgr).render
    sub = await subscribe(engine, channel="email", url="", event_types=TYPES[2:], reps=(ana, bo))
    try:
        first = assigned(ana, manager_id=mgr)
        due = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        escalated = follow_up(
            first,
            "handoff.sla.escalated",
            timer_id="t",
            policy="p",
            stage="accept",
            due_at=due,
            fired_at=due,
            level=2,
            action="escalate_to_manager",
            target=mgr,
        )
        # As routing announces it: the reassigned event names the rep it was taken from and
        # the new handoff, whose assignment (to bo) follows.
        new_handoff = uid("H")
        moved = follow_up(first, "handoff.lead.reassigned", at=due)
        moved.data.update(previous_rep_id=ana, new_handoff_id=new_handoff, reason="sla")
        second = assigned(bo, lead_id=first.data["lead_id"], handoff_id=new_handoff)
        await handle(engine, [first], render)
        await handle(engine, [escalated, moved], render)
        await handle(engine, [second, second], render)  # a replay queues nothing new
        worker = worker_for(database_url, smtp_port=sink.port)
        await worker.start()
        try:
            await worker.drain()
        finally:
            await worker.stop()
        to = sorted(m["To"] for m in sink.mails)
        assert to == ["bo@example.com, ana@example.com", "kim@example.com"]  # the new rep first
        [esc] = [m for m in sink.mails if m["To"] == "kim@example.com"]
        assert "Escalation" in esc["Subject"] and "田中 愛子" in esc["Subject"]
        [both] = [m for m in sink.mails if m["To"] != "kim@example.com"]
        # In the new rep's language (Bo: English), naming both.
        assert "moved from 田中 愛子 to Bo." in body_text(both, "plain")
    finally:
        await unsubscribe(engine, sub.subscription_id)


async def test_a_slack_notice_is_posted_as_block_kit(
    engine: AsyncEngine, database_url: str
) -> None:
    ana, bo, mgr = uid("ana"), uid("bo"), uid("kim")
    receiver = await WebhookReceiver().start()
    sub = await subscribe(
        engine, channel="slack", url=receiver.url + "/services/T/B/X", event_types=TYPES, reps=(bo,)
    )
    try:
        await handle(engine, [assigned(bo)], notices(ana, bo, mgr).render)
        worker = worker_for(database_url)
        await worker.start()
        try:
            await worker.drain()
        finally:
            await worker.stop()
        [got] = receiver.received
        assert "webhook-signature" not in got.headers  # Slack's URL is its secret
        msg: dict[str, Any] = json.loads(got.body)
        assert msg["text"].startswith("New lead")
        assert [b["type"] for b in msg["blocks"]] == ["header", "section", "actions"]
        buttons = msg["blocks"][2]["elements"]
        assert [b["text"]["text"] for b in buttons] == ["Accept", "Reject"]
        assert all(b["url"].startswith("http://127.0.0.1:8102/v1/handoffs/") for b in buttons)
    finally:
        await unsubscribe(engine, sub.subscription_id)
        await receiver.stop()


async def test_an_smtp_outage_only_delays_the_mail(
    engine: AsyncEngine, database_url: str, sink: SmtpSink
) -> None:
    ana, bo, mgr = uid("ana"), uid("bo"), uid("kim")
    sub = await subscribe(engine, channel="email", url="", event_types=TYPES, reps=(bo,))
    try:
        await handle(engine, [assigned(bo)], notices(ana, bo, mgr).render)
        clock = Clock()
        worker = worker_for(
            database_url,
            clock,
            smtp_port=sink.port,
            policies=Policies(retry=RetryPolicy(schedule=(5,), jitter=0)),
        )
        await worker.start()
        try:
            sink.refuse = True
            await worker.drain()
            [row] = await deliveries_of(engine, sub.subscription_id)
            assert (row["status"], row["attempts"]) == ("pending", 1)
            assert sink.mails == []
            sink.refuse = False
            clock.advance(5)
            await worker.drain()
            [row] = await deliveries_of(engine, sub.subscription_id)
            assert (row["status"], row["last_status"]) == ("succeeded", 250)
            assert [m["To"] for m in sink.mails] == ["bo@example.com"]
        finally:
            await worker.stop()
    finally:
        await unsubscribe(engine, sub.subscription_id)


async def test_a_refused_recipient_is_recorded_and_logged_without_the_address(
    engine: AsyncEngine, database_url: str, sink: SmtpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    ana, bo, mgr = uid("ana"), uid("bo"), uid("kim")
    sub = await subscribe(engine, channel="email", url="", event_types=TYPES, reps=(bo,))
    try:
        await handle(engine, [assigned(bo)], notices(ana, bo, mgr).render)
        sink.refuse_recipients = True
        worker = worker_for(database_url, smtp_port=sink.port)
        await worker.start()
        try:
            await worker.drain()
        finally:
            await worker.stop()
        [row] = await deliveries_of(engine, sub.subscription_id)
        assert (row["status"], row["last_status"]) == ("pending", 550)
        assert "bo@example.com" not in f"{row['last_error']} {row['last_response']}"
        out = capsys.readouterr()
        assert "notify.delivery.try_failed" in out.out + out.err
        assert "@example.com" not in out.out + out.err
    finally:
        await unsubscribe(engine, sub.subscription_id)
