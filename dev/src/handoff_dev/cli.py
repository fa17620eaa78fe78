"""`handoff dev`: the whole system on one machine (embedded PostgreSQL and broker, every
installed service as a supervised process, the demo feed and the event console). Registered as
the `dev` command through the `handoff.commands` entry point of handoff-dev."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handoff.cli import Subcommands, fail
from handoff.service import installed_services
from handoff_dev.errors import DevStackError
from handoff_dev.feed import DemoFeed
from handoff_dev.notify_demo import NotifyDemo, prepare_notify_demo
from handoff_dev.processes import ServiceProcess
from handoff_dev.stack import DevStack
from handoff_dev.supervise import Supervisor
from handoff_dev.tail import follow_forever


def register(sub: Subcommands) -> None:
    dev = sub.add_parser(
        "dev", help="run the whole system on one machine (embedded PostgreSQL and broker)"
    )
    dev.add_argument("--demo", action="store_true", help="feed synthetic leads and simulate reps")
    dev.add_argument("--broker-port", type=int, default=9092)
    dev.add_argument("--pg-port", type=int, default=5433)
    dev.add_argument("--partitions", type=int, default=12)
    dev.add_argument("--data-dir", default=".handoff")
    dev.add_argument("--config-dir", default="config")
    dev.add_argument(
        "--durable",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="PostgreSQL with fsync and synchronous_commit on (default). --no-durable is faster"
        " for throwaway runs, and a crash of the machine or of PostgreSQL may then lose"
        " acknowledged work or corrupt the database",
    )
    dev.set_defaults(func=cmd_dev)


class _StopRequested(BaseException):
    """The user asked `handoff dev` to stop while it was starting (raised by the handler)."""


class _StopSignals:
    """Ctrl-C and SIGTERM for `handoff dev`: the first stops everything in order; a repeat
    within GRACE_SECONDS is the same request (a terminal's SIGINT reaches both `uv run` and
    us, and uv forwards it once more) and is ignored; a later one kills everything at once."""

    GRACE_SECONDS = 1.0

    def __init__(self, stack: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.stack, self.clock = stack, clock
        self.first_at: float | None = None
        self.starting = True  # raise _StopRequested, as Ctrl-C would, to abandon the start
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None

    def install(self) -> None:
        # Also when started with SIGINT ignored (a background job).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle)

    def attach(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        """From now on a signal sets `stop` (never raise inside the event loop)."""
        self.loop, self.stop, self.starting = loop, stop, False
        if self.first_at is not None:
            stop.set()

    def detach(self) -> None:
        self.loop = self.stop = None
        self.starting = False

    def handle(self, signum: int, _frame: Any) -> None:
        now = self.clock()
        if self.first_at is None:
            self.first_at = now
            if self.loop is not None and self.stop is not None:
                with contextlib.suppress(RuntimeError):  # the loop has just closed
                    self.loop.call_soon_threadsafe(self.stop.set)
            elif self.starting:
                self.starting = False
                raise _StopRequested
            return
        if now - self.first_at < self.GRACE_SECONDS:
            return
        # print() is not reentrant; a signal may land while the main thread prints.
        os.write(2, b"\nhandoff dev: killing everything now\n")
        self.stack.kill()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and self.stack.anything_alive():
            time.sleep(0.05)
        os._exit(130)


def cmd_dev(args: argparse.Namespace) -> int:
    config_dir = Path(os.environ.get("HANDOFF_CONFIG_DIR") or args.config_dir).resolve()
    if not (config_dir / "scoring.yaml").exists():
        return fail(
            f"no scoring.yaml in {config_dir}; run from the repository or set HANDOFF_CONFIG_DIR"
        )
    env = {"HANDOFF_CONFIG_DIR": str(config_dir), "HANDOFF_LOG_FORMAT": "json"}
    demo_sla = config_dir / "demo" / "sla.yaml"
    if args.demo and demo_sla.exists() and "HANDOFF_SLA_CONFIG_FILE" not in os.environ:
        env["HANDOFF_SLA_CONFIG_FILE"] = str(demo_sla)  # seconds, so breaches show within a minute
    demo_insight = config_dir / "demo" / "insight.yaml"
    if args.demo and demo_insight.exists() and "HANDOFF_INSIGHT_CONFIG_FILE" not in os.environ:
        env["HANDOFF_INSIGHT_CONFIG_FILE"] = str(demo_insight)  # small samples: an alert in minutes
    receivers = _notify_demo(Path(args.data_dir), config_dir, env) if args.demo else None
    stack = DevStack.from_env(
        Path(args.data_dir),
        pg_port=args.pg_port,
        broker_port=args.broker_port,
        partitions=args.partitions,
        durable=args.durable,
        extra_env=env,
    )
    signals = _StopSignals(stack)
    signals.install()
    code = 0
    try:
        print("handoff dev: starting PostgreSQL and the broker ...", flush=True)
        stack.start_infrastructure()
        stack.migrate()
        stack.create_topics()
        stack.ensure_api_key()
        names = ", ".join(spec.name for spec in installed_services())
        print(f"handoff dev: starting {names or 'no services (none installed)'} ...", flush=True)
        stack.start_services()
        _banner(stack, args.demo)
        code = asyncio.run(_watch(stack, args.demo, signals, _reason_labels(stack), receivers))
    except DevStackError as exc:
        code = fail(str(exc))
    except _StopRequested:
        pass
    finally:
        signals.detach()
        hint = " (Ctrl-C again to kill everything at once)" if signals.first_at is not None else ""
        print(f"\nhandoff dev: stopping ...{hint}", flush=True)
        stack.stop()
        print("handoff dev: stopped", flush=True)
    return code


def _services_in_print_order(stack: DevStack) -> list[ServiceProcess]:
    """The services to show, the one that takes signals in (ingress, where installed) first."""
    procs = list(stack.services.values())
    return sorted(procs, key=lambda p: p.spec.name != "ingress")


def _banner(stack: DevStack, demo: bool) -> None:
    lines = ["", "handoff is running. Ctrl-C stops everything.", ""]
    procs = _services_in_print_order(stack)
    for proc in procs:
        lines.append(f"  {proc.spec.name:<10} {proc.url}   (docs {proc.url}/docs)")
    if "insight" in stack.services:
        lines.append(f"  dashboard  {stack.services['insight'].url}/   (funnel KPIs and alerts)")
    durability = "" if stack.durable else "   (not durable: a crash may lose data)"
    lines += [
        f"  broker     {stack.bootstrap}   (in memory: topics are lost when it stops)",
        f"  database   {stack.database_url}{durability}",
        f"  api key    {stack.api_key}   (also in {stack.data_dir / 'api-key'})",
        f"  logs       {stack.data_dir / 'logs'}",
        "",
    ]
    intake = stack.services.get("ingress") or stack.services.get("scoring")
    if intake is not None:
        lines += [
            "Try:  curl -s -X POST " + intake.url + "/v1/signals \\",
            '        -H "Authorization: Bearer $(cat ' + str(stack.data_dir / "api-key") + ')" '
            "-H 'Content-Type: application/json' \\",
            """        -d '{"id":"try-1","lead_id":"L-try","type":"demo_request","occurred_at":"2026-11-21T10:00:00Z"}'""",
            "",
        ]
    lines += [
        "A service, PostgreSQL or the broker that crashes is started again, with a line here.",
        "Demo feed on: synthetic leads below; reps accept, reject or ignore (ignored ones breach)."
        if demo
        else "Handoff events appear below as they happen.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _notify_demo(data_dir: Path, config_dir: Path, env: dict[str, str]) -> NotifyDemo | None:
    """notify's demo receivers (issue 13), when notify is installed; their settings go to env."""
    if "notify" not in {spec.name for spec in installed_services()}:
        return None
    receivers = prepare_notify_demo(data_dir, config_dir)
    env.update(receivers.env)
    return receivers


