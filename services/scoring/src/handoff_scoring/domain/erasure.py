"""Erasing a lead's personal data (APPI, GDPR): what stays of a lead, and what went.

What stays is a tombstone under the same lead id: no activity history (times, types and
properties such as url, asset or form are behaviour data about a person), no traits, no
aliases, no MQL or disqualification, only the cycle number moved on by one and the time of
the erasure. The cycle moves on so that the next MQL of the same id gets a new mql_id
(mql ids derive from lead id and cycle) and is routed afresh rather than taken for a replay;
the erasure time lets scoring drop signals that were already on their way when it happened,
so they cannot bring the erased data back. A new signal after the erasure starts a new lead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handoff_scoring.domain.lead import Lead, epoch_seconds


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure removed from one lead, as counts and field names, never values."""

    lead_id: str
    activities: int
    trait_fields: tuple[str, ...]  # dotted names, e.g. "email", "company.name"
    aliases: int
    was_mql: bool
    was_disqualified: bool

    @property
    def fields(self) -> list[str]:
        out = [f"traits.{name}" for name in self.trait_fields]
        if self.activities:
            out.append("history")
        if self.aliases:
            out.append("aliases")
        if self.was_mql:
            out.append("mql")
        if self.was_disqualified:
            out.append("disqualified")
        return out


def trait_fields(traits: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted names of the traits set, nested objects (company) spelt out."""
    names: list[str] = []
    for key in sorted(traits):
        value = traits[key]
        if isinstance(value, dict):
            names += trait_fields(value, f"{prefix}{key}.")
        elif value is not None:
            names.append(f"{prefix}{key}")
    return names


def erase(lead: Lead, at: float) -> tuple[Lead, Erased]:
    """The tombstone that replaces `lead`, and what was erased from it."""
    erased = Erased(
        lead_id=lead.lead_id,
        activities=lead.activity_count,
        trait_fields=tuple(trait_fields(lead.traits)),
        aliases=len(lead.aliases),
        was_mql=lead.qualified_at is not None,
        was_disqualified=lead.disqualified is not None,
    )
    tombstone = Lead(lead.lead_id, cycle=lead.cycle + 1, erased_at=at, history_replaced=True)
    return tombstone, erased


def signal_predates_erasure(lead: Lead | None, sent_at: datetime) -> bool:
    """True for a signal sent (its CloudEvent time, set by ingress) before the lead's last
    erasure: dropping it keeps erased data from coming back with signals in flight then."""
    if lead is None or lead.erased_at is None:
        return False  # nearly every signal: no time arithmetic on the hot path
    return epoch_seconds(sent_at) <= lead.erased_at


def with_alias(lead: Lead, previous_id: str, merged: Lead | None) -> None:
    """Remember `previous_id` (and the ids it had merged in) as the lead's aliases, so an
    erasure of the lead reaches them too."""
    seen = lead.aliases
    for alias in (previous_id, *(merged.aliases if merged else ())):
        if alias != lead.lead_id and alias not in seen:
            seen.append(alias)


def is_tombstone(lead: Lead) -> bool:
    """Erased, and nothing came in since: no score worth showing."""
    return lead.erased_at is not None and not lead.activity_count and not lead.traits
