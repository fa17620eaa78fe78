"""The new-lead notice on real PostgreSQL and a local aiosmtpd server: sent once per
subscription, with the accept stage's due time when handoff.sla.started tells it, else
without after the grace; replays and late starts change nothing; webhooks are not held."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.events.envelope import GenericEvent
from handoff_dev.receivers import SmtpSink
from handoff_notify.config import NotifyConfig
from handoff_notify.entrypoints.worker import Worker
from handoff_notify.service_layer.handlers import Render
from handoff_notify.service_layer.notices import Notices
from handoff_notify.settings import NotifySettings
from tests.notify_helpers import (
    Clock,
    assigned,
    deliveries_of,
    event,
    handle,
    subscribe,
    uid,
    unsubscribe,
    worker_for,
)

GRACE = 5.0
DUE = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
JA_DUE = "2026年12月01日 10:00（Asia/Tokyo）までに承諾または却下してください。"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    yield s
    s.stop()


def render_for(rep: str) -> Notices:
    config = NotifyConfig.model_validate(
        {
            "people": {rep: {"name": "田中 愛子", "email": f"{rep}@example.com", "team": "tokyo"}},
            "teams": {"tokyo": {"language": "ja", "timezone": "Asia/Tokyo"}},
        }
    )
    return Notices.from_settings(config, NotifySettings())


def started(first: GenericEvent, stage: str = "accept") -> GenericEvent:
    d = first.data
    return event(
        "handoff.sla.started",
        lead_id=d["lead_id"],
        handoff_id=d["handoff_id"],
        timer_id=uid("timer"),
        policy="accept-within",
        stage=stage,
        due_at=DUE.isoformat(),
        rep_id=d["rep_id"],
        started_at=d["assigned_at"],
    )


@dataclass
class Mailing:
    """One rep's email subscription and a running delivery worker on the SMTP sink."""

    rep: str
    clock: Clock
    render: Render
    subscription_id: str
    worker: Worker


@asynccontextmanager
async def mailing(engine: AsyncEngine, database_url: str, sink: SmtpSink) -> AsyncIterator[Mailing]:
    rep, clock = uid("aiko"), Clock()
    sub = await subscribe(engine, channel="email", url="", reps=(rep,))
    worker = worker_for(database_url, clock, smtp_port=sink.port)
    await worker.start()
    try:
        yield Mailing(rep, clock, render_for(rep).render, sub.subscription_id, worker)
    finally:
        await worker.stop()
        await unsubscribe(engine, sub.subscription_id)


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_assigned_then_started_sends_one_notice_with_the_due_time_at_once(
    engine: AsyncEngine, database_url: str, sink: SmtpSink
) -> None:
    async with mailing(engine, database_url, sink) as m:
        rep, clock, render, worker = m.rep, m.clock, m.render, m.worker
        first = assigned(rep)
        await handle(engine, [first], render, grace_seconds=GRACE, clock=clock)
        assert await worker.drain() == 0  # held for the start, which follows in milliseconds
        await handle(engine, [started(first)], render, grace_seconds=GRACE, clock=clock)
        assert await worker.drain() == 1  # released by the start, without waiting the grace
        # Replays of both, in one batch or apart, and the grace running out: nothing more.
        await handle(engine, [first, started(first)], render, grace_seconds=GRACE, clock=clock)
        await handle(engine, [started(first)], render, grace_seconds=GRACE, clock=clock)
        clock.advance(GRACE + 1)
        assert await worker.drain() == 0
    assert len(await deliveries_of(engine, m.subscription_id)) == 1
    (mail,) = sink.mails
    assert JA_DUE in text_of(mail)


async def test_without_an_accept_sla_one_notice_goes_after_the_grace_without_a_due_time(
    engine: AsyncEngine, database_url: str, sink: SmtpSink
) -> None:
    async with mailing(engine, database_url, sink) as m:
        rep, clock, render, worker = m.rep, m.clock, m.render, m.worker
        first = assigned(rep)
        await handle(engine, [first], render, grace_seconds=GRACE, clock=clock)
        # Another stage's start is no accept SLA: the notice still waits out the grace.
        await handle(engine, [started(first, "first_contact")], render, clock=clock)
        clock.advance(GRACE - 1)
        assert await worker.drain() == 0
        clock.advance(1)
        assert await worker.drain() == 1
        # A start arriving after the notice went, and replays: nothing more.
        await handle(engine, [started(first), first], render, grace_seconds=GRACE, clock=clock)
        clock.advance(GRACE + 1)
        assert await worker.drain() == 0
    assert len(await deliveries_of(engine, m.subscription_id)) == 1
    (mail,) = sink.mails
    text = text_of(mail)
    assert "新しいリードが割り当てられました" in text
    assert "までに承諾または却下してください" not in text


async def test_a_start_seen_before_its_assignment_lets_the_assignment_send_at_once(
    engine: AsyncEngine, database_url: str, sink: SmtpSink
) -> None:
    async with mailing(engine, database_url, sink) as m:
        rep, clock, render, worker = m.rep, m.clock, m.render, m.worker
        first = assigned(rep)
        await handle(engine, [started(first)], render, grace_seconds=GRACE, clock=clock)
        assert await worker.drain() == 0  # the assignment (rep, MQL) is not known yet
        await handle(engine, [first], render, grace_seconds=GRACE, clock=clock)
        assert await worker.drain() == 1
    (mail,) = sink.mails
    assert JA_DUE in text_of(mail)


async def test_a_webhook_gets_the_assigned_event_itself_at_once(engine: AsyncEngine) -> None:
    rep, clock = uid("aiko"), Clock()
    hook = await subscribe(engine, url="https://crm.example.com/hook", reps=(rep,))
    try:
        first = assigned(rep)
        await handle(engine, [first], render_for(rep).render, grace_seconds=GRACE, clock=clock)
        (row,) = await deliveries_of(engine, hook.subscription_id)
        assert (row["event_id"], row["next_at"], row["held_until"]) == (first.id, clock.now, None)
    finally:
        await unsubscribe(engine, hook.subscription_id)
