"""The sla-watch service's identity for the CLI and the dev stack."""

from handoff.service import ServiceSpec

SERVICE = ServiceSpec(
    name="sla-watch", schema="sla", package="handoff_sla_watch", default_port=8103
)
