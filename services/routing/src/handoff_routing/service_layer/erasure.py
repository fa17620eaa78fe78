"""A batch's `handoff.lead.erased` events: each lead and its aliases erased from routing, in the
consumer's transaction, after the batch's own work (adapters/erasure.py says what is kept)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from handoff.db import UnitOfWork
from handoff.events.scoring import LeadErased
from handoff.metrics import LEADS_ERASED
from handoff_routing.adapters.erasure import erase_leads

log = structlog.get_logger("handoff.routing")


async def apply_erasures(uow: UnitOfWork, events: Sequence[LeadErased]) -> None:
    """Erase each `handoff.lead.erased` event's lead and aliases; one log line per lead."""
    if events:
        uow.after_commit(lambda: LEADS_ERASED.labels("routing").inc(len(events)))
    for event in events:
        data = event.data
        done = await erase_leads(uow.conn, [data.lead_id, *data.aliases])
        log.info(
            "routing.lead.erased",
            lead_id=data.lead_id,
            event_id=event.id,
            aliases=len(data.aliases),
            handoffs=done.handoffs,
            fields=",".join(done.fields),
            outbox_deleted=done.outbox.deleted,
            outbox_scrubbed=done.outbox.scrubbed,
            mql_notes=done.mql_notes,
        )
