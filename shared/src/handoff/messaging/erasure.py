"""Erase a lead from a service's outbox: the rows keyed by its ids, published or not.

Published rows are kept an hour after the relay sent them (for inspection), and their values
are the events as sent, personal data included; erasure deletes them. Unpublished rows are
accepted work that must still reach the topic, so they are rewritten without their personal
fields instead, in the caller's transaction; the service's `handoff.lead.erased` event, written
after them, then tells every consumer to erase what the earlier events carried.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Takes a CloudEvent's parsed JSON, removes its personal fields in place, and returns the
# names of the fields it removed (empty when there were none).
Scrubber = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True, slots=True)
class OutboxErasure:
    deleted: int  # published rows removed
    scrubbed: int  # unpublished rows rewritten without personal fields
    fields: tuple[str, ...]  # the names of the fields removed from those rows


async def erase_outbox(
    conn: AsyncConnection, schema: str, lead_ids: Sequence[str], scrub: Scrubber
) -> OutboxErasure:
    """Delete the published outbox rows of these leads and scrub the unpublished ones."""
    keys = [lead_id.encode() for lead_id in lead_ids]
    deleted = await conn.execute(
        text(
            f"DELETE FROM {schema}.outbox "
            "WHERE key = ANY(CAST(:keys AS bytea[])) AND published_at IS NOT NULL"
        ),
        {"keys": keys},
    )
    # FOR UPDATE: a relay marking the row sent waits for this rewrite, and never marks a row
    # sent that it did not read; if it read the row before, it sent the old value, which the
    # erased event that follows covers downstream.
    pending = await conn.execute(
        text(
            f"SELECT id, value FROM {schema}.outbox "
            "WHERE key = ANY(CAST(:keys AS bytea[])) AND published_at IS NULL ORDER BY id FOR UPDATE"
        ),
        {"keys": keys},
    )
    ids, values, fields = [], [], set()
    for row_id, value in pending:
        try:
            event = json.loads(value)
        except ValueError:
            continue  # not JSON: nothing a scrubber could read
        if not isinstance(event, dict):
            continue
        removed = scrub(event)
        if removed:
            fields.update(removed)
            ids.append(row_id)
            values.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())
    if ids:
        await conn.execute(
            text(
                f"UPDATE {schema}.outbox AS o SET value = v.value "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:values AS bytea[])) AS v(id, value) "
                "WHERE o.id = v.id"
            ),
            {"ids": ids, "values": values},
        )
    return OutboxErasure(deleted.rowcount or 0, len(ids), tuple(sorted(fields)))


def drop_data_fields(event: dict[str, Any], names: Sequence[str]) -> list[str]:
    """Remove `data.<name>` for each name present; the `data.`-prefixed names removed."""
    data = event.get("data")
    if not isinstance(data, dict):
        return []
    return [f"data.{name}" for name in names if data.pop(name, None) is not None]
