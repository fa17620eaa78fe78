"""notify's delivery path on real PostgreSQL: events matched to subscriptions, queued once,
sent signed to a local receiver, retried on schedule with the clock moved by hand, the
circuit breaker and the disabling of an endpoint; a hanging receiver blocks no one else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from handoff_dev.receivers import Answer, Received, WebhookReceiver
from handoff_notify.adapters.metrics import DELIVERIES_FAILED, ENDPOINTS_DISABLED
from handoff_notify.domain.attempts import Policies
from handoff_notify.domain.breaker import BreakerPolicy
from handoff_notify.domain.retry import RetryPolicy
from tests.integration.kafka_helpers import eventually
from tests.notify_helpers import (
    SECRET_NEW,
    SECRET_OLD,
    Clock,
    assigned,
    deliveries_of,
    follow_up,
    handle,
    notify_outbox,
    subscribe,
    uid,
    unsubscribe,
    worker_for,
)

NO_JITTER = RetryPolicy(schedule=(5, 300, 1800), jitter=0)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = await WebhookReceiver([SECRET_NEW, SECRET_OLD]).start()
    yield r
    await r.stop()


@pytest.fixture
async def subs(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    made: list[str] = []
    yield made
    await unsubscribe(engine, *made)


async def test_an_assigned_lead_reaches_the_receiver_signed_under_both_secrets_of_a_rotation(
    engine: AsyncEngine, database_url: str, receiver: WebhookReceiver, subs: list[str]
) -> None:
    rep = uid("rep")
    sub = await subscribe(
        engine, url=receiver.url + "/crm", secrets=(SECRET_NEW, SECRET_OLD), reps=(rep,)
    )
    subs.append(sub.subscription_id)
    e = assigned(rep)
    await handle(engine, [e])
    worker = worker_for(database_url)
    await worker.start()
    try:
        assert await worker.drain() == 1
    finally:
        await worker.stop()
    [got] = receiver.received
    assert got.path == "/crm"
    assert got.headers["webhook-id"] == e.id
    # A receiver that knows only one of the two secrets verifies the message.
    for secret in (SECRET_NEW, SECRET_OLD):
        assert Webhook(secret).verify(got.body, got.headers) == json.loads(got.body)
    body = json.loads(got.body)
    assert (body["id"], body["type"], body["data"]["rep_id"]) == (e.id, e.type, rep)
    [row] = await deliveries_of(engine, sub.subscription_id)
    assert (row["status"], row["attempts"], row["last_status"]) == ("succeeded", 1, 204)


async def test_filters_by_pool_reach_later_events_of_the_handoff_through_its_assignment(
    engine: AsyncEngine, subs: list[str]
) -> None:
    rep = uid("rep")
    types = ("handoff.lead.assigned", "handoff.lead.accepted", "handoff.sla.warning")
    emea = await subscribe(
        engine, url="http://127.0.0.1:9/x", event_types=types, pools=("emea",), reps=(rep,)
    )
    apac = await subscribe(
        engine, url="http://127.0.0.1:9/y", event_types=types, pools=("apac",), reps=(rep,)
    )
    subs.extend([emea.subscription_id, apac.subscription_id])
    first = assigned(rep, pool="emea")
    accepted = follow_up(first, "handoff.lead.accepted", at=first.data["assigned_at"])
    warned = follow_up(first, "handoff.sla.warning", stage="accept")
    rejected = follow_up(first, "handoff.lead.rejected", reason_code="bad_fit")
    await handle(engine, [first])
    await handle(engine, [accepted, warned, rejected])
    got = [r["event_type"] for r in await deliveries_of(engine, emea.subscription_id)]
    assert sorted(got) == sorted(types)  # rejected is not among the subscription's types
    assert await deliveries_of(engine, apac.subscription_id) == []


async def test_an_event_consumed_twice_is_queued_once_per_subscription(
    engine: AsyncEngine, subs: list[str]
) -> None:
    rep = uid("rep")
    a = await subscribe(engine, url="http://127.0.0.1:9/a", reps=(rep,))
    b = await subscribe(engine, url="http://127.0.0.1:9/b", reps=(rep,))
    subs.extend([a.subscription_id, b.subscription_id])
    e = assigned(rep)
    await handle(engine, [e, e])
    await handle(engine, [e])
    for sub in (a, b):
        assert [r["event_id"] for r in await deliveries_of(engine, sub.subscription_id)] == [e.id]


async def test_a_failing_receiver_is_retried_on_the_schedule_with_time_moved_by_hand(
    engine: AsyncEngine, database_url: str, subs: list[str]
) -> None:
    answers = iter([Answer(500, b"boom"), Answer(503), Answer(200)])
    receiver = await WebhookReceiver([SECRET_NEW], lambda _: next(answers)).start()
    rep = uid("rep")
    sub = await subscribe(engine, url=receiver.url, secrets=(SECRET_NEW,), reps=(rep,))
    subs.append(sub.subscription_id)
    await handle(engine, [assigned(rep)])
    clock = Clock()  # after the queueing: deliveries are due at the wall clock's now
    worker = worker_for(database_url, clock, policies=Policies(retry=NO_JITTER))
    await worker.start()
    try:
        assert await worker.drain() == 1
        [row] = await deliveries_of(engine, sub.subscription_id)
        assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, 500)
        assert row["last_response"] == "boom"
        assert (row["next_at"] - clock.now).total_seconds() == pytest.approx(5)
        clock.advance(4.9)
        assert await worker.drain() == 0  # not yet due
        clock.advance(0.2)
        assert await worker.drain() == 1
        [row] = await deliveries_of(engine, sub.subscription_id)
        assert (row["attempts"], row["last_status"]) == (2, 503)
        assert (row["next_at"] - clock.now).total_seconds() == pytest.approx(300)
        clock.advance(300)
        assert await worker.drain() == 1
        [row] = await deliveries_of(engine, sub.subscription_id)
        assert (row["status"], row["attempts"], row["last_status"]) == ("succeeded", 3, 200)
        assert len(receiver.received) == 3
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # the same message
    finally:
        await worker.stop()
        await receiver.stop()


async def test_retry_after_is_honoured_and_a_spent_schedule_fails_with_an_event(
    engine: AsyncEngine, database_url: str, subs: list[str]
) -> None:
    receiver = await WebhookReceiver(
        [], lambda _: Answer(429, headers={"retry-after": "120"})
    ).start()
    rep = uid("rep")
    sub = await subscribe(engine, url=receiver.url, secrets=(SECRET_NEW,), reps=(rep,))
    subs.append(sub.subscription_id)
    await handle(engine, [assigned(rep)])
    failed_before = DELIVERIES_FAILED.labels("webhook")._value.get()
    clock = Clock()
    policies = Policies(retry=RetryPolicy(schedule=(5,), jitter=0))
    worker = worker_for(database_url, clock, policies=policies)
    await worker.start()
    try:
        await worker.drain()
        [row] = await deliveries_of(engine, sub.subscription_id)
        assert (row["next_at"] - clock.now).total_seconds() == pytest.approx(120)  # not 5
        clock.advance(120)
        await worker.drain()
        [row] = await deliveries_of(engine, sub.subscription_id)
        assert (row["status"], row["attempts"], row["next_at"]) == ("failed", 2, None)
        [failed] = await notify_outbox(engine, row["delivery_id"])
        data = json.loads(failed)
        assert data["type"] == "handoff.delivery.failed"
        assert (data["data"]["attempts"], data["data"]["last_status"]) == (2, 429)
        assert DELIVERIES_FAILED.labels("webhook")._value.get() == failed_before + 1
    finally:
        await worker.stop()
        await receiver.stop()


async def test_the_breaker_opens_after_failures_and_the_endpoint_is_disabled_after_failing_long(
    engine: AsyncEngine, database_url: str, subs: list[str]
) -> None:
    receiver = await WebhookReceiver([], lambda _: Answer(500)).start()
    rep = uid("rep")
    sub = await subscribe(engine, url=receiver.url, secrets=(SECRET_NEW,), reps=(rep,))
    subs.append(sub.subscription_id)
    disabled_before = ENDPOINTS_DISABLED.labels("webhook")._value.get()
    await handle(engine, [assigned(rep) for _ in range(3)])
    clock = Clock()
    policies = Policies(
        retry=RetryPolicy(schedule=(1, 1, 1, 1, 1, 1, 1, 1), jitter=0),
        breaker=BreakerPolicy(failures_to_open=2, open_seconds=60, disable_after_seconds=3600),
    )
    worker = worker_for(database_url, clock, policies=policies, per_endpoint=1)
    await worker.start()
    try:
        # One at a time (per_endpoint=1): two failures open the breaker.
        await worker.claim_and_start()
        await asyncio.gather(*worker.tasks)
        await worker.claim_and_start()
        await asyncio.gather(*worker.tasks)
        assert len(receiver.received) == 2
        clock.advance(30)  # every delivery is due again, but the breaker is open
        assert await worker.drain() == 0
        assert len(receiver.received) == 2
        clock.advance(31)  # the breaker lets tries through again
        assert await worker.drain() >= 1
        tries = len(receiver.received)
        assert tries > 2
        clock.advance(3600)  # failing for an hour, with no success: disabled
        await worker.drain()
        rows = await deliveries_of(engine, sub.subscription_id)
        assert all(r["status"] == "pending" for r in rows)  # kept for when it is enabled again
        [body] = [
            e
            for v in await notify_outbox(engine, sub.subscription_id)
            if (e := json.loads(v))["type"] == "handoff.endpoint.disabled"
        ]
        assert body["type"] == "handoff.endpoint.disabled"
        assert "failing without a success" in body["data"]["reason"]
        assert ENDPOINTS_DISABLED.labels("webhook")._value.get() == disabled_before + 1
        clock.advance(3600)
        before = len(receiver.received)
        assert await worker.drain() == 0  # nothing more goes to a disabled endpoint
        assert len(receiver.received) == before
    finally:
        await worker.stop()
        await receiver.stop()


async def test_a_410_gone_disables_the_endpoint_at_once(
    engine: AsyncEngine, database_url: str, subs: list[str]
) -> None:
    receiver = await WebhookReceiver([], lambda _: Answer(410)).start()
    rep = uid("rep")
    sub = await subscribe(engine, url=receiver.url, secrets=(SECRET_NEW,), reps=(rep,))
    subs.append(sub.subscription_id)
    worker = worker_for(database_url, per_endpoint=1)
    await worker.start()
    try:
        await handle(engine, [assigned(rep), assigned(rep)])
        await worker.drain()
        assert len(receiver.received) == 1
        [row] = [r for r in await deliveries_of(engine, sub.subscription_id) if r["attempts"]]
        assert (row["status"], row["last_status"]) == ("failed", 410)
        events = [json.loads(v) for v in await notify_outbox(engine, sub.subscription_id)]
        by_type = {e["type"]: e for e in events}
        assert sorted(by_type) == ["handoff.delivery.failed", "handoff.endpoint.disabled"]
        assert "410" in by_type["handoff.endpoint.disabled"]["data"]["reason"]
    finally:
        await worker.stop()
        await receiver.stop()


async def test_a_hanging_receiver_and_a_resetting_one_do_not_hold_up_a_healthy_one(
    engine: AsyncEngine, database_url: str, subs: list[str]
) -> None:
    hanging = await WebhookReceiver([], lambda _: Answer(hang=True)).start()
    resetting = await WebhookReceiver([], lambda _: Answer(reset=True)).start()
    healthy = await WebhookReceiver([SECRET_NEW]).start()
    rep = uid("rep")
    for r in (hanging, resetting, healthy):
        sub = await subscribe(engine, url=r.url, secrets=(SECRET_NEW,), reps=(rep,))
        subs.append(sub.subscription_id)
    worker = worker_for(database_url, timeout=30, per_endpoint=2)
    run = asyncio.create_task(worker.run())
    try:
        await handle(engine, [assigned(rep) for _ in range(10)])
        # The healthy endpoint gets all ten while the hanging one holds its two slots.
        got = await healthy.wait_for(10, within=20)
        assert all(g.verified for g in got)
        assert len(hanging.received) == 2
        assert len(resetting.received) >= 1
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        for r in (hanging, resetting, healthy):
            await r.stop()


async def test_a_receiver_that_never_answers_is_cut_off_at_the_timeout(
    engine: AsyncEngine, database_url: str, subs: list[str]
) -> None:
    hanging = await WebhookReceiver([], lambda _: Answer(hang=True)).start()
    rep = uid("rep")
    sub = await subscribe(engine, url=hanging.url, secrets=(SECRET_NEW,), reps=(rep,))
    subs.append(sub.subscription_id)
    worker = worker_for(database_url, timeout=0.5)
    await worker.start()
    try:
        await handle(engine, [assigned(rep)])
        await worker.drain()
        [row] = await deliveries_of(engine, sub.subscription_id)
        assert (row["status"], row["last_status"]) == ("pending", None)
        assert "no answer within 0.5 s" in row["last_error"]
    finally:
        await worker.stop()
        await hanging.stop()


async def test_two_workers_on_one_queue_send_every_delivery_once(
    engine: AsyncEngine, database_url: str, subs: list[str]
) -> None:
    seen: list[str] = []

    def slow_ok(r: Received) -> Answer:
        seen.append(r.headers["webhook-id"])
        return Answer(200)

    receiver = await WebhookReceiver([], slow_ok).start()
    rep = uid("rep")
    ours = [
        (await subscribe(engine, url=receiver.url, secrets=(SECRET_NEW,), reps=(rep,)))
        for _ in range(2)
    ]
    subs.extend(sub.subscription_id for sub in ours)
    events = [assigned(rep) for _ in range(150)]
    await handle(engine, events)
    workers = [worker_for(database_url, per_endpoint=8) for _ in range(2)]
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        await receiver.wait_for(300, within=60)
        assert await eventually(lambda: _all_succeeded(engine, [s.subscription_id for s in ours]))
        # Every delivery done, so none is tried again; the workers stopped, so none is in
        # flight: what the receiver holds now is every send, a duplicate included.
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        ids = [(r.headers["webhook-id"], r.path) for r in receiver.received]
        assert len(ids) == 300
        assert len(set(seen)) == 150
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        await receiver.stop()


async def _all_succeeded(engine: AsyncEngine, subscription_ids: list[str]) -> bool:
    rows = [r for sub in subscription_ids for r in await deliveries_of(engine, sub)]
    return bool(rows) and all(r["status"] == "succeeded" for r in rows)
