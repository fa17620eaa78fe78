"""A rep's queue: what routing keeps for it (the MQL's reason and the lead's name, the SLA
due times sla-watch announces), the paged query behind GET /v1/reps/{rep_id}/handoffs, and
the single-use record of one-click links."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.events import sla
from handoff.events.scoring import LeadMql

QueueState = Literal["open", "assigned", "accepted", "overdue"]
STATES: dict[str, tuple[str, ...]] = {
    "open": ("assigned", "accepted", "contacted"),
    "assigned": ("assigned",),
    "accepted": ("accepted", "contacted"),
    "overdue": ("assigned", "accepted", "contacted"),
}


async def remember(conn: AsyncConnection, events: Iterable[object]) -> None:
    """From a consumer batch's events: MQL reasons and lead names, SLA due times (known from the
    timer's start), breaches and mets; other events are passed over."""
    notes: dict[str, tuple[str | None, str | None, str | None]] = {}
    due: dict[tuple[str, str], tuple[datetime, datetime | None, datetime | None]] = {}
    for e in events:
        if isinstance(e, LeadMql):
            traits = e.data.traits
            company = traits.company.name if traits and traits.company else None
            notes[e.data.mql_id] = (e.data.reason, traits.name if traits else None, company)
        elif isinstance(
            e, sla.SlaStarted | sla.SlaWarning | sla.SlaBreached | sla.SlaEscalated | sla.SlaMet
        ):
            key = (e.data.handoff_id, e.data.stage)
            _, breached, met = due.get(key, (e.data.due_at, None, None))
            if isinstance(e, sla.SlaBreached | sla.SlaEscalated):
                breached = breached or e.data.fired_at
            if isinstance(e, sla.SlaMet):
                met = e.data.met_at
            due[key] = (e.data.due_at, breached, met)
    if notes:
        await conn.execute(
            text(
                "INSERT INTO routing.mql_notes (mql_id, reason, lead_name, company_name) "
                "SELECT * FROM unnest(CAST(:m AS text[]), CAST(:r AS text[]), "
                "CAST(:n AS text[]), CAST(:c AS text[])) ON CONFLICT (mql_id) DO NOTHING"
            ),
            {
                "m": list(notes),
                "r": [v[0] for v in notes.values()],
                "n": [v[1] for v in notes.values()],
                "c": [v[2] for v in notes.values()],
            },
        )
    if due:
        await conn.execute(
            text(
                "INSERT INTO routing.handoff_due (handoff_id, stage, due_at, breached_at, met_at) "
                "SELECT * FROM unnest(CAST(:h AS text[]), CAST(:s AS text[]), "
                "CAST(:d AS timestamptz[]), CAST(:b AS timestamptz[]), CAST(:m AS timestamptz[])) "
                "ON CONFLICT (handoff_id, stage) DO UPDATE SET due_at = excluded.due_at, "
                "breached_at = coalesce(handoff_due.breached_at, excluded.breached_at), "
                "met_at = coalesce(handoff_due.met_at, excluded.met_at)"
            ),
            {
                "h": [k[0] for k in due],
                "s": [k[1] for k in due],
                "d": [v[0] for v in due.values()],
                "b": [v[1] for v in due.values()],
                "m": [v[2] for v in due.values()],
            },
        )


@dataclass(frozen=True, slots=True)
class QueueItem:
    handoff_id: str
    lead_id: str
    state: str
    pool: str | None
    assigned_at: datetime | None
    reason: str | None
    lead_name: str | None
    company_name: str | None
    due_stage: str | None
    due_at: datetime | None
    breached_at: datetime | None


QUEUE = """
SELECT h.handoff_id, h.lead_id, h.state, h.pool, h.assigned_at, n.reason, n.lead_name,
  n.company_name, d.stage, d.due_at, d.breached_at
FROM routing.handoffs h
LEFT JOIN routing.mql_notes n ON n.mql_id = h.mql_id
LEFT JOIN LATERAL (
  SELECT stage, due_at, breached_at FROM routing.handoff_due
  WHERE handoff_id = h.handoff_id AND met_at IS NULL ORDER BY due_at LIMIT 1
) d ON TRUE
WHERE h.rep_id = :rep AND h.state = ANY(CAST(:states AS text[]))
  AND (NOT :overdue OR d.breached_at IS NOT NULL OR d.due_at <= :now)
  AND (CAST(:after_at AS timestamptz) IS NULL
       OR (h.assigned_at, h.handoff_id) > (CAST(:after_at AS timestamptz), :after_id))
ORDER BY h.assigned_at, h.handoff_id
LIMIT :limit
"""


async def queue(
    conn: AsyncConnection,
    rep_id: str,
    state: QueueState,
    now: datetime,
    limit: int,
    after: str | None = None,
) -> list[QueueItem]:
    """The rep's handoffs in `state`, oldest assignment first; `after` is the last handoff
    id of the previous page."""
    after_at = None
    if after:
        found = await conn.execute(
            text("SELECT assigned_at FROM routing.handoffs WHERE handoff_id = :h AND rep_id = :r"),
            {"h": after, "r": rep_id},
        )
        after_at = found.scalar_one_or_none()
    rows = await conn.execute(
        text(QUEUE),
        {
            "rep": rep_id,
            "states": list(STATES[state]),
            "overdue": state == "overdue",
            "now": now,
            "after_at": after_at,
            "after_id": after or "",
            "limit": limit,
        },
    )
    return [QueueItem(*r) for r in rows]


async def use_once(
    conn: AsyncConnection, digest: str, handoff_id: str, rep_id: str, action: str, at: datetime
) -> bool:
    """Record a one-click token as used; False if it was used before."""
    result = await conn.execute(
        text(
            "INSERT INTO routing.one_click_uses (digest, handoff_id, rep_id, action, used_at) "
            "VALUES (:d, :h, :r, :a, :t) ON CONFLICT (digest) DO NOTHING"
        ),
        {"d": digest, "h": handoff_id, "r": rep_id, "a": action, "t": at},
    )
    return bool(result.rowcount)


async def was_used(conn: AsyncConnection, digest: str) -> bool:
    found = await conn.execute(
        text("SELECT 1 FROM routing.one_click_uses WHERE digest = :d"), {"d": digest}
    )
    return found.first() is not None


async def lead_label(conn: AsyncConnection, handoff_id: str) -> str | None:
    """How a one-click page names the lead: its and its company's names, else its id; None when
    there is no such handoff."""
    row = (
        await conn.execute(
            text(
                "SELECT h.lead_id, n.lead_name, n.company_name FROM routing.handoffs h "
                "LEFT JOIN routing.mql_notes n ON n.mql_id = h.mql_id WHERE h.handoff_id = :h"
            ),
            {"h": handoff_id},
        )
    ).first()
    if row is None:
        return None
    return ", ".join(p for p in (row[1], row[2]) if p) or str(row[0])
