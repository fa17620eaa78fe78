"""Alembic migrations of the ingress schema."""
