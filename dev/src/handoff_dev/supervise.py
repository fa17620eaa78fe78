"""Keep `handoff dev` running: a crashed service, PostgreSQL or broker is started again, with
backoff, and each crash and recovery is said on the console. Nothing else is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import httpx

from handoff.topics import ensure_topics
from handoff_dev.errors import DevStackError
from handoff_dev.processes import ServiceProcess
from handoff_dev.stack import DevStack

Say = Callable[[str], None]


class Child(Protocol):
    def alive(self) -> bool: ...
    def exit_code(self) -> int | None: ...
    def terminate(self) -> None: ...


@dataclass
class Backoff:
    """1 s, 2 s, 4 s ... up to `most` between restarts; forgiven after `healthy_after` seconds up."""

    first: float = 1.0
    most: float = 30.0
    healthy_after: float = 60.0
    failures: int = 0

    def next_delay(self, up_for: float) -> float:
        if up_for >= self.healthy_after:
            self.failures = 0
        delay: float = min(self.first * 2.0**self.failures, self.most)
        self.failures += 1
        return delay


def how_it_ended(code: int | None) -> str:
    if code is None:
        return "stopped"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _Watch:
    """One supervised child: how to start it, how to tell it is ready, what to say."""

    name: str
    child: Callable[[], Child | None]
    launch: Callable[[], None]
    ready: Callable[[], Awaitable[bool]]
    after_ready: Callable[[], Awaitable[str]]
    crash_note: str = ""
    start_timeout: float | None = None  # kill and retry when not ready by then
    state: str = "up"  # up | waiting (to restart) | starting
    since: float = 0.0
    restart_at: float = 0.0
    backoff: Backoff | None = None


class Supervisor:
    def __init__(self, stack: DevStack, say: Say, *, backoff: Backoff | None = None) -> None:
        self.stack, self.say = stack, say
        self.template = backoff or Backoff()
        self.client: httpx.AsyncClient | None = None
        self.watches = self._watches()

    def _watches(self) -> list[_Watch]:
        st, watches = self.stack, []
        if st.postgres is not None:
            pg = st.postgres
            watches.append(
                _Watch(
                    "PostgreSQL",
                    lambda: pg,
                    pg.launch,
                    lambda: _accepts_queries(pg.port),
                    _said("PostgreSQL is back; the services reconnect on their own"),
                    crash_note=(
                        " Durable: every committed change is kept."
                        if pg.durable
                        else " Not durable (--no-durable): recent commits may be lost."
                    ),
                    start_timeout=60.0,
                )
            )
        if st.broker is not None:
            broker = st.broker
            watches.append(
                _Watch(
                    "the broker",
                    lambda: broker,
                    broker.launch,
                    lambda: _listening(broker.port),
                    self._recreate_topics,
                    crash_note=(
                        " It keeps everything in memory: every topic, record and consumer"
                        " offset it held is lost; records not yet consumed are gone."
                    ),
                    start_timeout=30.0,
                )
            )
        watches += [self._service_watch(proc) for proc in st.services.values()]
        now = time.monotonic()
        for w in watches:
            w.since, w.backoff = now, Backoff(**vars(self.template))
        return watches

    def _service_watch(self, proc: ServiceProcess) -> _Watch:
        async def ready() -> bool:
            assert self.client is not None
            return await proc.is_ready(self.client)

        return _Watch(
            proc.spec.name,
            lambda: proc,
            proc.start,
            ready,
            _said(f"{proc.spec.name} is back, ready on {proc.url}"),
            crash_note=f" Its log: {proc.log_path}",
        )

    async def _recreate_topics(self) -> str:
        assert self.stack.bootstrap is not None
        created = await ensure_topics(self.stack.bootstrap, self.stack.partitions)
        return f"the broker is back; {len(created)} topics created again (empty)"

    async def run(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        async with httpx.AsyncClient() as client:
            self.client = client
            while not stop.is_set():
                for w in self.watches:
                    if stop.is_set():
                        break
                    await self._check(w)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    async def _check(self, w: _Watch) -> None:
        now, child = time.monotonic(), w.child()
        assert w.backoff is not None
        if w.state == "up":
            if child is not None and not child.alive():
                delay = w.backoff.next_delay(now - w.since)
                self.say(
                    f"{w.name} {how_it_ended(child.exit_code())}; starting it again in"
                    f" {delay:.0f}s.{w.crash_note}"
                )
                w.state, w.restart_at = "waiting", now + delay
        elif w.state == "waiting":
            if now >= w.restart_at:
                try:
                    w.launch()
                except DevStackError as exc:
                    self._failed(w, str(exc))
                    return
                w.state, w.since = "starting", now
        elif w.state == "starting":
            if child is None or not child.alive():
                self._failed(w, how_it_ended(child.exit_code() if child else None))
            elif await w.ready():
                try:
                    message = await w.after_ready()
                except Exception as exc:  # e.g. the broker not answering metadata yet
                    if w.start_timeout and now - w.since > w.start_timeout:
                        self._failed(w, str(exc))
                    return
                self.say(message)
                w.state = "up"
            elif w.start_timeout is not None and now - w.since > w.start_timeout:
                child.terminate()
                self._failed(w, f"not ready within {w.start_timeout:.0f}s")

    def _failed(self, w: _Watch, why: str) -> None:
        assert w.backoff is not None
        delay = w.backoff.next_delay(0.0)
        self.say(f"{w.name} did not start again ({why}); next try in {delay:.0f}s")
        w.state, w.restart_at = "waiting", time.monotonic() + delay


def _said(message: str) -> Callable[[], Awaitable[str]]:
    async def after() -> str:
        return message

    return after


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _accepts_queries(port: int) -> bool:
    """Listening is not enough: after a crash PostgreSQL listens while it still recovers."""
    if not await _listening(port):
        return False
    try:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=2.0
        )
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True
