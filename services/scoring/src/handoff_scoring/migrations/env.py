"""Alembic environment of the scoring schema."""

from handoff.migrations import run_env
from handoff_scoring.adapters.tables import metadata

run_env(metadata)
