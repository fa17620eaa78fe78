"""The broker stopped and started again. The embedded broker keeps nothing (topics, records,
consumer offsets are gone), so what this proves is recovery: while it is down every service
says so on /readyz (503 naming the broker) and POST /v1/signals refuses with 503 rather than
accepting what it cannot keep; once it is back with the topics made again, every service is
ready and new signals are scored, assigned and timed as if nothing had happened."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.reliability.harness import every_service_names_down, every_service_ready, settle, until
from tests.reliability.load import make_load, send
from tests.reliability.rig import Rig


async def test_services_report_a_stopped_broker_and_recover_when_it_returns(
    rig: Rig, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    await asyncio.to_thread(rig.stop_broker)
    try:
        await until(
            lambda: every_service_names_down(http, rig, "broker"),
            "every service to report the broker down on /readyz",
        )
        refused = await http.post(rig.signals_url, json=make_load("broker-down", 1).signals[0])
        assert refused.status_code == 503, refused.text
        assert refused.headers.get("retry-after")
    finally:
        await asyncio.to_thread(rig.start_broker)
    await until(lambda: every_service_ready(http, rig), "every service ready again", 90)

    load = make_load("broker", leads=24)
    await send(http, rig.signals_url, load)
    outcome = await settle(
        rig,
        http,
        load,
        faults="broker stopped, restarted empty, topics made again",
        started=started,
    )
    assert outcome.mqls and outcome.timers
