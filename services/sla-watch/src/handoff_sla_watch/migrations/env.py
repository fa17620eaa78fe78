"""Alembic environment of the sla schema."""

from handoff.migrations import run_env
from handoff_sla_watch.adapters.tables import metadata

run_env(metadata)
