"""SLA firing beside a claim-and-delete baseline, on the same table of a million pending timers.

Fire lag is the time from a timer's due time to the commit that puts its breach in the
outbox (durable, relayed right after by NOTIFY). Two figures, each beside a same-run
baseline that only claims the same due rows with FOR UPDATE SKIP LOCKED and deletes them:

- steady rate: timers falling due evenly (`--rate` per second for `--seconds`), lag p50/p99;
- burst: `--burst` timers due at the same instant, time until the last one is fired.

Both loops are the real Firer (sleep until the next due time, same batch size and
connections, `--batch`, `--workers`); only what a claimed batch does differs: the baseline
deletes the claimed rows of the due queue (`sla.due`), the firer deletes them too, writes
the timer row back (a HOT update) and outboxes the breach. Goals (issue 14): the burst
drained within 2x the baseline, p99 lag at most 25 ms.

    uv run python -m bench sla         # or: uv run python -m bench.sla --pending 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import results
from bench.stack import embedded_stack
from handoff.db import asyncpg_dsn, create_engine
from handoff.logs import configure_logging
from handoff.runtime import tune_gc
from handoff_sla_watch.adapters.timers import DueTimers
from handoff_sla_watch.domain.model import Timer, TimerState
from handoff_sla_watch.entrypoints.firer import FIRE_BATCH, FIRE_WORKERS, Alarm, Firer
from handoff_sla_watch.service_layer.firing import FiredBatch, Firing

# Every timer goes with its row in the due queue, as the consumer's repository writes them.
INSERT = (
    "WITH t AS (INSERT INTO sla.timers (timer_id, lead_id, handoff_id, rep_id, pool, policy, "
    "stage, started_at, due_at, next_at, state) "
    "SELECT :tag || '-' || n, 'L-' || :tag || '-' || n, 'H-' || :tag || '-' || n, "
    "'rep-' || (n % 50), 'inside-sales', 'bench', 'accept', now(), due, due, 'pending' "
    "FROM (SELECT n, {due} AS due FROM generate_series(1, CAST(:count AS int)) AS n) AS s "
    "RETURNING timer_id, next_at) "
    "INSERT INTO sla.due (timer_id, next_at, kind) SELECT timer_id, next_at, 'breach' FROM t"
)


class Recorder:
    """Lag of every fired timer, taken at the commit that made its events durable."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.last_commit = 0.0

    def record(self, due: list[datetime]) -> None:
        now = time.time()
        self.last_commit = now
        self.lags.extend(now - d.timestamp() for d in due)


