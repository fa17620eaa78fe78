"""Alembic environment of the ingress schema."""

from handoff.migrations import run_env
from handoff_ingress.adapters.deliveries import metadata

run_env(metadata)
