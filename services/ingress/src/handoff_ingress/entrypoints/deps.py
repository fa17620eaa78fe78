"""What every ingress route depends on, built once at start (app.wire) and reached typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from handoff.runtime import deps_getter
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


Deps = Annotated[IngressDeps, Depends(deps_getter(IngressDeps))]
