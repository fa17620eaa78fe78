"""A flood of unsigned webhooks, far over the source's rate limit, while a genuine sender
keeps delivering well under it: no genuine delivery is ever answered 429, and every one is
scored, assigned and timed."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from tests.ingress_senders import JSON, dumps, standard_request
from tests.reliability.conftest import WEBHOOK_RATE
from tests.reliability.harness import settle
from tests.reliability.load import make_load
from tests.reliability.rig import Rig, soak_factor

FLOODERS = 16


async def test_a_flood_of_unsigned_webhooks_never_gets_a_genuine_delivery_429(
    rig: Rig, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    load = make_load("flood", leads=8, via="standard webhook")
    url = f"{rig.url('ingress')}/v1/webhooks/standard"
    genuine: Counter[int] = Counter()
    flood: Counter[int] = Counter()
    done = asyncio.Event()

    async def flooder() -> None:
        junk = dumps({"signals": load.signals[:1]})  # no webhook-id, timestamp or signature
        async with httpx.AsyncClient(timeout=30) as client:
            while not done.is_set():
                try:
                    flood[(await client.post(url, content=junk, headers=JSON)).status_code] += 1
                except httpx.HTTPError:
                    flood[0] += 1

    async def sender() -> None:
        for n, chunk in enumerate(load.batches(4)):
            body, headers = standard_request({"signals": chunk}, msg_id=f"msg_flood_{n}")
            status = (await http.post(url, content=body, headers=headers)).status_code
            genuine[status] += 1
            if status != 202:
                return  # refused: the test has failed, no need to wait for more
            await asyncio.sleep(0.25)  # a sender well under the limit, about 4 a second

    flooding = [asyncio.create_task(flooder()) for _ in range(FLOODERS)]
    flood_started = time.monotonic()
    try:
        await asyncio.wait_for(sender(), 120 * soak_factor())
    finally:
        done.set()
        await asyncio.gather(*flooding)
    rate = sum(flood.values()) / (time.monotonic() - flood_started)

    assert genuine == {202: len(load.batches(4))}, f"genuine answers: {dict(genuine)}"
    assert rate > 2 * WEBHOOK_RATE["per_second"], (
        f"the flood ({rate:.0f}/s) outran the limit, so a limit spent before verification "
        "would have refused the sender"
    )
    assert 202 not in flood and 200 not in flood, f"unsigned requests refused: {dict(flood)}"
    outcome = await settle(
        rig,
        http,
        load,
        faults=f"{sum(flood.values())} unsigned webhooks at {rate:.0f}/s (limit "
        f"{WEBHOOK_RATE['per_second']}/s)",
        started=started,
    )
    assert outcome.mqls
