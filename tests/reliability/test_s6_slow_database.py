"""A slow database: every chunk scoring sends to PostgreSQL waits 50 ms in a proxy (its
statements, its outbox relay, its readiness check). Scoring falls behind, catches up, and
nothing is lost or doubled."""

from __future__ import annotations

import time

import httpx

from tests.reliability.harness import settle
from tests.reliability.load import make_load, send
from tests.reliability.rig import Rig

DELAY = 0.05


async def test_a_slow_database_under_scoring_delays_but_loses_and_doubles_nothing(
    rig: Rig, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    load = make_load("slowdb", leads=40)
    proxy = rig.proxies["scoring"]
    before = proxy.chunks_delayed
    proxy.delay = DELAY
    try:
        await send(http, rig.signals_url, load, batch=5)
        outcome = await settle(
            rig,
            http,
            load,
            faults=f"+{DELAY * 1000:.0f} ms per packet scoring -> PostgreSQL",
            started=started,
        )
    finally:
        proxy.delay = 0.0
    assert proxy.chunks_delayed - before > 20, "scoring's statements went through the slow proxy"
    assert outcome.mqls and outcome.timers
