"""kill -9 of every service mid-load, several times: restarted, the load goes on, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.reliability.harness import settle
from tests.reliability.load import make_load, send
from tests.reliability.rig import Rig, soak_factor


async def test_services_killed_mid_load_lose_and_double_nothing(
    rig: Rig, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    load = make_load("kill", leads=40)
    services = list(rig.stack.services)
    restarts: list[asyncio.Task[None]] = []

    async def kill_every_service() -> None:
        # One round: each service SIGKILLed (no shutdown, no offset commit), then all restart
        # together while the load keeps coming (posts are retried while ingress is down).
        await asyncio.gather(*restarts)
        for service in services:
            await rig.kill(service)
        restarts.append(asyncio.create_task(_restart_all(rig, services)))

    rounds = 2 * soak_factor()
    batches = len(load.batches(5))
    faults = {1 + n * batches // (rounds + 1): kill_every_service for n in range(rounds)}
    refused = await send(http, rig.signals_url, load, batch=5, faults=faults)
    await asyncio.gather(*restarts)

    kills = rounds * len(services)
    outcome = await settle(
        rig, http, load, faults=f"kill -9 x{kills} ({rounds} of each service)", started=started
    )
    assert outcome.mqls and outcome.timers, "the load made MQLs and timers to check"
    assert refused, "while ingress was down, posts were refused and sent again"


async def _restart_all(rig: Rig, services: list[str]) -> None:
    await asyncio.gather(*(rig.restart(s) for s in services))
