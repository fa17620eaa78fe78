"""The `handoff` command: `dev` (the whole stack on one machine), `migrate`, `topics`, and
`scoring rescore` (which runs code from the scoring package)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from handoff import migrations
from handoff.devstack.errors import DevStackError
from handoff.devstack.topics import ensure_topics
from handoff.service import installed_services


def _fail(message: str) -> int:
    print(f"handoff: {message}", file=sys.stderr)
    return 1


def cmd_migrate(args: argparse.Namespace) -> int:
    url = args.database_url or os.environ.get("HANDOFF_DATABASE_URL")
    if not url:
        return _fail("set HANDOFF_DATABASE_URL or pass --database-url")
    for spec in installed_services():
        try:
            migrations.upgrade(spec, url)
        except Exception as exc:
            return _fail(f"migrating {spec.name} failed: {exc}")
        print(f"migrated {spec.name} (schema {spec.schema})")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap or os.environ.get("HANDOFF_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        return _fail("set HANDOFF_KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap")
    try:
        created = asyncio.run(ensure_topics(bootstrap, args.partitions, args.replication))
    except Exception as exc:
        return _fail(f"creating topics on {bootstrap} failed: {exc}")
    print("created: " + (", ".join(created) if created else "nothing (all topics exist)"))
    return 0


def cmd_scoring_rescore(args: argparse.Namespace) -> int:
    url = args.database_url or os.environ.get("HANDOFF_DATABASE_URL")
    if not url:
        return _fail("set HANDOFF_DATABASE_URL or pass --database-url")
    try:
        from handoff_scoring.entrypoints.rescore import main as rescore  # installed with scoring
    except ImportError:
        return _fail("the scoring service (handoff_scoring) is not installed here")
    return rescore(args.model, url, args.dry_run)


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def cmd_dev(args: argparse.Namespace) -> int:
    from handoff.devstack.stack import DevStack

    config_dir = Path(os.environ.get("HANDOFF_CONFIG_DIR") or args.config_dir).resolve()
    if not (config_dir / "scoring.yaml").exists():
        return _fail(
            f"no scoring.yaml in {config_dir}; run from the repository or set HANDOFF_CONFIG_DIR"
        )
    env = {"HANDOFF_CONFIG_DIR": str(config_dir), "HANDOFF_LOG_FORMAT": "json"}
    demo_sla = config_dir / "demo" / "sla.yaml"
    if args.demo and demo_sla.exists() and "HANDOFF_SLA_CONFIG_FILE" not in os.environ:
        env["HANDOFF_SLA_CONFIG_FILE"] = str(demo_sla)  # seconds, so breaches show within a minute
    notify_demo = _notify_demo(Path(args.data_dir), config_dir, env) if args.demo else None
    stack = DevStack.from_env(
        Path(args.data_dir),
        pg_port=args.pg_port,
        broker_port=args.broker_port,
        partitions=args.partitions,
        extra_env=env,
    )
    # Stop cleanly on Ctrl-C and on SIGTERM, even when started with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        print("handoff dev: starting PostgreSQL and the broker ...", flush=True)
        stack.start_infrastructure()
        stack.migrate()
        stack.create_topics()
        stack.ensure_api_key()
        print("handoff dev: starting scoring, routing and sla-watch ...", flush=True)
        stack.start_services()
        _banner(stack, args.demo)
        asyncio.run(_watch(stack, args.demo, notify_demo))
        return 1  # _watch returns only when a service died
    except DevStackError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("\nhandoff dev: stopping ...", flush=True)
        return 0
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            stack.stop()
        print("handoff dev: stopped", flush=True)


def _banner(stack: Any, demo: bool) -> None:
    lines = ["", "handoff is running. Ctrl-C stops everything.", ""]
    for name, proc in stack.services.items():
        lines.append(f"  {name:<10} {proc.url}   (docs {proc.url}/docs)")
    lines += [
        f"  broker     {stack.bootstrap}",
        f"  database   {stack.database_url}",
        f"  api key    {stack.api_key}   (also in {stack.data_dir / 'api-key'})",
        f"  logs       {stack.data_dir / 'logs'}",
        "",
        "Try:  curl -s -X POST " + stack.services["scoring"].url + "/v1/signals \\",
        '        -H "Authorization: Bearer $(cat ' + str(stack.data_dir / "api-key") + ')" '
        "-H 'Content-Type: application/json' \\",
        """        -d '{"id":"try-1","lead_id":"L-try","type":"demo_request","occurred_at":"2026-11-21T10:00:00Z"}'""",
        "",
        "Demo feed on: synthetic leads below; reps accept, reject or ignore (ignored ones breach)."
        if demo
        else "Handoff events appear below as they happen.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _notify_demo(data_dir: Path, config_dir: Path, env: dict[str, str]) -> Any:
    """notify's demo receivers (issue 13), when notify is installed; their settings go to env."""
    try:
        from handoff_notify import demo
    except ImportError:
        return None
    receivers = demo.prepare(data_dir, config_dir)
    env.update(receivers.env)
    return receivers


async def _watch(stack: Any, demo: bool, notify_demo: Any = None) -> None:
    from handoff.devstack.feed import DemoFeed
    from handoff.devstack.tail import follow

    listeners = []
    tasks = []
    if notify_demo is not None:
        tasks.append(asyncio.create_task(notify_demo.run()))
    if demo:
        feed = DemoFeed(stack.services["scoring"].url, stack.services["routing"].url, stack.api_key)
        listeners.append(feed.on_event)
        tasks.append(asyncio.create_task(feed.run()))
    tasks.append(asyncio.create_task(follow(stack.bootstrap, listeners)))
    try:
        while True:
            await asyncio.sleep(0.5)
            for name, proc in stack.services.items():
                if not proc.alive():
                    print(
                        f"handoff dev: {name} stopped unexpectedly: {proc.last_log_line()}",
                        file=sys.stderr,
                    )
                    return
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise DevStackError(f"the event printer failed: {task.exception()}")
    finally:
        for task in tasks:
            task.cancel()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handoff", description="handoff: B2B lead handoff from marketing to sales"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser(
        "dev", help="run the whole system on one machine (embedded PostgreSQL and broker)"
    )
    dev.add_argument("--demo", action="store_true", help="feed synthetic leads and simulate reps")
    dev.add_argument("--broker-port", type=int, default=9092)
    dev.add_argument("--pg-port", type=int, default=5433)
    dev.add_argument("--partitions", type=int, default=12)
    dev.add_argument("--data-dir", default=".handoff")
    dev.add_argument("--config-dir", default="config")
    dev.set_defaults(func=cmd_dev)

    mig = sub.add_parser("migrate", help="migrate every service's schema (production step)")
    mig.add_argument("--database-url", default=None)
    mig.set_defaults(func=cmd_migrate)

    top = sub.add_parser(
        "topics", help="create the topics and their dead-letter topics (production step)"
    )
    top.add_argument("--bootstrap", default=None)
    top.add_argument("--partitions", type=int, default=12)
    top.add_argument("--replication", type=int, default=1)
    top.set_defaults(func=cmd_topics)

    scoring = sub.add_parser("scoring", help="scoring operations")
    scoring_sub = scoring.add_subparsers(dest="scoring_command", required=True)
    rescore = scoring_sub.add_parser(
        "rescore",
        help="replay every lead's history under another model: how many MQLs, which leads change",
    )
    rescore.add_argument("--model", required=True, help="the scoring.yaml to try")
    rescore.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    rescore.add_argument("--database-url", default=None)
    rescore.set_defaults(func=cmd_scoring_rescore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
