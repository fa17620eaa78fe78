"""50 copies of one Standard Webhooks delivery at once (a provider's retries racing each
other): one is accepted (202), 49 are answered as duplicates, and each of its signals is on
the topic exactly once, counted as records, not as distinct ids."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from handoff.events import signals
from tests.ingress_senders import standard_request
from tests.reliability.harness import TopicWatch, settle, until
from tests.reliability.load import make_load
from tests.reliability.rig import Rig

COPIES = 50


async def test_fifty_copies_of_one_webhook_publish_its_signals_once(
    rig: Rig, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    load = make_load("copies", leads=4, via="standard webhook")
    body, headers = standard_request({"signals": load.signals}, msg_id="msg_reliability_copies")
    url = f"{rig.url('ingress')}/v1/webhooks/standard"
    answers = await asyncio.gather(
        *(http.post(url, content=body, headers=headers) for _ in range(COPIES))
    )
    codes = Counter(r.status_code for r in answers)
    assert codes == {202: 1, 200: COPIES - 1}, [(r.status_code, r.text) for r in answers][:5]
    assert sum(r.json()["duplicate"] for r in answers) == COPIES - 1

    outcome = await settle(
        rig, http, load, faults=f"{COPIES} parallel copies of one delivery", started=started
    )
    watch = TopicWatch(rig.bootstrap, signals.TOPIC, load.leads)
    await watch.start()
    try:
        await until(lambda: _read_to_end(watch), "the signals topic read to its end")
    finally:
        await watch.stop()
    assert len(watch.facts) == len(load.signals), "each signal is one record on the topic"
    assert outcome.mqls


async def _read_to_end(watch: TopicWatch) -> bool:
    await watch.poll()
    return watch.caught_up()
