"""kill -9 of PostgreSQL (every backend with it) mid-load, then a restart: the services report
the database down, wait, carry on, and nothing acknowledged is lost or applied twice."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.reliability.harness import every_service_names_down, settle, until
from tests.reliability.load import make_load, send
from tests.reliability.rig import Rig


async def test_a_database_killed_mid_load_loses_and_doubles_nothing(
    rig: Rig, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    load = make_load("pgkill", leads=40)
    batches = len(load.batches(5))

    async def crash() -> None:
        await asyncio.to_thread(rig.kill_database)

    async def recover() -> None:
        # Signals kept coming meanwhile: ingress needs only the broker.
        await until(
            lambda: every_service_names_down(http, rig, "database"),
            "every service to report the database down on /readyz",
        )
        await asyncio.to_thread(rig.start_database)

    await send(
        http, rig.signals_url, load, batch=5, faults={batches // 3: crash, batches // 2: recover}
    )
    outcome = await settle(
        rig, http, load, faults="kill -9 of PostgreSQL, restart (durable)", started=started
    )
    assert outcome.mqls and outcome.timers
