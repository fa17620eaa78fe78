"""What every ingress route depends on, built once at start (app.wire) and reached typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from handoff_ingress.adapters.publisher import SignalPublisher
from handoff_ingress.service_layer.signals import Limits
from handoff_ingress.service_layer.webhooks import Webhooks
from handoff_ingress.settings import IngressSettings


@dataclass(frozen=True)
class IngressDeps:
    settings: IngressSettings
    publish: SignalPublisher
    limits: Limits
    webhooks: Webhooks


def _deps(request: Request) -> IngressDeps:
    found: IngressDeps = request.app.state.deps
    return found


Deps = Annotated[IngressDeps, Depends(_deps)]
