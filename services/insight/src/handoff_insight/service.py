"""The insight service's identity for the CLI and the dev stack."""

from handoff.service import ServiceSpec

SERVICE = ServiceSpec(
    name="insight", schema="insight", package="handoff_insight", default_port=8104
)
