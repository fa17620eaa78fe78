"""The `handoff` command. Its subcommands come from the `handoff.commands` entry points of the
installed distributions: this package's own (`migrate`, `topics`, `dlq`), `scoring rescore`
from handoff-scoring, `insight rebuild` from handoff-insight and `dev` from handoff-dev. So this
package imports no service and no dev code, and a production image without handoff-dev simply
has no `handoff dev`.

An entry point names one top-level command and points at `register(subcommands)`, which adds
that command's parser (with `set_defaults(func=...)`, the function that runs it and returns the
exit code)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TypeAlias

from handoff import migrations
from handoff.service import installed_services
from handoff.topics import ensure_topics

COMMANDS = "handoff.commands"

# What `register` adds its command to (argparse's own type for it).
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Register: TypeAlias = Callable[[Subcommands], None]

# Where the command a person typed lives, when its distribution is not installed here.
COMES_WITH = {
    "dev": "handoff-dev (a development install: `uv sync` in the repository)",
    "scoring": "handoff-scoring",
    "insight": "handoff-insight",
}


def fail(message: str) -> int:
    """Say what went wrong on stderr, as every `handoff` command does; returns the exit code 1."""
    print(f"handoff: {message}", file=sys.stderr)
    return 1


def cmd_migrate(args: argparse.Namespace) -> int:
    url = args.database_url or os.environ.get("HANDOFF_DATABASE_URL")
    if not url:
        return fail("set HANDOFF_DATABASE_URL or pass --database-url")
    for spec in installed_services():
        try:
            migrations.upgrade(spec, url)
        except Exception as exc:
            return fail(f"migrating {spec.name} failed: {exc}")
        print(f"migrated {spec.name} (schema {spec.schema})")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap or os.environ.get("HANDOFF_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        return fail("set HANDOFF_KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap")
    try:
        created = asyncio.run(ensure_topics(bootstrap, args.partitions, args.replication))
    except Exception as exc:
        return fail(f"creating topics on {bootstrap} failed: {exc}")
    print("created: " + (", ".join(created) if created else "nothing (all topics exist)"))
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from handoff import dlq

    bootstrap = args.bootstrap or os.environ.get("HANDOFF_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        return fail("set HANDOFF_KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap")
    try:
        if args.dlq_command == "list":
            return dlq.cmd_list(bootstrap, args.topic)
        if not args.all and not args.offset:
            return fail(
                "say which records to replay: --offset PARTITION:OFFSET (repeatable) or --all"
            )
        return dlq.cmd_replay(bootstrap, args.topic, args.offset or [], args.all)
    except dlq.DlqError as exc:
        return fail(str(exc))
    except Exception as exc:
        return fail(f"reading {args.topic} on {bootstrap} failed: {exc}")


def register_migrate(sub: Subcommands) -> None:
    mig = sub.add_parser("migrate", help="migrate every service's schema (production step)")
    mig.add_argument("--database-url", default=None)
    mig.set_defaults(func=cmd_migrate)


def register_topics(sub: Subcommands) -> None:
    top = sub.add_parser(
        "topics", help="create the topics and their dead-letter topics (production step)"
    )
    top.add_argument("--bootstrap", default=None)
    top.add_argument("--partitions", type=int, default=12)
    top.add_argument("--replication", type=int, default=1)
    top.set_defaults(func=cmd_topics)


def register_dlq(sub: Subcommands) -> None:
    dead = sub.add_parser("dlq", help="inspect a dead-letter topic and replay its records")
    dead_sub = dead.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dead_sub.add_parser(
        "list", help="each dead letter: where it came from, why, how many attempts (no values)"
    )
    dlq_replay = dead_sub.add_parser(
        "replay", help="send dead letters back to their source topic, as they first arrived"
    )
    for p in (dlq_list, dlq_replay):
        p.add_argument("topic", metavar="TOPIC", help="e.g. handoff.signals.v1 (or its .dlq)")
        p.add_argument("--bootstrap", default=None)
        p.set_defaults(func=cmd_dlq)
    dlq_replay.add_argument(
        "--offset", action="append", metavar="PARTITION:OFFSET", help="as `list` shows it"
    )
    dlq_replay.add_argument("--all", action="store_true", help="every record of the DLQ")


def installed_commands() -> list[EntryPoint]:
    """The `handoff.commands` entry points, `dev` first, then by name (one per command)."""
    found = {ep.name: ep for ep in entry_points(group=COMMANDS)}
    return sorted(found.values(), key=lambda ep: (ep.name != "dev", ep.name))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every installed command, or with `command` alone when it is installed
    (so `handoff migrate` loads no service's or dev code)."""
    parser = argparse.ArgumentParser(
        prog="handoff", description="handoff: B2B lead handoff from marketing to sales"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    commands = installed_commands()
    for ep in [ep for ep in commands if ep.name == command] or commands:
        try:
            register: Register = ep.load()
            register(sub)
        except Exception as exc:  # one broken distribution must not take every command down
            fail(f"the `{ep.name}` command is unavailable ({ep.value}): {exc!r}")
    return parser


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    command = next((a for a in given if not a.startswith("-")), None)
    parser = build_parser(command)
    if command in COMES_WITH and command not in {ep.name for ep in installed_commands()}:
        return fail(f"`handoff {command}` comes with {COMES_WITH[command]}, not installed here")
    args = parser.parse_args(given)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
