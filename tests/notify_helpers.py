"""Helpers for notify's tests: a clock tests move by hand, events as notify reads them,
subscriptions written straight to the table, the consumer's handler run on a batch."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.db import UnitOfWork, asyncpg_dsn
from handoff.events.envelope import GenericEvent
from handoff.events.signals import Traits
from handoff.messaging.consumer import Inbound
from handoff_notify.adapters import subscriptions_repo
from handoff_notify.adapters.guard import guarded_client
from handoff_notify.adapters.senders import Senders, Smtp
from handoff_notify.domain.addresses import networks
from handoff_notify.domain.attempts import Policies
from handoff_notify.domain.subscriptions import Subscription
from handoff_notify.entrypoints.worker import Worker, WorkerLimits, wall_clock
from handoff_notify.service_layer.handlers import EventHandler, Render
from tests.factories import mql

LOOPBACK = networks(["127.0.0.0/8", "::1/128"])
SECRET_NEW = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes of base64
SECRET_OLD = "whsec_" + "C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


class Clock:
    """The time as the worker sees it; a test moves it forward instead of sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def event(event_type: str, **data: Any) -> GenericEvent:
    source = "/handoff/sla-watch" if event_type.startswith("handoff.sla.") else "/handoff/routing"
    return GenericEvent(
        id=uid("evt"), source=source, type=event_type, subject=data.get("lead_id"), data=data
    )


def assigned(
    rep_id: str, *, pool: str = "emea", team: str | None = None, **extra: Any
) -> GenericEvent:
    data: dict[str, Any] = {
        "lead_id": uid("L"),
        "handoff_id": uid("H"),
        "mql_id": uid("mql"),
        "rep_id": rep_id,
        "pool": pool,
        "rule": "default",
        "assigned_at": datetime.now(UTC).isoformat(),
        "decision": [],
        "team": team,
    }
    return event("handoff.lead.assigned", **{**data, **extra})


def contacted(rep_id: str) -> GenericEvent:
    """An event for tests that go through the shared broker: `contacted` for a handoff no one
    knows is one the other services let pass (an `assigned` would arm SLA timers in the
    end-to-end tests' sla-watch, which reads the same topic later)."""
    return event(
        "handoff.lead.contacted",
        lead_id=uid("L"),
        handoff_id=uid("H"),
        rep_id=rep_id,
        at=datetime.now(UTC).isoformat(),
        channel="phone",
    )


def follow_up(first: GenericEvent, event_type: str, **extra: Any) -> GenericEvent:
    """An event about the same handoff that names only the handoff and the lead (and rep)."""
    d = first.data
    return event(
        event_type, lead_id=d["lead_id"], handoff_id=d["handoff_id"], rep_id=d["rep_id"], **extra
    )


async def subscribe(engine: AsyncEngine, **fields: Any) -> Subscription:
    fields.setdefault("subscription_id", uid("sub"))
    fields.setdefault("channel", "webhook")
    fields.setdefault("event_types", ("handoff.lead.assigned",))
    sub = Subscription(**fields)
    async with engine.begin() as conn:
        await subscriptions_repo.replace(conn, sub)
    return sub


async def unsubscribe(engine: AsyncEngine, *ids: str) -> None:
    async with engine.begin() as conn:
        for sub_id in ids:
            await conn.execute(
                text(
                    "UPDATE notify.deliveries SET status = 'failed', next_at = NULL "
                    "WHERE subscription_id = :s AND status = 'pending'"
                ),
                {"s": sub_id},
            )
            await subscriptions_repo.delete(conn, sub_id)


def no_render(sub: Subscription, event: Any, seen: Any) -> bytes | None:
    return None


async def handle(
    engine: AsyncEngine,
    events: Sequence[GenericEvent],
    render: Render = no_render,
    *,
    grace_seconds: float = 0.0,
    clock: Clock | None = None,
) -> None:
    """The consumer's handler on one batch, committed as the consumer would. A new-lead notice
    without an SLA start waits `grace_seconds` (none unless a test is about that wait)."""
    handler = EventHandler(
        render, wake=lambda: None, clock=clock, new_lead_grace_seconds=grace_seconds
    )
    async with UnitOfWork(engine) as uow:
        await handler(uow, [Inbound(e, "handoff.routing.v1", 0, n) for n, e in enumerate(events)])
        await uow.commit()


@dataclass
class Rig:
    worker: Worker
    client: httpx.AsyncClient


def worker_for(
    database_url: str,
    clock: Clock | None = None,
    *,
    policies: Policies | None = None,
    timeout: float = 10.0,
    per_endpoint: int = 4,
    smtp_port: int = 25,
) -> Worker:
    client = guarded_client(LOOPBACK, timeout)
    senders = Senders(
        client, Smtp("127.0.0.1", smtp_port, "handoff <handoff@localhost>"), timeout, 200
    )
    return Worker(
        asyncpg_dsn(database_url),
        senders,
        policies or Policies(),
        WorkerLimits(per_endpoint=per_endpoint, max_sleep_seconds=0.2),
        clock=clock or wall_clock,
        rng=random.Random(7),
    )


async def deliveries_of(engine: AsyncEngine, subscription_id: str) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM notify.deliveries WHERE subscription_id = :s ORDER BY created_at"),
            {"s": subscription_id},
        )
        return list(rows.mappings())


async def notify_outbox(engine: AsyncEngine, needle: str) -> list[bytes]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT value FROM notify.outbox WHERE position(CAST(:n AS bytea) in value) > 0 ORDER BY id"
            ),
            {"n": needle.encode()},
        )
        return [bytes(r[0]) for r in rows]


def scoring_mql(lead_id: str, *, reason: str, traits: dict[str, Any]) -> GenericEvent:
    """An MQL as scoring publishes it (notify remembers only a valid one), read as notify
    reads it: a plain CloudEvent."""
    e = mql(lead_id)
    data = e.data.model_copy(update={"traits": Traits.model_validate(traits), "reason": reason})
    return GenericEvent.model_validate_json(e.model_copy(update={"data": data}).to_json())
