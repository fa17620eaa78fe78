"""Alembic environment of the routing schema."""

from handoff.migrations import run_env
from handoff_routing.adapters.tables import metadata

run_env(metadata)
