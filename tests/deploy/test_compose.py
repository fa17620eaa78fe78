"""deploy/compose.yaml: valid for Compose itself (Debian's docker-compose `config`, which needs no
engine), and it runs every installed service the way production runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from handoff.service import installed_services
from tests.deploy.files import (
    COMPOSE_FILE,
    compose_services,
    image_environment,
    process_environment,
)

DOCKER_COMPOSE = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(
    DOCKER_COMPOSE is None,
    reason="docker-compose missing: `make test-tools` installs Debian's docker-compose",
)


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    assert DOCKER_COMPOSE
    return subprocess.run(
        [DOCKER_COMPOSE, "--file", str(path), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_compose
def test_the_compose_file_passes_compose_config() -> None:
    run = compose_config(COMPOSE_FILE)
    assert run.returncode == 0, run.stderr


@needs_compose
@pytest.mark.parametrize(
    ("original", "broken", "complaint"),
    [
        ("healthcheck: &ready", "healthcheck_: &ready", "healthcheck_"),
        (
            "setup: {condition: service_completed_successfully}",
            "set-up: {condition: service_completed_successfully}",
            "set-up",
        ),
    ],
    ids=["unknown key", "undefined dependency"],
)
def test_compose_config_fails_a_broken_copy(
    tmp_path: Path, original: str, broken: str, complaint: str
) -> None:
    text = COMPOSE_FILE.read_text()
    assert original in text
    copy = tmp_path / "deploy" / "compose.yaml"
    copy.parent.mkdir()
    copy.write_text(text.replace(original, broken))
    run = compose_config(copy)
    assert run.returncode != 0 and complaint in run.stderr, run.stderr


def test_compose_runs_every_installed_service_on_its_own_port() -> None:
    by_module = {s.module: s for s in compose_services().values() if s.module}
    for spec in installed_services():
        service = by_module.get(spec.package)
        assert service, f"deploy/compose.yaml runs no `python -m {spec.package}`"
        port = service.environment.get(spec.port_env)
        assert port, f"compose service {service.name} sets no {spec.port_env}"
        assert service.ports == [f"{port}:{port}"], (service.name, service.ports)


def test_compose_migrates_and_makes_the_topics_before_any_service_starts() -> None:
    services = compose_services()
    setup = " ".join(services["setup"].command)
    assert "handoff migrate" in setup and "handoff topics" in setup
    for service in services.values():
        if service.module:
            assert service.depends_on == {"setup": "service_completed_successfully"}, service


def test_the_production_test_takes_the_services_variables_from_the_files() -> None:
    """tests/e2e/test_production_path.py runs each service with this environment."""
    scoring = next(s for s in compose_services().values() if s.module == "handoff_scoring")
    env = process_environment(scoring, {"HANDOFF_DATABASE_URL": "postgresql+asyncpg://x/y"})
    handoff = {k: v for k, v in env.items() if k.startswith("HANDOFF_")}
    assert handoff == {
        **image_environment(),
        **scoring.environment,
        "HANDOFF_DATABASE_URL": "postgresql+asyncpg://x/y",
    }
    assert handoff["HANDOFF_CONFIG_DIR"] == "/app/config"  # from the image's ENV
    # Anything the files do not set cannot slip in as a "replaced address".
    with pytest.raises(AssertionError, match="HANDOFF_SCORING_THRESHOLD"):
        process_environment(scoring, {"HANDOFF_SCORING_THRESHOLD": "1"})
