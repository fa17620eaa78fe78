"""Erasing leads from notify's tables, in the consumer's transaction (handoff.lead.erased).

`notify.mqls` loses the name, company and reason; each delivery of the leads (except the
erased events themselves, which carry only ids) is erased as domain/erasure.py says. Rows
are locked first, so a worker claiming deliveries (SKIP LOCKED) passes them by meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff_notify.domain.erasure import CANCELLED_BECAUSE, ERASED, stripped_body


@dataclass(frozen=True, slots=True)
class NotifyErasure:
    mqls: int  # rows blanked
    bodies_deleted: int  # delivered or failed deliveries whose body and answer went
    cancelled: int  # pending Slack and email notices
    stripped: int  # pending webhooks rewritten without personal fields
    fields: tuple[str, ...]  # the names of the fields stripped from them


async def erase_leads(
    conn: AsyncConnection, lead_ids: Sequence[str], now: datetime
) -> NotifyErasure:
    ids = sorted(set(lead_ids))
    mqls = await conn.execute(
        text(
            "UPDATE notify.mqls SET reason = NULL, lead_name = NULL, company_name = NULL "
            "WHERE lead_id = ANY(CAST(:ids AS text[]))"
        ),
        {"ids": ids},
    )
    rows = (
        await conn.execute(
            text(
                "SELECT d.delivery_id, d.status, coalesce(s.channel, 'webhook'), d.body "
                "FROM notify.deliveries d "
                "LEFT JOIN notify.subscriptions s ON s.subscription_id = d.subscription_id "
                "WHERE d.lead_id = ANY(CAST(:ids AS text[])) AND d.event_type <> :erased "
                "ORDER BY d.delivery_id FOR UPDATE OF d"
            ),
            {"ids": ids, "erased": ERASED},
        )
    ).all()
    done, cancel, strip_ids, strip_bodies, fields = [], [], [], [], set()
    for delivery_id, status, channel, body in rows:
        if status != "pending":
            done.append(delivery_id)
        elif channel != "webhook":
            cancel.append(delivery_id)
        else:
            new_body, removed = stripped_body(bytes(body))
            strip_ids.append(delivery_id)
            strip_bodies.append(new_body)
            fields.update(removed)
    params = {"now": now}
    if done:
        # Kept for the log: status, attempts, times, the receiver's status code and notify's
        # own error text (it never quotes a body); the answer may echo the body, so it goes.
        await conn.execute(
            text(
                "UPDATE notify.deliveries SET body = ''::bytea, last_response = NULL, "
                "erased_at = :now WHERE delivery_id = ANY(CAST(:ids AS text[]))"
            ),
            {**params, "ids": done},
        )
    if cancel:
        await conn.execute(
            text(
                "UPDATE notify.deliveries SET status = 'cancelled', next_at = NULL, "
                "body = ''::bytea, last_response = NULL, last_error = :why, erased_at = :now "
                "WHERE delivery_id = ANY(CAST(:ids AS text[]))"
            ),
            {**params, "ids": cancel, "why": CANCELLED_BECAUSE},
        )
    if strip_ids:
        await conn.execute(
            text(
                "UPDATE notify.deliveries AS d SET body = v.body, last_response = NULL, "
                "erased_at = :now "
                "FROM unnest(CAST(:ids AS text[]), CAST(:bodies AS bytea[])) AS v(id, body) "
                "WHERE d.delivery_id = v.id"
            ),
            {**params, "ids": strip_ids, "bodies": strip_bodies},
        )
    return NotifyErasure(
        mqls.rowcount or 0, len(done), len(cancel), len(strip_ids), tuple(sorted(fields))
    )
