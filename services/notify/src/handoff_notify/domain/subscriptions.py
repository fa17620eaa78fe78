"""Subscriptions and the facts of an event they filter on; matching is a pure function."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Channel = Literal["webhook", "slack", "email"]

# Every event type notify can pass on; a subscription naming another is a mistake.
EVENT_TYPES = frozenset(
    {
        "handoff.lead.assigned",
        "handoff.lead.unassigned",
        "handoff.lead.accepted",
        "handoff.lead.rejected",
        "handoff.lead.contacted",
        "handoff.lead.dispositioned",
        "handoff.lead.recycled",
        "handoff.lead.reassigned",
        "handoff.sla.started",
        "handoff.sla.warning",
        "handoff.sla.breached",
        "handoff.sla.escalated",
        "handoff.sla.met",
        "handoff.funnel.alert",
        # On handoff.scoring.v1: a lead's personal data was erased; a CRM erases its copy too.
        "handoff.lead.erased",
    }
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What a subscription's filters look at, taken from the event and the handoff it is about."""

    event_id: str
    type: str
    lead_id: str | None = None
    handoff_id: str | None = None
    rep_id: str | None = None
    pool: str | None = None
    team: str | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """Where to send which events. An empty filter list means "any"."""

    subscription_id: str
    channel: Channel
    url: str
    event_types: tuple[str, ...]
    secrets: tuple[str, ...] = ()  # whsec_ secrets, the newest first; two during a rotation
    pools: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    reps: tuple[str, ...] = ()
    language: str | None = None  # slack and email: "en" or "ja"; None follows the rep or team
    disabled: bool = False
    description: str = ""
    origin: Literal["config", "api"] = "api"
    extra: dict[str, str] = field(default_factory=dict)

    def wants(self, facts: Facts) -> bool:
        if self.disabled or facts.type not in self.event_types:
            return False
        return (
            _allows(self.pools, facts.pool)
            and _allows(self.teams, facts.team)
            and _allows(self.reps, facts.rep_id)
        )


def _allows(wanted: tuple[str, ...], value: str | None) -> bool:
    return not wanted or value in wanted


def matching(subscriptions: Iterable[Subscription], facts: Facts) -> list[Subscription]:
    return [s for s in subscriptions if s.wants(facts)]
