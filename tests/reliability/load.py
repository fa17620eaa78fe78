"""The deterministic load of a reliability scenario, its fault-free outcome, and sending it.

Leads and signals have fixed ids; what they should come to (each lead's score, which leads
become MQLs, which MQLs are demo requests) is computed by the pure scoring domain from the
same signals, with the same model file the services read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from handoff.events import fact_id
from handoff.events.signals import Traits
from handoff_scoring.adapters.events_out import mql_id
from handoff_scoring.config import load_model
from handoff_scoring.domain import engagement, lifecycle
from handoff_scoring.domain.lead import Lead, epoch_seconds
from handoff_scoring.domain.model import history_properties
from handoff_scoring.domain.triggers import Qualified
from tests.factories import T0
from tests.reliability.rig import deadline, soak_factor

REPO = Path(__file__).resolve().parents[2]

# --- the load -------------------------------------------------------------------------------

# Four kinds of lead, in turn: a fitting buyer over the threshold, a demo request (instant
# MQL), a browser who stays below it, and an anonymous pricing-page visitor over it.
PROFILES: tuple[tuple[tuple[str, dict[str, Any]], ...], ...] = (
    (
        (
            "identify",
            {"traits": {"title": "VP Sales", "company": {"size": 200, "industry": "Software"}}},
        ),
        ("pricing_page_view", {}),
        ("content_download", {"properties": {"asset": "guide-roi"}}),
        ("pricing_page_view", {}),
        ("pricing_page_view", {}),
    ),
    (("page_view", {"properties": {"url": "/product"}}), ("demo_request", {})),
    (
        ("page_view", {"properties": {"url": "/blog/a"}}),
        ("email_open", {}),
        ("page_view", {"properties": {"url": "/blog/b"}}),
        ("email_click", {}),
    ),
    tuple(("pricing_page_view", {}) for _ in range(5)),
)


@dataclass
class Load:
    scenario: str
    leads: list[str]
    signals: list[dict[str, Any]]  # in sending order: the leads' steps interleaved
    via: str = "POST /v1/signals"

    def event_ids(self) -> list[str]:
        """The CloudEvent ids its signals get on the topic (a webhook derives its own)."""
        if self.via == "standard webhook":
            return [fact_id("/handoff/webhooks/standard", s["id"]) for s in self.signals]
        return [s["id"] for s in self.signals]

    def describe(self) -> str:
        return f"{len(self.signals)} signals, {len(self.leads)} leads ({self.via})"

    def batches(self, size: int) -> list[list[dict[str, Any]]]:
        return [self.signals[i : i + size] for i in range(0, len(self.signals), size)]


def make_load(scenario: str, leads: int, via: str = "POST /v1/signals") -> Load:
    """`leads` leads (times the soak factor) with fixed ids, their signals interleaved."""
    count = leads * soak_factor()
    ids = [f"{scenario}-{n:04d}" for n in range(count)]
    steps = [
        [(lead, k, kind, extra) for k, (kind, extra) in enumerate(PROFILES[n % 4])]
        for n, lead in enumerate(ids)
    ]
    out = []
    for depth in range(max(len(s) for s in steps)):
        for n, lead_steps in enumerate(steps):
            if depth < len(lead_steps):
                lead, k, kind, extra = lead_steps[depth]
                at = T0 + timedelta(minutes=n % 60, seconds=10 * k)
                out.append(
                    {
                        "id": f"{lead}-s{k}",
                        "lead_id": lead,
                        "type": kind,
                        "occurred_at": at.isoformat(),
                        **extra,
                    }
                )
    return Load(scenario, ids, out, via)


@dataclass(frozen=True)
class Expected:
    """The fault-free end state, from the pure scoring domain."""

    scores: dict[str, int]
    mqls: dict[str, str]  # lead -> mql_id, for leads that qualify (once: one cycle)
    accepted: set[str]  # leads whose MQL was a demo request: their rep accepts (SLA met)


def expected(load: Load) -> Expected:
    model = load_model(REPO / "config" / "scoring.yaml")
    leads = {lead: Lead(lead) for lead in load.leads}
    qualified: dict[str, int] = Counter()
    instant: set[str] = set()
    for s in sorted(load.signals, key=lambda s: s["occurred_at"]):
        lead, at = leads[s["lead_id"]], epoch_seconds(datetime.fromisoformat(s["occurred_at"]))
        if s["type"] == "identify":
            traits = Traits.model_validate(s["traits"]).model_dump(exclude_none=True)
            outcomes = lifecycle.apply_identify(model, lead, traits, at)
        else:
            props = history_properties(s.get("properties", {}), "api")
            outcomes = lifecycle.apply_activity(model, lead, at, s["type"], props)
        for o in outcomes:
            if isinstance(o, Qualified):
                qualified[lead.lead_id] += 1
                if o.kind == "activity":
                    instant.add(lead.lead_id)
    assert all(n <= 1 for n in qualified.values()), "the load has one MQL cycle per lead"
    return Expected(
        {lead_id: engagement.score_at(model, lead).total for lead_id, lead in leads.items()},
        {lead_id: mql_id(lead_id, 1) for lead_id, n in qualified.items() if n},
        instant,
    )


# --- sending ----------------------------------------------------------------------------


async def send(
    http: httpx.AsyncClient,
    url: str,
    load: Load,
    *,
    batch: int = 10,
    faults: Mapping[int, Callable[[], Awaitable[None]]] | None = None,
    within: float = 180,
) -> int:
    """Post the load in batches as an MA tool would: each batch again until it gets 202.

    `faults[n]` is awaited once n batches were acknowledged (a fault that should run beside
    the load starts its own task). Returns how many posts were refused and sent again.
    """
    end, refused = deadline(within), 0
    for n, chunk in enumerate(load.batches(batch)):
        if faults and n in faults:
            await faults[n]()
        while True:
            with contextlib.suppress(httpx.HTTPError):
                resp = await http.post(url, json={"signals": chunk})
                if resp.status_code == 202:
                    break
            refused += 1
            assert time.monotonic() < end, f"batch {n} of {load.scenario} never acknowledged"
            await asyncio.sleep(0.2)
    return refused
