"""Alembic environment of the insight schema."""

from handoff.migrations import run_env
from handoff_insight.adapters.tables import metadata

run_env(metadata)
