"""Async database access: one engine per process, and the unit of work.

A unit of work is a session whose `commit()` also sends the jobs queued inside it
(`queue.defer`): they are enqueued only once the rows they need are committed, and never
when the transaction rolls back. It is the only session class the app makes, so there is
no way to commit that forgets the jobs.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as CoreSession
from sqlmodel.ext.asyncio.session import AsyncSession

import backend.models  # noqa: F401  (every table is known before the first flush)
from backend import queue
from backend.settings import get_settings

log = logging.getLogger(__name__)
_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker["UnitOfWork"] | None = None


def database_url() -> str:
    url = get_settings().database_url
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set; start the app with ./run.sh, which provides the "
            "embedded PostgreSQL, or set DATABASE_URL"
        )
    return url


class UnitOfWork(AsyncSession):
    """A session whose commit sends the jobs deferred inside it, after the commit."""

    async def commit(self) -> None:
        jobs = queue.take_deferred(self)
        await super().commit()
        for job in jobs:
            try:
                await queue.enqueue(job)
            except Exception:
                # The rows are committed; the worker's sweepers find what they need.
                log.exception(
                    "could not enqueue %s (%s); the sweeper will retry", job.function, job.job_id
                )

    async def rollback(self) -> None:
        queue.take_deferred(self)
        await super().rollback()


def get_engine() -> AsyncEngine:
    global _engine, _sessionmaker
    if _engine is None:
        _engine = create_async_engine(database_url(), pool_pre_ping=True, pool_size=10)
        _sessionmaker = async_sessionmaker(_engine, class_=UnitOfWork, expire_on_commit=False)
    return _engine


@asynccontextmanager
async def session_scope() -> AsyncIterator[UnitOfWork]:
    """A unit of work: the caller commits (which sends its jobs); anything uncommitted is
    rolled back on exit, its jobs with it."""
    get_engine()
    assert _sessionmaker is not None
    async with _sessionmaker() as session:
        try:
            yield session
        finally:
            queue.take_deferred(session)


@asynccontextmanager
async def autocommit() -> AsyncIterator[AsyncConnection]:
    """A connection outside any transaction, for reads of committed rows that need no
    session: each statement is one round trip (no BEGIN, no COMMIT or ROLLBACK)."""
    async with get_engine().connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


async def dispose_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None


async def sql(session: AsyncSession, statement: Executable) -> Result[*tuple[Any, ...]]:
    """Run a textual or Core statement (set-wide changes, reports, locks) in the session's
    unit of work; SQLModel's `exec` is typed for ORM statements only."""
    return await CoreSession.execute(session, statement)
