"""`handoff scoring rescore`, registered through the `handoff.commands` entry point of
handoff-scoring; the work is in entrypoints/rescore.py."""

from __future__ import annotations

import argparse
import os

from handoff.cli import Subcommands, fail


def cmd_rescore(args: argparse.Namespace) -> int:
    url = args.database_url or os.environ.get("HANDOFF_DATABASE_URL")
    if not url:
        return fail("set HANDOFF_DATABASE_URL or pass --database-url")
    from handoff_scoring.entrypoints.rescore import main  # the scoring model, only when run

    return main(args.model, url, args.dry_run)


def register(sub: Subcommands) -> None:
    scoring = sub.add_parser("scoring", help="scoring operations")
    scoring_sub = scoring.add_subparsers(dest="scoring_command", required=True)
    rescore = scoring_sub.add_parser(
        "rescore",
        help="replay every lead's history under another model: how many MQLs, which leads change",
    )
    rescore.add_argument("--model", required=True, help="the scoring.yaml to try")
    rescore.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    rescore.add_argument("--database-url", default=None)
    rescore.set_defaults(func=cmd_rescore)
