"""The async engine and the unit of work: one transaction per batch or request, committed at the boundary."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        database_url, pool_size=pool_size, max_overflow=5, pool_pre_ping=True
    )


def asyncpg_dsn(database_url: str) -> str:
    """The same database as a plain DSN, for raw asyncpg connections (LISTEN, advisory locks)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class UnitOfWork:
    """One database transaction. Repositories use `conn`; only the caller commits."""

    conn: AsyncConnection

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._committed = False
        self._after_commit: list[Callable[[], None]] = []

    async def __aenter__(self) -> UnitOfWork:
        self.conn = await self._engine.connect()
        await self.conn.begin()
        return self

    async def commit(self) -> None:
        await self.conn.commit()
        self._committed = True
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this transaction has committed; never if it rolls back.

        For effects outside the database that must follow the commit: waking a loop
        that should see the new rows, counting a metric once per applied batch.
        """
        self._after_commit.append(callback)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.conn.rollback()
        finally:
            await self.conn.close()


class UnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.engine)


async def database_answers(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        return True
    except Exception:
        return False
