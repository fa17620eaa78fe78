"""What deploy/ says, read the way Docker, Compose and kustomize read it, for the deploy checks.

The tests take the services' commands and HANDOFF_ variables from here, so a test and the file
it checks cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"

# ${NAME}, ${NAME:-default} and ${NAME-default}: Compose's interpolation, here with an empty
# environment, so each takes its default (as `docker compose up` does with nothing exported).
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    return _INTERPOLATION.sub(lambda m: m.group("default") or "", value)


@dataclass(frozen=True)
class ComposeService:
    name: str
    command: list[str]
    environment: dict[str, str]  # the HANDOFF_ variables, interpolated
    ports: list[str]
    depends_on: dict[str, str]  # service -> the condition it waits for

    @property
    def module(self) -> str | None:
        """The package it runs with `python -m`, or None for another command."""
        cmd = self.command
        return cmd[2] if len(cmd) == 3 and cmd[:2] == ["python", "-m"] else None


def compose_services(path: Path = COMPOSE_FILE) -> dict[str, ComposeService]:
    """Every service of the Compose file, anchors and merge keys resolved as Compose does."""
    doc = yaml.safe_load(path.read_text())
    found = {}
    for name, body in doc["services"].items():
        env = body.get("environment") or {}
        if isinstance(env, list):  # the "KEY=value" form
            env = dict(item.split("=", 1) for item in env)
        command = body.get("command") or []
        depends = body.get("depends_on") or {}
        if isinstance(depends, list):  # the short form: started is enough
            depends = {name: None for name in depends}
        found[name] = ComposeService(
            name=name,
            command=shlex.split(command) if isinstance(command, str) else list(command),
            environment={
                k: interpolate(str(v)) for k, v in env.items() if k.startswith("HANDOFF_")
            },
            ports=[str(p) for p in body.get("ports") or []],
            depends_on={
                k: (v or {}).get("condition", "service_started") for k, v in depends.items()
            },
        )
    return found


def dockerfile_stages(path: Path = DOCKERFILE) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, as (INSTRUCTION, arguments), continuations joined."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for text in logical:
        instruction, _, args = text.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), args.strip()))
    return stages


def image_environment(path: Path = DOCKERFILE) -> dict[str, str]:
    """The HANDOFF_ variables the final image sets with ENV (every container inherits them)."""
    env = {}
    for instruction, args in dockerfile_stages(path)[-1]:
        if instruction == "ENV":
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                if key.startswith("HANDOFF_"):
                    env[key] = value
    return env


def process_environment(service: ComposeService, replace: dict[str, str]) -> dict[str, str]:
    """A service process's environment as the image and the Compose service give it: no HANDOFF_
    variable but theirs, with `replace` changing only variables they set (addresses, secrets)."""
    files = {**image_environment(), **service.environment}
    unknown = replace.keys() - files.keys()
    assert not unknown, f"{service.name}: deploy/ does not set {sorted(unknown)}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    # `python` and `handoff` are this virtual environment's, as the image's PATH has its own.
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
    return {**base, **files, **replace}


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render_kustomization(folder: Path = K8S) -> list[dict[str, Any]]:
    """What `kubectl apply -k` would send: kustomize's output (needs kubectl on PATH)."""
    tool = kubectl()
    assert tool, "kubectl missing"
    run = subprocess.run(
        [tool, "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, f"kubectl kustomize {folder} failed:\n{run.stderr}"
    return [d for d in yaml.safe_load_all(run.stdout) if d]


def kustomization_resources(folder: Path = K8S) -> list[dict[str, Any]]:
    """The resources the kustomization lists, as written (before kustomize transforms them)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs.extend(d for d in yaml.safe_load_all((folder / name).read_text()) if d)
    return docs


def containers_by_module(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each Deployment's container that runs `python -m <package>`, by package."""
    found = {}
    for doc in manifests:
        if doc.get("kind") != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            cmd = container.get("command") or []
            if len(cmd) == 3 and cmd[:2] == ["python", "-m"]:
                found[cmd[2]] = {"deployment": doc, "container": container}
    return found
