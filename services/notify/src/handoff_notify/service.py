"""The notify service's identity for the CLI and the dev stack."""

from handoff.service import ServiceSpec

SERVICE = ServiceSpec(name="notify", schema="notify", package="handoff_notify", default_port=8105)
