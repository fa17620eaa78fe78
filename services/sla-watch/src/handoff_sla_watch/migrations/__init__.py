"""Alembic migrations of the sla schema."""
