"""Erase a lead on request, in one transaction: its row and its aliases' rows become tombstones,
its outbox rows go or lose their traits, and `handoff.lead.erased` goes to the outbox so every
downstream service erases too. The caller's unit of work commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from handoff.db import UnitOfWork
from handoff.events import scoring as ev
from handoff.messaging import outbox
from handoff.messaging.erasure import OutboxErasure, erase_outbox
from handoff.metrics import LEADS_ERASED
from handoff_scoring.adapters import events_out, leads
from handoff_scoring.adapters.tables import SCHEMA
from handoff_scoring.domain.engagement import score_at
from handoff_scoring.domain.erasure import Erased, erase
from handoff_scoring.domain.lead import epoch_seconds
from handoff_scoring.domain.model import ScoringModel

log = structlog.get_logger("handoff.scoring")


@dataclass(frozen=True, slots=True)
class Erasure:
    """What one erasure did in scoring, and the event that carries it downstream."""

    event: ev.LeadErased
    leads: list[Erased]  # the lead first, then its aliases that had rows
    outbox: OutboxErasure


async def erase_lead(
    uow: UnitOfWork, model: ScoringModel, lead_id: str, at: datetime, requested_by: str | None
) -> Erasure | None:
    """Erase `lead_id` and its aliases; None when scoring never had the lead."""
    seen = await leads.get(uow.conn, lead_id)  # unlocked: only to learn which rows to lock
    if seen is None:
        return None
    # Lock the lead and its aliases in one statement, in lead_id order as the consumer does,
    # so an erasure and a batch holding both ids never wait on each other in a circle.
    found = await leads.load(uow.conn, [lead_id, *seen.lead.aliases])
    lead = found.get(lead_id)
    if lead is None:
        return None  # merged into another lead by an alias meanwhile
    aliases = list(lead.aliases)
    late = [a for a in aliases if a not in found and a not in seen.lead.aliases]
    found.update(await leads.load(uow.conn, late))  # aliased meanwhile: rare
    when = epoch_seconds(at)
    rows, erased = [], []
    for one in [lead_id, *aliases]:
        current = found.get(one)
        if current is None:
            continue  # merged away by the alias, so nothing of it is left
        tombstone, what = erase(current, when)
        erased.append(what)
        score = score_at(model, tombstone)
        rows.append(leads.LeadRow(tombstone, score.total, score.fit.grade, None, None))
    await leads.save(uow.conn, rows, model.version)
    forgotten = await erase_outbox(uow.conn, SCHEMA, [lead_id, *aliases], events_out.scrub_event)
    event = events_out.erased_event(lead_id, aliases, at, requested_by)
    await outbox.append(uow.conn, SCHEMA, events_out.messages([event]))

    def erased_for_good() -> None:  # said once the transaction holds, never before
        LEADS_ERASED.labels("scoring").inc()
        log.info(
            "scoring.lead.erased",
            lead_id=lead_id,
            event_id=event.id,
            aliases=len(aliases),
            activities=sum(e.activities for e in erased),
            outbox_deleted=forgotten.deleted,
            outbox_scrubbed=forgotten.scrubbed,
            requested_by=requested_by,
        )

    uow.after_commit(erased_for_good)
    return Erasure(event, erased, forgotten)
