"""Alembic environment of the notify schema."""

from handoff.migrations import run_env
from handoff_notify.adapters.tables import metadata

run_env(metadata)
