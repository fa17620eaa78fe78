"""The one JSON form of a routing decision's steps: what handoff.lead.assigned and .unassigned
carry, what routing.handoffs.decision stores, and what GET /v1/handoffs/{id}/decision shows.

Fields that hold nothing are left out, as the event models write them. Rows written before
this form kept them as nulls; `decode` reads both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from handoff.events import routing as ev
from handoff_routing.domain.decision import DecisionStep
from handoff_routing.domain.roster import Candidate


def encode(steps: Iterable[DecisionStep]) -> list[dict[str, Any]]:
    """The steps as JSON-ready dicts, in the order they were taken."""
    out = []
    for s in steps:
        step: dict[str, Any] = {"rule": s.rule, "matched": s.matched}
        if s.pool is not None:
            step["pool"] = s.pool
        step["candidates"] = [
            {"rep_id": c.rep_id}
            if c.skipped is None
            else {"rep_id": c.rep_id, "skipped": c.skipped}
            for c in s.candidates
        ]
        if s.note is not None:
            step["note"] = s.note
        out.append(step)
    return out


def decode(raw: Sequence[Mapping[str, Any]]) -> tuple[DecisionStep, ...]:
    return tuple(
        DecisionStep(
            rule=s["rule"],
            matched=s["matched"],
            pool=s.get("pool"),
            candidates=tuple(
                Candidate(c["rep_id"], c.get("skipped")) for c in s.get("candidates", ())
            ),
            note=s.get("note"),
        )
        for s in raw
    )


def models(steps: Iterable[DecisionStep]) -> list[ev.DecisionStep]:
    """The steps as the shared event models, for the API's answer."""
    # model_construct: these values come from the domain, not from outside; validating them
    # again would only cost time.
    return [
        ev.DecisionStep.model_construct(
            rule=s.rule,
            matched=s.matched,
            pool=s.pool,
            candidates=[
                ev.Candidate.model_construct(rep_id=c.rep_id, skipped=c.skipped)
                for c in s.candidates
            ],
            note=s.note,
        )
        for s in steps
    ]
