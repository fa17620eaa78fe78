"""Erase leads' personal data from routing's tables and outbox (`handoff.lead.erased`).

A handoff row keeps what the funnel needs (state, rep, pool, rule, reason code, outcome,
channel, times, and the coarse facts: country, region, size, industry, source, trigger,
fit grade, score) and loses what points to a person: the reject or disposition note, the
email and company domains and the title in `facts`, and the decision steps' notes (they name
the domain an account rule matched). What a rep's queue shows of the lead's MQLs
(`mql_notes`: the MQL reason, the lead's and company's names) is blanked; the SLA due times
(`handoff_due`) and used one-click links (`one_click_uses`) hold ids, stages and times only,
so they are kept. The lead's outbox rows go, or lose their notes if not yet published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.messaging.erasure import OutboxErasure, drop_data_fields, erase_outbox
from handoff_routing.adapters.tables import SCHEMA

# The facts routing copies from the MQL's traits that point to a person or their employer.
PERSONAL_FACTS = ("email_domain", "company_domain", "title")


@dataclass(frozen=True, slots=True)
class RoutingErasure:
    handoffs: int  # rows blanked
    fields: tuple[str, ...]  # which of their fields held something
    outbox: OutboxErasure
    mql_notes: int = 0  # rows of a rep's queue blanked (reason, lead and company names)


def scrub_event(event: dict[str, Any]) -> list[str]:
    """Routing's events: reject and disposition notes, an unassigned lead's reason (a decision
    note), and each decision step's note."""
    removed = drop_data_fields(event, ("note", "reason"))
    data = event.get("data")
    steps = data.get("decision") if isinstance(data, dict) else None
    if isinstance(steps, list):
        noted = [s for s in steps if isinstance(s, dict) and s.pop("note", None) is not None]
        if noted:
            removed.append("data.decision.note")
    return removed


async def erase_leads(conn: AsyncConnection, lead_ids: Sequence[str]) -> RoutingErasure:
    ids = sorted(set(lead_ids))
    # One statement: the CTE reads what each row held (for the answer), the update blanks it.
    result = await conn.execute(
        text(
            "WITH held AS ("
            " SELECT handoff_id, note IS NOT NULL AS note,"
            " facts ?| CAST(:personal AS text[]) AS facts,"
            " EXISTS (SELECT 1 FROM jsonb_array_elements(decision) s WHERE s ? 'note'"
            "  AND s->'note' <> 'null'::jsonb) AS decision"
            " FROM routing.handoffs WHERE lead_id = ANY(CAST(:ids AS text[])) FOR UPDATE) "
            "UPDATE routing.handoffs AS h SET note = NULL,"
            " facts = h.facts - CAST(:personal AS text[]),"
            " decision = (SELECT coalesce(jsonb_agg(s - 'note' ORDER BY n), '[]'::jsonb)"
            "  FROM jsonb_array_elements(h.decision) WITH ORDINALITY AS d(s, n)) "
            "FROM held WHERE h.handoff_id = held.handoff_id "
            "RETURNING held.note, held.facts, held.decision"
        ),
        {"ids": ids, "personal": list(PERSONAL_FACTS)},
    )
    rows = result.all()
    fields = [
        name
        for name, column in (("note", 0), ("facts", 1), ("decision.note", 2))
        if any(row[column] for row in rows)
    ]
    # mql_notes is keyed by the MQL: the lead's MQLs are those of its handoffs (every MQL
    # routing reads gets its handoff in the same transaction as its note).
    notes = await conn.execute(
        text(
            "UPDATE routing.mql_notes SET reason = NULL, lead_name = NULL, company_name = NULL "
            "WHERE mql_id IN (SELECT mql_id FROM routing.handoffs"
            " WHERE lead_id = ANY(CAST(:ids AS text[])))"
            " AND (reason IS NOT NULL OR lead_name IS NOT NULL OR company_name IS NOT NULL)"
        ),
        {"ids": ids},
    )
    forgotten = await erase_outbox(conn, SCHEMA, ids, scrub_event)
    return RoutingErasure(len(rows), tuple(fields), forgotten, notes.rowcount or 0)