def _reason_labels(stack: DevStack) -> dict[str, str]:
    """Rejection reason code -> its English label, from routing's taxonomy (codes if absent)."""
    import httpx

    proc = stack.services.get("routing")
    if proc is None:
        return {}
    try:
        answer = httpx.get(
            f"{proc.url}/v1/reason-codes",
            headers={"Authorization": f"Bearer {stack.api_key}"},
            timeout=5.0,
        )
        answer.raise_for_status()
        return {r["code"]: r["label_en"] for r in answer.json()["reason_codes"]}
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return {}


async def _watch(
    stack: DevStack,
    demo: bool,
    signals: _StopSignals,
    reason_labels: dict[str, str],
    receivers: NotifyDemo | None = None,
) -> int:
    """Supervise the stack and print the handoff events until the user's signal; 0 then."""
    stop = asyncio.Event()
    signals.attach(asyncio.get_running_loop(), stop)
    # The event printer's client would log every failed reconnect while the broker is down;
    # the supervisor says what happened to the broker in one line instead.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    def say(message: str) -> None:
        print(f"handoff dev: {message}", file=sys.stderr, flush=True)

    listeners = []
    tasks = []
    if receivers is not None:
        tasks.append(asyncio.create_task(receivers.run()))
    # Signals go where they come in: ingress where installed, else scoring (before ingress).
    intake = stack.services.get("ingress") or stack.services.get("scoring")
    routing = stack.services.get("routing")
    if demo and intake is not None and routing is not None:
        feed = DemoFeed(intake.url, routing.url, stack.api_key)
        listeners.append(feed.on_event)
        tasks.append(asyncio.create_task(feed.run()))
    elif demo:
        say("no demo feed: it needs the ingress (or scoring) and routing services")
    assert stack.bootstrap is not None  # start_infrastructure set it
    tasks.append(
        asyncio.create_task(follow_forever(stack.bootstrap, listeners, reason_labels=reason_labels))
    )
    supervisor = asyncio.create_task(Supervisor(stack, say).run(stop))
    waiting = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([waiting, supervisor], return_when=asyncio.FIRST_COMPLETED)
        if supervisor.done() and supervisor.exception() is not None:
            say(f"supervising failed, stopping: {supervisor.exception()!r}")
            return 1
        return 0
    finally:
        signals.detach()
        for task in (*tasks, supervisor, waiting):
            task.cancel()
        await asyncio.gather(*tasks, supervisor, waiting, return_exceptions=True)
