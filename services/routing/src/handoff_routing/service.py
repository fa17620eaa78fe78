"""The routing service's identity for the CLI and the dev stack."""

from handoff.service import ServiceSpec

SERVICE = ServiceSpec(
    name="routing", schema="routing", package="handoff_routing", default_port=8102
)
