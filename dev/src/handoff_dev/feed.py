"""The demo feed: synthetic but plausible leads and signals, and simulated reps who act on them."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from handoff.events import routing

TITLES = [
    "部長",
    "本部長",
    "課長",
    "取締役",
    "CTO",
    "VP Engineering",
    "Head of Marketing",
    "Marketing Manager",
    "IT Director",
    "Software Engineer",
    "Student",
]
INDUSTRIES = [
    "Software",
    "Manufacturing",
    "Financial Services",
    "Retail",
    "Healthcare",
    "Logistics",
]
PLACES = [
    ("JP", "Tokyo"),
    ("JP", "Osaka"),
    ("JP", "Fukuoka"),
    ("US", "California"),
    ("US", "New York"),
    ("GB", "London"),
    ("DE", "Berlin"),
]
COMPANIES = [
    "Sakura Systems",
    "Hikari Logistics",
    "Fuji Retail",
    "Acme Analytics",
    "Northwind",
    "Kansai Seimitsu",
    "Blue Harbor Bank",
    "Tsubame Health",
]
REJECT_REASONS = [
    "not_decision_maker",
    "no_budget",
    "bad_contact_info",
    "not_now",
    "wrong_territory",
]

# A journey is a list of (activity type, properties); some end in an MQL, some never do.
JOURNEYS: list[list[tuple[str, dict[str, Any]]]] = [
    [
        ("page_view", {"url": "/"}),
        ("content_download", {"asset": "roi-guide"}),
        ("pricing_page_view", {"url": "/pricing"}),
        ("webinar_attended", {"campaign": "q4-webinar"}),
        ("pricing_page_view", {"url": "/pricing"}),
        ("email_click", {"campaign": "nurture-3"}),
        ("content_download", {"asset": "case-study"}),
    ],
    [("page_view", {"url": "/product"}), ("demo_request", {"url": "/demo"})],
    [
        ("email_open", {"campaign": "newsletter"}),
        ("email_click", {"campaign": "newsletter"}),
        ("page_view", {"url": "/blog/lead-scoring"}),
    ],
    [
        ("page_view", {"url": "/"}),
        ("contact_sales", {"url": "/contact"}),
        ("pricing_page_view", {"url": "/pricing"}),
    ],
    [
        ("content_download", {"asset": "whitepaper"}),
        ("content_download", {"asset": "checklist"}),
        ("webinar_attended", {"campaign": "jp-seminar"}),
        ("pricing_page_view", {"url": "/ja/pricing"}),
        ("pricing_page_view", {"url": "/ja/pricing"}),
        ("email_click", {"campaign": "follow-up"}),
    ],
]


@dataclass
class RepBehaviour:
    accept: float = 0.55
    reject: float = 0.2  # the rest is ignored, and the SLA breaches
    work: float = 0.9  # share of accepted leads the rep contacts and then dispositions
    # Near 0.55 x 0.9 x 0.45 = 22% MQL -> SQL: inside the healthy 20-30% band on the dashboard.
    outcomes: tuple[tuple[str, float], ...] = (
        ("sql", 0.45),
        ("nurture", 0.30),
        ("disqualified", 0.15),
        ("recycle", 0.10),
    )


class DemoFeed:
    """Posts signals to ingress over HTTP and plays the reps against routing's API."""

    def __init__(
        self,
        ingress_url: str,
        routing_url: str,
        api_key: str,
        *,
        seed: int | None = None,
        reps: RepBehaviour | None = None,
    ) -> None:
        self.ingress_url, self.routing_url = ingress_url, routing_url
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.rng = random.Random(seed)
        self.reps = reps or RepBehaviour()
        self.counter = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def _traits(self, n: int) -> dict[str, Any]:
        country, region = self.rng.choice(PLACES)
        company = self.rng.choice(COMPANIES)
        domain = company.lower().replace(" ", "-") + (".co.jp" if country == "JP" else ".com")
        return {
            "email": f"lead{n}@{domain}",
            "name": f"Lead {n}",
            "title": self.rng.choice(TITLES),
            "company": {
                "name": company,
                "domain": domain,
                "size": self.rng.choice([12, 45, 120, 300, 800, 2500]),
                "industry": self.rng.choice(INDUSTRIES),
                "country": country,
                "region": region,
            },
        }

    async def _signal(
        self, client: httpx.AsyncClient, lead_id: str, kind: str, **extra: Any
    ) -> None:
        self.counter += 1
        body = {
            "id": f"demo-{lead_id}-{self.counter}",
            "lead_id": lead_id,
            "type": kind,
            "occurred_at": datetime.now(UTC).isoformat(),
            "source": "demo",
            **extra,
        }
        with contextlib.suppress(
            httpx.HTTPError
        ):  # the demo keeps going; the services log their side
            await client.post(f"{self.ingress_url}/v1/signals", json=body, headers=self.headers)

    async def _journey(self, client: httpx.AsyncClient, n: int) -> None:
        lead_id = f"L-{n:04d}"
        await self._signal(client, lead_id, "identify", traits=self._traits(n))
        for kind, props in self.rng.choice(JOURNEYS):
            await asyncio.sleep(self.rng.uniform(0.3, 1.5))
            await self._signal(client, lead_id, kind, properties=props)

    async def run(self, leads_per_second: float = 0.7) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            n = 0
            while True:
                n += 1
                self._spawn(self._journey(client, n))
                await asyncio.sleep(self.rng.expovariate(leads_per_second))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def on_event(self, event: Any) -> None:
        """Simulated reps: accept most assignments, reject some with a reason, ignore the rest."""
        if isinstance(event, routing.LeadAssigned):
            self._spawn(self._rep_acts(event.data))

    async def _rep_acts(self, assigned: routing.AssignedData) -> None:
        roll = self.rng.random()
        if roll > self.reps.accept + self.reps.reject:
            return  # ignored: the SLA will breach
        await asyncio.sleep(self.rng.uniform(2, 8))
        url = f"{self.routing_url}/v1/handoffs/{assigned.handoff_id}"
        if roll < self.reps.accept:
            action, body = "accept", {"rep_id": assigned.rep_id}
        else:
            action, body = (
                "reject",
                {
                    "rep_id": assigned.rep_id,
                    "reason_code": self.rng.choice(REJECT_REASONS),
                    "note": "demo",
                },
            )
        async with httpx.AsyncClient(timeout=10) as client:
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.post(f"{url}/{action}", json=body, headers=self.headers)
                if action == "accept" and answer.status_code == 200:
                    await self._rep_works(client, url, assigned.rep_id)

    async def _rep_works(self, client: httpx.AsyncClient, url: str, rep_id: str) -> None:
        """After an accept, most reps call the lead and then say how it went, so the demo's
        funnel reaches SQL."""
        if self.rng.random() >= self.reps.work:
            return
        await asyncio.sleep(self.rng.uniform(2, 6))
        channel = self.rng.choice(["phone", "email"])
        contact = {"rep_id": rep_id, "channel": channel}
        answer = await client.post(f"{url}/contact", json=contact, headers=self.headers)
        if answer.status_code != 200:
            return
        await asyncio.sleep(self.rng.uniform(3, 10))
        names = [name for name, _ in self.reps.outcomes]
        weights = [weight for _, weight in self.reps.outcomes]
        outcome = self.rng.choices(names, weights)[0]
        body = {"rep_id": rep_id, "outcome": outcome, "note": "demo"}
        await client.post(f"{url}/disposition", json=body, headers=self.headers)