class RecordingFiring(Firing):
    """The real firing (policy, chain, events to the outbox), recording lag after commit."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(())
        self.recorder = recorder

    def report(self, done: FiredBatch) -> None:
        super().report(done)
        self.recorder.record([t.due_at for t, _ in done if t.due_at is not None])


class BaselineFiring(Firing):
    """The baseline: claim the due rows with SKIP LOCKED and delete them; nothing else.

    It works the same narrow queue the firer claims from (`sla.due`), so it is the least any
    firer must do; its timers stay pending, out of the queue, and the firer never sees them.
    """

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(())
        self.recorder = recorder

    async def fire_batch(self, due: DueTimers, *, now: datetime | None, limit: int) -> FiredBatch:
        rows = await due.conn.fetch(
            "DELETE FROM sla.due WHERE timer_id IN ("
            "  SELECT timer_id FROM sla.due WHERE next_at <= now()"
            "  ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED"
            ") RETURNING next_at",
            limit,
        )
        return [
            (Timer("", "", "", "", "", TimerState.PENDING, due_at=r["next_at"]), []) for r in rows
        ]

    def report(self, done: FiredBatch) -> None:
        self.recorder.record([t.due_at for t, _ in done if t.due_at is not None])


async def insert(engine: AsyncEngine, count: int, due_sql: str, **params: object) -> str:
    tag = uuid.uuid4().hex[:8]
    async with engine.begin() as conn:
        await conn.execute(text(INSERT.format(due=due_sql)), {"tag": tag, "count": count, **params})
    return tag


# The firer's settings (HANDOFF_SLA_FIRE_BATCH, HANDOFF_SLA_FIRE_WORKERS), for both loops.
TUNING = {"batch": FIRE_BATCH, "workers": FIRE_WORKERS}


async def run_firer(
    engine: AsyncEngine, make: Callable[[Recorder], Firing], until: Callable[[Recorder], bool]
) -> Recorder:
    recorder = Recorder()
    dsn = asyncpg_dsn(engine.url.render_as_string(hide_password=False))
    firer = Firer(dsn, make(recorder), Alarm(), max_sleep_seconds=1.0, **TUNING)
    task = asyncio.create_task(firer.run())
    try:
        while not until(recorder):
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return recorder


def ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] * 1000 if values else 0.0


async def steady(
    engine: AsyncEngine, make: Callable[[Recorder], Firing], rate: int, seconds: float
) -> Recorder:
    count = int(rate * seconds)
    # due from 2 s from now, evenly spaced: the firer sleeps until each next due time
    await insert(
        engine,
        count,
        "now() + make_interval(secs => 2 + n / CAST(:rate AS float8))",
        rate=float(rate),
    )
    return await run_firer(engine, make, lambda r: len(r.lags) >= count)


async def burst(
    engine: AsyncEngine, make: Callable[[Recorder], Firing], count: int
) -> tuple[float, Recorder]:
    async with engine.connect() as conn:
        due_at = (await conn.execute(text("SELECT now() + interval '3 seconds'"))).scalar_one()
    await insert(engine, count, "CAST(:due AS timestamptz)", due=due_at)
    recorder = await run_firer(engine, make, lambda r: len(r.lags) >= count)
    return recorder.last_commit - due_at.timestamp(), recorder


async def bench(
    database_url: str, pending: int, rate: int, seconds: float, burst_size: int
) -> None:
    engine = create_engine(database_url)
    try:
        started = time.perf_counter()
        await insert(
            engine,
            pending,
            "now() + interval '30 days' + make_interval(secs => n)",
        )
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE sla.timers"))
            await auto.execute(text("VACUUM ANALYZE sla.due"))
        print(
            f"pending timers: {pending:,} (loaded in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )

        base = await steady(engine, BaselineFiring, rate, seconds)
        real = await steady(engine, RecordingFiring, rate, seconds)
        print(
            f"steady {rate}/s for {seconds:g} s: fire lag p50 {ms(real.lags, 0.5):.1f} ms, "
            f"p99 {ms(real.lags, 0.99):.1f} ms, max {max(real.lags) * 1000:.1f} ms "
            f"(baseline claim+delete: p50 {ms(base.lags, 0.5):.1f} ms, "
            f"p99 {ms(base.lags, 0.99):.1f} ms)",
            flush=True,
        )
        base_drain, _ = await burst(engine, BaselineFiring, burst_size)
        real_drain, _ = await burst(engine, RecordingFiring, burst_size)
        print(
            f"burst of {burst_size:,} due at once: drained in {real_drain:.2f} s "
            f"({burst_size / real_drain:,.0f} timers/s; baseline claim+delete {base_drain:.2f} s, "
            f"{burst_size / base_drain:,.0f} timers/s)",
            flush=True,
        )
        print(
            f"ratio sla-watch / baseline: drain time {real_drain / base_drain:.2f}x, "
            f"p99 lag {ms(real.lags, 0.99) / max(ms(base.lags, 0.99), 0.001):.2f}x "
            "(goals: drain <= 2x the baseline, p99 <= 25 ms)"
        )
        results.record(
            f"{burst_size:,} timers due at once, drain / claim-and-delete baseline",
            real_drain / base_drain,
            "x",
            "<= 2",
        )
        results.record(
            f"timer fire lag p99 at {rate:,}/s with {pending:,} pending",
            ms(real.lags, 0.99),
            "ms",
            "<= 25",
        )
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=1000, help="timers falling due per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=FIRE_BATCH, help="timers per transaction")
    parser.add_argument("--workers", type=int, default=FIRE_WORKERS, help="connections draining")
    args = parser.parse_args(argv)
    TUNING.update(batch=args.batch, workers=args.workers)
    configure_logging("console", "error")
    with embedded_stack() as stack:
        assert stack.database_url
        tune_gc()  # as every service process runs (handoff.runtime.run_service)
        asyncio.run(bench(stack.database_url, args.pending, args.rate, args.seconds, args.burst))


if __name__ == "__main__":
    main()
