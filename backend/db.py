"""Async database access: one engine per process, and the unit of work.

A unit of work is a session whose `commit()` also sends the jobs queued inside it
(`queue.defer`): they are enqueued only once the rows they need are committed, and never
when the transaction rolls back. It is the only session class the app makes, so there is
no way to commit that forgets the jobs.

With a streaming replica (DATABASE_REPLICA_URL), `read_scope()` gives reads that may be a
moment stale (browse lists, search visibility, document pages, analytics) a unit of work
on the replica, unless the reader's own last change has not been replayed there yet: then
on the primary. The reader is the credential of the request or websocket event being
served (`set_reader`, called by the gateway and the event guard for every one of them);
each commit that wrote something records the primary's log position under the reader's
key in Redis, and a read compares it with the replica's replayed position. A replica that
does not answer is left alone for a while (its circuit breaker) and the primary serves.
Everything else (`session_scope`) is on the primary.
"""

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import Executable, Result, Row, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as CoreSession
from sqlmodel.ext.asyncio.session import AsyncSession

import backend.models  # noqa: F401  (every table is known before the first flush)
from backend import breakers, metrics, queue
from backend.errors import Unavailable
from backend.redis_client import get_redis
from backend.settings import get_settings

log = logging.getLogger(__name__)
_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker["UnitOfWork"] | None = None
# Sessions on the primary whose transactions begin read-only (read_scope).
_reading_sessionmaker: async_sessionmaker["UnitOfWork"] | None = None
_replica_engine: AsyncEngine | None = None
_replica_sessionmaker: async_sessionmaker["UnitOfWork"] | None = None
_lock_engine: AsyncEngine | None = None

# Who the request or event being served is (a hash of its session or API token, or of
# its tab when there is none): its own changes are read back from the primary until the
# replica has them. "" for the worker's jobs, which read from the primary.
_reader: ContextVar[str] = ContextVar("library_reader", default="")
WROTE = "library:wrote:"
# Longer than any lag worth serving from the replica: past it, the reader's last change
# has long been replayed (or the replica's breaker has sent reads to the primary).
WROTE_SECONDS = 600


def set_reader(credential: str) -> None:
    """Name the reader of this request or event (its credential; never stored as is)."""
    key = hashlib.sha256(credential.encode()).hexdigest()[:32] if credential else ""
    _reader.set(key)


def database_url() -> str:
    url = get_settings().database_url
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set; start the app with ./run.sh, which provides the "
            "embedded PostgreSQL, or set DATABASE_URL"
        )
    return url


def direct_url() -> str:
    """The database server itself (DATABASE_DIRECT_URL), never a transaction pooler: for
    session-level locks, temporary tables, migrations and replication connections."""
    return get_settings().database_direct_url or database_url()


class UnitOfWork(AsyncSession):
    """A session whose commit sends the jobs deferred inside it, after the commit."""

    async def commit(self) -> None:
        jobs = queue.take_deferred(self)
        reader = _reader.get() if get_settings().database_replica_url else ""
        wrote = False
        if reader and not self.info.get("replica") and self.in_transaction():
            assigned = await CoreSession.execute(
                self, text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
            )
            wrote = bool(assigned.scalar())
        await super().commit()
        if wrote:
            await _remember_write(reader)
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


def _connect_args(pooler: bool = True) -> dict[str, Any]:
    """psycopg's arguments; `pooler`: the connection may go through PgBouncer."""
    settings = get_settings()
    args: dict[str, Any] = {"connect_timeout": max(1, round(settings.connect_timeout_seconds))}
    if pooler and settings.database_pgbouncer:
        # PgBouncer in transaction mode hands a client a different server connection for
        # each transaction: statements psycopg prepared on one are unknown on the next.
        args["prepare_threshold"] = None
    return args


def _pool() -> dict[str, Any]:
    settings = get_settings()
    return {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_pool_overflow,
        "pool_timeout": settings.database_pool_timeout_seconds,
    }


BUSY = "The library is busy; try again in a few seconds."
AWAY = "The database is not answering; try again shortly."


def unavailable(exc: BaseException) -> Unavailable | None:
    """A database failure a person can only wait out, as the sentence they are shown:
    every connection of this process in use for longer than the pool's timeout (a
    crowd), or the server refusing, dropping or cancelling (a restart, a failover, a
    statement that took too long). None for anything else, which is a fault of ours."""
    if isinstance(exc, PoolTimeout):
        return Unavailable(BUSY, retry_after=5)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return Unavailable(AWAY, retry_after=get_settings().breaker_recovery_seconds)
    return None


def get_engine() -> AsyncEngine:
    global _engine, _sessionmaker, _reading_sessionmaker
    if _engine is None:
        _engine = create_async_engine(
            database_url(), pool_pre_ping=True, connect_args=_connect_args(), **_pool()
        )
        _sessionmaker = async_sessionmaker(_engine, class_=UnitOfWork, expire_on_commit=False)
        # (psycopg begins their transactions with BEGIN READ ONLY: no statement of their
        # own, and no connection taken before the first read; reset when given back.)
        _reading_sessionmaker = async_sessionmaker(
            _engine.execution_options(postgresql_readonly=True),
            class_=UnitOfWork,
            expire_on_commit=False,
        )
    return _engine


