"""routing scaled from 1 to 3 instances and back to 1 while MQLs stream in: the partitions
move twice each way, and still every MQL is assigned once and every timer fires once."""

from __future__ import annotations

import asyncio
import time

import httpx

from handoff_dev.processes import ServiceProcess
from tests.reliability.harness import settle
from tests.reliability.load import make_load, send
from tests.reliability.rig import Rig


async def test_routing_scaled_one_three_one_mid_stream_loses_and_doubles_nothing(
    rig: Rig, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    load = make_load("scale", leads=40)
    batches = len(load.batches(5))
    extra: list[ServiceProcess] = []

    async def scale_up() -> None:
        extra.extend(await asyncio.gather(rig.add_instance("routing"), rig.add_instance("routing")))

    async def scale_down() -> None:
        for proc in extra:
            await rig.remove_instance(proc)

    faults = {batches // 4: scale_up, batches // 2: scale_down}
    await send(http, rig.signals_url, load, batch=5, faults=faults)
    assert len(extra) == 2 and not rig.extra, "two instances came and went"
    outcome = await settle(rig, http, load, faults="routing 1 -> 3 -> 1 instances", started=started)
    assert outcome.mqls and outcome.timers
