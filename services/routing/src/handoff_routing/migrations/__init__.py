"""Alembic migrations of the routing schema."""
