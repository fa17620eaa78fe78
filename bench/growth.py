"""Scoring's cost as leads and history grow: per-signal cost for leads with 10, 1,000 and
10,000 prior activities, with 10k leads in scoring.leads and with 1M, and rescore over 1M.

The tables are filled fast: one template lead per shape is built by the real SignalHandler
(its prior activities applied in one unit of work, so the state column and the activity log
are the service's own, adapters/lead_state.py and adapters/leads.py), then copied to as many
lead ids as wanted with INSERT ... SELECT over generate_series (the state row and the log rows). The timed part is the real SignalHandler in a unit of
work, a batch of in-order page views at a time, one per lead, committed like the consumer
does; each figure is beside a same-run baseline:

- history: cost per signal for leads with 1,000 and 10,000 prior activities over the cost for
  leads with 10 (goal: within 2x). The shipped model keeps at most 1,000 activities
  (history.max_activities); this run raises it to --max-activities so a lead really holds
  10,000, as a deployment with a longer memory would.
- table size: cost per signal on random leads of a 1M-lead table over the same on a 10k-lead
  table (goal: within 1.5x).
- rescore: `handoff scoring rescore --dry-run` over the 1M leads, the real command in a
  subprocess (not a terminal, so it logs progress lines): time and leads/s from start to
  exit (reported; the issue sets no goal, so its goal is "> 0"), and beside them the time of
  the reading and replaying alone, from its last log line (the command's start-up, which
  loads every installed service's commands, is seconds on a loaded machine).

    uv run --locked python -m bench growth     # or: python -m bench.growth --leads 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import results
from bench.stack import embedded_stack
from handoff.db import UnitOfWorkFactory, create_engine
from handoff.events import signals
from handoff.logs import configure_logging
from handoff.messaging.consumer import Inbound
from handoff.runtime import tune_gc
from handoff_scoring.config import load_model
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.service_layer.handlers import SignalHandler

REPO = Path(__file__).resolve().parents[1]
MODEL_FILE = REPO / "config" / "scoring.yaml"
HISTORIES = (10, 1_000, 10_000)
# Prior activities end an hour ago and are spread over 300 days: inside the model's 365-day
# retention, so none is forgotten, and every timed signal arrives in order after them.
SPREAD = timedelta(days=300)

COPY = (
    "INSERT INTO scoring.leads (lead_id, state, score, fit_grade, cycle, mql_id, "
    "disqualified, model_version, updated_at) "
    "SELECT :prefix || lpad(CAST(n AS text), 7, '0'), t.state, t.score, t.fit_grade, t.cycle, "
    "t.mql_id, t.disqualified, t.model_version, t.updated_at "
    "FROM scoring.leads AS t, generate_series(CAST(:first AS int), CAST(:last AS int)) AS n "
    "WHERE t.lead_id = :template"
)
# ... and its activities (scoring.activities, the lead's log), for the same lead ids.
COPY_ACTIVITIES = (
    "INSERT INTO scoring.activities (lead_id, occurred_at, activity_type, properties) "
    "SELECT :prefix || lpad(CAST(n AS text), 7, '0'), a.occurred_at, a.activity_type, "
    "a.properties FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS n, "
    "scoring.activities AS a WHERE a.lead_id = :template ORDER BY n, a.seq"
)


def page_view(lead_id: str, at: datetime, url: str = "/blog/scaling") -> signals.ActivitySignal:
    return signals.ActivitySignal(
        id=f"evt-{uuid.uuid4().hex}",
        source="/bench/growth",
        subject=lead_id,
        data=signals.ActivityData(
            lead_id=lead_id, activity_type="page_view", occurred_at=at, properties={"url": url}
        ),
    )


def inbound(events: list[signals.ActivitySignal]) -> list[Inbound[signals.ActivitySignal]]:
    return [Inbound(e, signals.TOPIC, 0, n) for n, e in enumerate(events)]


class Scoring:
    """The real handler in a unit of work per batch, committed as the consumer commits."""

    def __init__(self, engine: AsyncEngine, model: ScoringModel, batch: int) -> None:
        self.uow = UnitOfWorkFactory(engine)
        self.handler = SignalHandler(model)
        self.batch = batch
        self.clock = datetime.now(UTC)

    async def apply(self, events: list[signals.ActivitySignal]) -> None:
        async with self.uow() as uow:
            await self.handler(uow, inbound(events))  # type: ignore[arg-type]
            await uow.commit()

    async def template(self, lead_id: str, activities: int) -> None:
        """One lead with `activities` prior page views, stored by the handler itself."""
        start = self.clock - SPREAD
        step = (SPREAD - timedelta(hours=1)) / max(activities, 1)
        events = [
            page_view(lead_id, start + step * n, f"/blog/post-{n % 50}") for n in range(activities)
        ]
        for first in range(0, len(events), 2000):
            await self.apply(events[first : first + 2000])

    async def seconds_per_signal(self, lead_ids: list[str]) -> float:
        """Time one in-order page view for each lead, `batch` leads a transaction."""
        self.clock += timedelta(seconds=1)
        at = self.clock
        started = time.perf_counter()
        for first in range(0, len(lead_ids), self.batch):
            await self.apply([page_view(lead, at) for lead in lead_ids[first : first + self.batch]])
        return (time.perf_counter() - started) / len(lead_ids)


async def copy(engine: AsyncEngine, template: str, prefix: str, first: int, last: int) -> None:
    """Leads prefix+first .. prefix+last, each a copy of the template lead's row and log."""
    async with engine.connect() as conn:
        logged = await conn.scalar(
            text("SELECT count(*) FROM scoring.activities WHERE lead_id = :t"), {"t": template}
        )
    # One statement per chunk of about a million rows keeps each transaction's WAL moderate.
    chunk = max(1, min(100_000, 1_000_000 // max(int(logged or 0), 1)))
    for start in range(first, last + 1, chunk):
        params = {
            "prefix": prefix,
            "first": start,
            "last": min(start + chunk - 1, last),
            "template": template,
        }
        async with engine.begin() as conn:
            await conn.execute(text(COPY), params)
            await conn.execute(text(COPY_ACTIVITIES), params)


async def vacuum(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("VACUUM ANALYZE scoring.leads"))
        await auto.execute(text("VACUUM ANALYZE scoring.activities"))


async def history_growth(
    engine: AsyncEngine, scoring: Scoring, leads: int, rounds: int
) -> dict[int, float]:
    """Per-signal seconds for leads of each history length, the lengths taken in turn each
    round (so a slow moment of the machine hits all alike); the median round counts."""
    shapes: dict[int, list[str]] = {}
    for size in HISTORIES:
        template = f"H{size}-template"
        await scoring.template(template, size)
        await copy(engine, template, f"H{size}-", 1, leads)
        shapes[size] = [f"H{size}-{n:07d}" for n in range(1, leads + 1)]
    await vacuum(engine)
    for ids in shapes.values():  # warm-up: caches, prepared statements
        await scoring.seconds_per_signal(ids[: scoring.batch])
    timings: dict[int, list[float]] = {size: [] for size in HISTORIES}
    for _ in range(rounds):
        for size, ids in shapes.items():
            timings[size].append(await scoring.seconds_per_signal(ids))
    async with engine.begin() as conn:  # the table-size runs measure ordinary leads only
        await conn.execute(text("DELETE FROM scoring.leads WHERE lead_id LIKE 'H%'"))
        await conn.execute(text("DELETE FROM scoring.activities WHERE lead_id LIKE 'H%'"))
    return {size: statistics.median(t) for size, t in timings.items()}


async def table_growth(
    engine: AsyncEngine, scoring: Scoring, small: int, large: int, signals_per_run: int, rounds: int
) -> tuple[float, float]:
    """Per-signal seconds on random leads of a `small`-lead table, then of a `large` one."""
    await scoring.template("T-template", HISTORIES[0])
    await copy(engine, "T-template", "T-", 1, small)
    await vacuum(engine)
    pick = random.Random(14)

    async def run(population: int) -> float:
        timings = []
        for _ in range(rounds):
            ids = [f"T-{n:07d}" for n in pick.sample(range(1, population + 1), signals_per_run)]
            timings.append(await scoring.seconds_per_signal(ids))
        return statistics.median(timings)

    await run(small)  # warm-up
    small_cost = await run(small)
    started = time.perf_counter()
    await copy(engine, "T-template", "T-", small + 1, large)
    await vacuum(engine)
    print(f"  filled to {large:,} leads in {time.perf_counter() - started:.1f} s", flush=True)
    await run(large)  # warm-up
    large_cost = await run(large)
    async with engine.begin() as conn:  # rescore then reads exactly the `large` leads
        await conn.execute(text("DELETE FROM scoring.leads WHERE lead_id = 'T-template'"))
        await conn.execute(text("DELETE FROM scoring.activities WHERE lead_id = 'T-template'"))
    return small_cost, large_cost


def rescore(database_url: str, leads: int) -> tuple[float, float]:
    """Seconds for the real `handoff scoring rescore --dry-run` over the table, as a command,
    and the seconds of its reading and replaying alone (its last progress log line)."""
    handoff = Path(sys.executable).with_name("handoff")
    command = [str(handoff), "scoring", "rescore", "--model", str(MODEL_FILE), "--dry-run"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--database-url", database_url],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0 or f"rescored {leads} leads" not in done.stdout:
        raise SystemExit(f"rescore failed ({done.returncode}): {done.stderr[-2000:]}")
    read = json.loads(done.stderr.strip().splitlines()[-1])  # not a terminal: JSON lines
    assert read["event"] == "scoring.rescore.read" and read["leads_done"] == leads, read
    return seconds, float(read["seconds"])


async def bench(database_url: str, args: argparse.Namespace) -> None:
    model_dir = Path(tempfile.mkdtemp(prefix="handoff-growth-"))
    model_file = model_dir / "scoring.yaml"
    shipped = MODEL_FILE.read_text(encoding="utf-8")
    model_file.write_text(
        shipped.replace("max_activities: 1000", f"max_activities: {args.max_activities}"),
        encoding="utf-8",
    )
    model = load_model(model_file)
    shutil.rmtree(model_dir, ignore_errors=True)
    assert model.max_activities == args.max_activities, "config/scoring.yaml changed its history"
    engine = create_engine(database_url, pool_size=2)
    try:
        scoring = Scoring(engine, model, args.batch)
        costs = await history_growth(engine, scoring, args.history_leads, args.rounds)
        base = costs[HISTORIES[0]]
        print(
            "per-signal cost by prior activities: "
            + ", ".join(f"{size:,}: {cost * 1e6:,.0f} us" for size, cost in costs.items()),
            flush=True,
        )
        for size in HISTORIES[1:]:
            results.record(
                f"scoring per-signal cost, {size:,} vs {HISTORIES[0]} prior activities",
                costs[size] / base,
                "x",
                "<= 2",
            )
        small, large = await table_growth(
            engine, Scoring(engine, load_model(MODEL_FILE), args.batch), args.small,
            args.leads, args.signals, args.rounds,
        )  # fmt: skip
        print(
            f"per-signal cost on random leads: {args.small:,} leads {small * 1e6:,.0f} us, "
            f"{args.leads:,} leads {large * 1e6:,.0f} us",
            flush=True,
        )
        results.record(
            f"scoring per-signal cost, {args.leads:,} vs {args.small:,} leads in the table",
            large / small,
            "x",
            "<= 1.5",
        )
    finally:
        await engine.dispose()
    seconds, replaying = rescore(database_url, args.leads)
    print(
        f"rescore --dry-run over {args.leads:,} leads: {seconds:.1f} s, "
        f"{args.leads / seconds:,.0f} leads/s (the command, start to exit; reading and "
        f"replaying alone: {replaying:.1f} s, {args.leads / replaying:,.0f} leads/s)",
        flush=True,
    )
    results.record(f"rescore --dry-run over {args.leads:,} leads, time", seconds, "s", "> 0")
    results.record(
        f"rescore --dry-run over {args.leads:,} leads, rate", args.leads / seconds, "leads/s", "> 0"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=1_000_000, help="the large table")
    parser.add_argument("--small", type=int, default=10_000, help="the small table")
    parser.add_argument("--signals", type=int, default=2_000, help="timed signals per run")
    parser.add_argument("--history-leads", type=int, default=200, help="leads per history size")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs; the median counts")
    parser.add_argument("--batch", type=int, default=200, help="signals per transaction")
    parser.add_argument("--max-activities", type=int, default=max(HISTORIES))
    args = parser.parse_args(argv)
    if not args.signals <= args.small <= args.leads:
        parser.error("need --signals <= --small <= --leads")
    configure_logging("console", "error")
    with embedded_stack() as stack:
        assert stack.database_url
        tune_gc()  # as every service process runs (handoff.runtime.run_service)
        asyncio.run(bench(stack.database_url, args))


if __name__ == "__main__":
    main()
