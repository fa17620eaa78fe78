"""Alembic glue: each service migrates its own schema with its own version table."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from handoff.messaging.outbox import outbox_notify_ddl_v1
from handoff.service import ServiceSpec


def alembic_config(spec: ServiceSpec, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", spec.migrations)
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["schema"] = spec.schema
    return cfg


def upgrade(spec: ServiceSpec, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(spec, database_url), revision)


def run_env(metadata: MetaData) -> None:
    """Body of every service's migrations/env.py (online mode, asyncpg)."""
    cfg = context.config
    schema: str = cfg.attributes["schema"]

    def migrate(connection: Connection) -> None:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(
            cfg.get_main_option("sqlalchemy.url") or "", poolclass=NullPool
        )
        async with engine.begin() as conn:
            # Two instances starting at once must not both migrate.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"migrate.{schema}"}
            )
            await conn.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())


# Frozen DDL for the outbox and inbox, version 1, shared by every service's first migration.
# A later change to these tables gets a new function and a migration in each service.
def create_messaging_tables_v1(schema: str) -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    op.create_index(
        "outbox_unpublished",
        "outbox",
        ["id"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    for statement in outbox_notify_ddl_v1(schema):
        op.execute(statement)
    op.create_table(
        "inbox",
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.PrimaryKeyConstraint("source", "event_id"),
        schema=schema,
    )


def drop_messaging_tables_v1(schema: str) -> None:
    op.drop_table("inbox", schema=schema)
    op.drop_table("outbox", schema=schema)
    op.execute(f"DROP FUNCTION IF EXISTS {schema}.outbox_notify()")


# Version 2 of the inbox: an index on processed_at, so retention prunes by age (issue 10).
def create_inbox_age_index_v2(schema: str) -> None:
    op.execute(f"CREATE INDEX IF NOT EXISTS inbox_processed_at ON {schema}.inbox (processed_at)")


def drop_inbox_age_index_v2(schema: str) -> None:
    op.execute(f"DROP INDEX IF EXISTS {schema}.inbox_processed_at")