def lock_engine() -> AsyncEngine:
    """Connections to the server itself (never a transaction pooler) that hold
    session-level advisory locks, such as a pipeline run's claim on its version. In
    autocommit, so they never hold a transaction open. They are kept between uses: a new
    connection per document cost a server backend's start and a connection's setup each
    time. Whoever takes a lock on one gives it back before returning the connection, or
    invalidates the connection, which ends its session and every lock with it."""
    global _lock_engine
    if _lock_engine is None:
        _lock_engine = create_async_engine(
            direct_url(),
            pool_pre_ping=True,
            pool_size=4,
            max_overflow=8,
            isolation_level="AUTOCOMMIT",
            connect_args=_connect_args(pooler=False),
        )
    return _lock_engine


def _replica() -> AsyncEngine:
    global _replica_engine, _replica_sessionmaker
    if _replica_engine is None:
        _replica_engine = create_async_engine(
            get_settings().database_replica_url,
            pool_pre_ping=True,
            connect_args=_connect_args(),
            **_pool(),
        )
        _replica_sessionmaker = async_sessionmaker(
            _replica_engine, class_=UnitOfWork, expire_on_commit=False, info={"replica": True}
        )
    return _replica_engine


async def _remember_write(reader: str) -> None:
    """The primary's log position now (past this transaction's commit), kept as the
    reader's last change."""
    try:
        async with autocommit() as conn:
            lsn = (await conn.execute(text("SELECT pg_current_wal_lsn()::text"))).scalar()
        await get_redis().set(WROTE + reader, str(lsn), ex=WROTE_SECONDS)
    except (DBAPIError, OSError, RedisError):
        # Committed all the same; the reader may see the replica's older copy for as long
        # as it lags (milliseconds when it streams).
        log.warning("could not record a reader's last change", exc_info=True)


async def _replayed(engine: AsyncEngine, needed: str) -> bool:
    """Whether the replica has replayed the log up to `needed` ("" : nothing needed)."""
    try:
        async with engine.connect() as conn:
            fresh = await conn.execute(
                text(
                    "SELECT CASE WHEN :needed = '' THEN true ELSE "
                    "coalesce(pg_last_wal_replay_lsn() >= CAST(:needed AS pg_lsn), true) END"
                ),
                {"needed": needed},
            )
            return bool(fresh.scalar())
    except DBAPIError as exc:  # no connection, a server shutting down: the replica failed
        raise breakers.Failure(str(exc)) from exc


async def _read_maker() -> async_sessionmaker["UnitOfWork"]:
    get_engine()
    assert _reading_sessionmaker is not None
    if not get_settings().database_replica_url:
        return _reading_sessionmaker
    replica = _replica()
    assert _replica_sessionmaker is not None
    reader = _reader.get()
    needed = ""
    if reader:
        try:
            needed = (await get_redis().get(WROTE + reader)) or ""
        except RedisError:
            return _reading_sessionmaker  # this reader's last change is unknown: the primary's
        if isinstance(needed, bytes):
            needed = needed.decode()
    try:
        fresh = await breakers.DATABASE_REPLICA.call(lambda: _replayed(replica, needed))
    except Unavailable:
        fresh = False
    metrics.DATABASE_READS.labels("replica" if fresh else "primary").inc()
    return _replica_sessionmaker if fresh else _reading_sessionmaker


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
async def read_scope() -> AsyncIterator[UnitOfWork]:
    """A unit of work for reads that may be a moment stale: on the replica when there is
    one, it answers, and it has replayed this reader's last change; else on the primary.
    Writing in it fails on a replica (read-only): writes go through `session_scope`."""
    maker = await _read_maker()
    # Read-only on the primary too: a write slipped into a read fails everywhere, not only
    # where a replica runs.
    async with maker() as session:
        try:
            yield session
        finally:
            queue.take_deferred(session)


@asynccontextmanager
async def autocommit(engine: AsyncEngine | None = None) -> AsyncIterator[AsyncConnection]:
    """A connection outside any transaction (to `engine`, else the primary), for reads of
    committed rows that need no session: each statement is one round trip (no BEGIN, no
    COMMIT or ROLLBACK)."""
    async with (engine or get_engine()).connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


async def committed_rows(
    session: AsyncSession, stmt: Executable, params: Any = None
) -> Sequence[Row[Any]]:
    """The rows of a statement that reads committed rows: in the session's transaction
    when it has begun one (what it changed is not committed yet), else on a connection
    outside any transaction, so that no connection of the session stays held afterwards
    (one round trip, no BEGIN and no COMMIT), on the session's server."""
    if session.in_transaction():
        return (await (await session.connection()).execute(stmt, params)).all()
    # (on the session's own server: a read session's replica, when it reads from one)
    bind = session.bind if isinstance(session.bind, AsyncEngine) else None
    async with autocommit(bind) as conn:
        return (await conn.execute(stmt, params)).all()


async def dispose_engine() -> None:
    global _engine, _sessionmaker, _reading_sessionmaker, _replica_engine, _replica_sessionmaker
    global _lock_engine
    for engine in (_engine, _replica_engine, _lock_engine):
        if engine is not None:
            await engine.dispose()
    _engine = _replica_engine = _lock_engine = None
    _sessionmaker = _reading_sessionmaker = _replica_sessionmaker = None


async def sql(session: AsyncSession, statement: Executable) -> Result[*tuple[Any, ...]]:
    """Run a textual or Core statement (set-wide changes, reports, locks) in the session's
    unit of work; SQLModel's `exec` is typed for ORM statements only."""
    return await CoreSession.execute(session, statement)
