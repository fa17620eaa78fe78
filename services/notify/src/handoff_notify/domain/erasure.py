"""What erasing a lead means for a delivery notify still holds (pure: no database here).

A delivered or failed delivery keeps its row for the delivery log (status, attempts, times)
and loses its body and the receiver's answer. A pending Slack or email notice is cancelled:
no person is told about an erased lead. A pending webhook still goes out, since the receiver
subscribed to the facts (assigned, accepted, ...), but without the fields that point to the
person: the traits, names, and the free-text notes and reasons.
"""

from __future__ import annotations

import json
from typing import Any

ERASED = "handoff.lead.erased"
CANCELLED_BECAUSE = "cancelled: the lead was erased"

# `data.<field>` that may name or describe the person: the traits (email, name, title,
# company), names notify or a producer may add, and free text (reject and disposition
# notes, MQL reasons and an unassigned lead's reason, which quote the lead's details).
PERSONAL_DATA_FIELDS = (
    "traits",
    "email",
    "name",
    "lead_name",
    "company_name",
    "title",
    "note",
    "reason",
)


def strip_personal(event: dict[str, Any]) -> list[str]:
    """Remove the personal fields of a CloudEvent in place; the names of those removed."""
    data = event.get("data")
    if not isinstance(data, dict):
        return []
    removed = [f"data.{n}" for n in PERSONAL_DATA_FIELDS if data.pop(n, None) is not None]
    steps = data.get("decision")
    if isinstance(steps, list):  # routing's decision steps: their notes name matched domains
        noted = [s for s in steps if isinstance(s, dict) and s.pop("note", None) is not None]
        if noted:
            removed.append("data.decision.note")
    return removed


def stripped_body(body: bytes) -> tuple[bytes, list[str]]:
    """A pending webhook's body without its personal fields. A body that is not a JSON
    object cannot be read field by field, so it is replaced by an empty object."""
    try:
        event = json.loads(body)
    except ValueError:
        return b"{}", ["body"]
    if not isinstance(event, dict):
        return b"{}", ["body"]
    removed = strip_personal(event)
    if not removed:
        return body, []
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode(), removed
