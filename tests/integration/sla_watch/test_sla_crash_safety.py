"""Three firer processes over one timer table, one killed with SIGKILL again and again while
10,000 timers fall due: every breach and escalation reaches the outbox exactly once.

The processes are forked from a fork server that has imported the firer once, so a
restart takes milliseconds instead of the seconds a fresh interpreter needs to import
SQLAlchemy and pydantic; each is still a process of its own with its own connection.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

TIMERS = 10_000
FIRERS = 3
WAVES = 4  # the victim is killed in each wave but the last
WAVE_SECONDS = 1.0


_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["handoff_sla_watch.entrypoints.firer", "handoff_sla_watch.config"])


def _firer_process(env: dict[str, str], log: str) -> None:
    """What `python -m handoff_sla_watch.entrypoints.firer` runs, with its output in `log`."""
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.environ.update(env)
    from handoff_sla_watch.entrypoints import firer

    firer.main()


def _spawn(env: dict[str, str], log: Path) -> multiprocessing.process.BaseProcess:
    proc = _FORKS.Process(target=_firer_process, args=(env, str(log)), daemon=True)
    proc.start()
    return proc


async def _scalar(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


def _tail(log: Path) -> str:
    return log.read_text()[-2000:] if log.exists() else ""


class _Starts:
    """Counts 'sla.firer.started' lines in the firers' shared log, reading only what is new."""

    def __init__(self, log: Path) -> None:
        self.log, self.offset, self.count = log, 0, 0

    def read(self) -> int:
        if self.log.exists():
            with self.log.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
            cut = chunk.rfind(b"\n") + 1
            self.offset += cut
            self.count += chunk[:cut].count(b"sla.firer.started")
        return self.count

    async def wait_for(self, count: int) -> None:
        """Until `count` firers have said they started (imports are slow on a busy machine)."""
        for _ in range(1200):
            if await asyncio.to_thread(self.read) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the firers did not start: " + _tail(self.log))


async def _arm_wave(engine: AsyncEngine, policy: str, wave: int) -> None:
    """A wave of timers falling due evenly over the next WAVE_SECONDS."""
    per_wave = TIMERS // WAVES
    # What is due lives in the narrow queue: rows written by hand are queued by hand, this
    # wave's only. Queueing every pending timer of the policy (as this once did) put back
    # the queue row of an earlier wave's timer whose firing was committing meanwhile: the
    # insert waited for that firer's delete, then inserted again, and a firer claimed the
    # already fired timer a second time, finding nothing left to fire.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "WITH armed AS (INSERT INTO sla.timers (timer_id, lead_id, handoff_id, rep_id, "
                "policy, stage, started_at, due_at, next_at, state) "
                "SELECT :p || '-' || n, :p || '-L' || n, :p || '-H' || n, 'rep-' || (n % 7), "
                ":p, 'accept', now(), due, due, 'pending' FROM ("
                "  SELECT n, now() + make_interval(secs => 0.2 + (n - CAST(:first AS int)) * CAST(:step AS float8)) AS due"
                "  FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS n) AS s "
                "RETURNING timer_id, next_at) "
                "INSERT INTO sla.due (timer_id, next_at, kind) "
                "SELECT timer_id, next_at, 'breach' FROM armed"
            ),
            {
                "p": policy,
                "first": wave * per_wave + 1,
                "last": (wave + 1) * per_wave,
                "step": WAVE_SECONDS / per_wave,
            },
        )


async def test_every_timer_fires_exactly_once_while_firers_are_killed(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    policy = f"chaos-{uuid.uuid4().hex[:8]}"
    sla_file = tmp_path / "sla.yaml"
    sla_file.write_text(
        f"""policies:
  - name: {policy}
    stage: accept
    starts_on: handoff.lead.assigned
    stops_on: [handoff.lead.accepted]
    within: 1h
    escalations:
      - action: remind
"""
    )
    env = {
        "HANDOFF_DATABASE_URL": database_url,
        "HANDOFF_SLA_CONFIG_FILE": str(sla_file),
        "HANDOFF_SLA_MAX_SLEEP_SECONDS": "0.2",
        "HANDOFF_LOG_LEVEL": "info",
        "HANDOFF_SLA_FIRE_BATCH": "50",  # many short transactions, so a kill lands inside one
    }
    log = tmp_path / "firers.log"
    first_outbox_id = await _scalar(engine, "SELECT coalesce(max(id), 0) FROM sla.outbox")
    firers = [_spawn(env, log) for _ in range(FIRERS)]
    rng = random.Random(6)
    starts = _Starts(log)
    kills = 0
    try:
        # The timers fall due in waves, each while the victim (firers[0]) is up and working;
        # it is killed in the middle of every wave but the last, and started again.
        for wave in range(WAVES):
            await starts.wait_for(FIRERS + kills)
            await _arm_wave(engine, policy, wave)
            if wave < WAVES - 1:
                await asyncio.sleep(rng.uniform(0.3, 0.9))
                firers[0].kill()  # SIGKILL
                await asyncio.to_thread(firers[0].join)
                kills += 1
                firers[0] = _spawn(env, log)
        for _ in range(600):
            left = await _scalar(
                engine,
                "SELECT count(*) FROM sla.timers WHERE policy = :p AND next_at IS NOT NULL",
                p=policy,
            )
            if left == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        for proc in firers:
            proc.kill()
            proc.join()
    try:
        assert kills == WAVES - 1
        async with engine.connect() as conn:
            events = (
                await conn.execute(
                    text(
                        "SELECT e->>'type' AS type, e->'data'->>'timer_id' AS timer_id, "
                        "count(*) AS n FROM ("
                        "  SELECT convert_from(value, 'UTF8')::jsonb AS e FROM sla.outbox WHERE id > :first"
                        ") AS o WHERE e->'data'->>'policy' = :p GROUP BY 1, 2"
                    ),
                    {"p": policy, "first": first_outbox_id},
                )
            ).all()
            states: dict[str, int] = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT state || '/' || escalation_level || '/' || attempts, count(*) "
                            "FROM sla.timers WHERE policy = :p GROUP BY 1"
                        ),
                        {"p": policy},
                    )
                ).all()
            )
        fired = {(e.type, e.timer_id) for e in events}
        assert {e.n for e in events} == {1}, "some timer fired twice"
        assert len(fired) == 2 * TIMERS, _tail(log)
        assert {t for _, t in fired} == {f"{policy}-{n}" for n in range(1, TIMERS + 1)}
        # Every timer breached and escalated once, in one pass (`attempts` 1): its escalation
        # falls at the breach, and a claimed timer is never claimed again once fired.
        assert states == {"breached/1/1": TIMERS}
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "DELETE FROM sla.outbox WHERE id > :first "
                    "AND convert_from(value, 'UTF8')::jsonb->'data'->>'policy' = :p"
                ),
                {"p": policy, "first": first_outbox_id},
            )
            await conn.execute(text("DELETE FROM sla.timers WHERE policy = :p"), {"p": policy})
