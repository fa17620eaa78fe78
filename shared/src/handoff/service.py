"""What the CLI and the dev stack need to know about each service, published as entry points."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # "ingress", "scoring", "routing", "sla-watch"
    schema: str  # its own PostgreSQL schema
    package: str  # import package, runnable with `python -m`
    default_port: int

    @property
    def env_name(self) -> str:
        return self.name.upper().replace("-", "_")

    @property
    def port_env(self) -> str:
        return f"HANDOFF_{self.env_name}_HTTP_PORT"

    @property
    def migrations(self) -> str:
        return f"{self.package}:migrations"

    @property
    def group_id(self) -> str:
        return f"handoff-{self.name}"


ORDER = ("ingress", "scoring", "routing", "sla-watch")


def installed_services() -> list[ServiceSpec]:
    """Every installed handoff service, in pipeline order."""
    found = {ep.name: ep.load() for ep in entry_points(group="handoff.services")}
    return [found[n] for n in ORDER if n in found] + [
        s for n, s in sorted(found.items()) if n not in ORDER
    ]
