"""The scoring service's identity for the CLI and the dev stack."""

from handoff.service import ServiceSpec

SERVICE = ServiceSpec(
    name="scoring", schema="scoring", package="handoff_scoring", default_port=8101
)
