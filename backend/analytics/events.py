"""Analytics events: the request appends to Redis, the worker stores them in batches.

`record` is all a request does: one Redis round trip (a script that appends the event to
a list unless the list is over its cap), never a PostgreSQL write. Every few seconds the
worker's `flush` takes the list (renamed, so new events go on to a fresh one), reads it
in batches, COPYs each batch into a temporary table and inserts it into the month
partitions, and only then trims the batch from Redis. A batch stored and not trimmed (a
worker that died in between) is sent again and stored once: each event carries the key
the request gave it, and (at, key) is the table's primary key. An entry that cannot be
read is logged and skipped; the rest of its batch is stored.

Nothing is lost when Redis is away or the buffer is full (no worker has flushed for a
long time): the event is added to the request's own unit of work instead, committed with
it. A user deleted while their events wait is stored as nobody, as the foreign key does
for the events already stored.

Who: a signed-in user by id; a visitor by a keyed hash of the address that changes each
day (backend.analytics.visitors); the address itself is never stored.
"""

import json
import logging
import time
import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.engine import make_url
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics import partitions
from backend.analytics.models import AnalyticsEvent
from backend.analytics.visitors import visitor_id
from backend.clock import utcnow
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import User

log = logging.getLogger(__name__)

BUFFER = "analytics:events"  # a Redis list of JSON entries, newest last
FLUSHING = "analytics:events:flushing"  # the list being stored (a flush renamed it)
BUFFER_CAP = 2_000_000  # beyond this (no worker for hours), events go to PostgreSQL directly
BATCH = 10_000
_LOCK = 0xA7A1E6  # one flush at a time, whichever worker runs it
_APPEND = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
"""
COLUMNS = (
    "key",
    "at",
    "kind",
    "user_id",
    "visitor",
    "document_id",
    "collection_id",
    "query",
    "result_count",
    "duration_ms",
    "data",
)


async def record(
    *,
    session: AsyncSession,
    kind: str,
    actor: User | None = None,
    document_id: int | None = None,
    collection_id: int | None = None,
    query: str = "",
    result_count: int | None = None,
    duration_ms: float | None = None,
    data: dict[str, Any] | None = None,
    client: str = "",
    at: datetime | None = None,
) -> uuid.UUID:
    """Record an event; returns its key (a search's key ties its opened results to it).
    `client`: the address of a visitor who is not signed in (hashed, never stored)."""
    key = uuid.uuid4()
    when = at or utcnow()
    user_id = actor.id if actor is not None else None
    visitor = None if user_id is not None else visitor_id(client, when.date(), "analytics")
    entry = {
        "k": key.hex,
        "t": when.isoformat(),
        "n": kind,
        "u": user_id,
        "v": visitor.hex() if visitor else None,
        "d": document_id,
        "c": collection_id,
        "q": query[:1000],
        "r": result_count,
        "ms": duration_ms,
        "x": data or {},
    }
    try:
        appended = await get_redis().eval(  # type: ignore[misc]
            _APPEND, 1, BUFFER, json.dumps(entry, separators=(",", ":")), BUFFER_CAP
        )
    except RedisError as exc:
        log.warning("analytics buffer unreachable (%s): event stored with the request", exc)
        appended = 0
    if not appended:
        session.add(
            AnalyticsEvent(
                key=key,
                at=when,
                kind=kind,
                user_id=user_id,
                visitor=visitor,
                document_id=document_id,
                collection_id=collection_id,
                query=query[:1000],
                result_count=result_count,
                duration_ms=duration_ms,
                data=data or {},
            )
        )
    return key


def _row(entry: str) -> tuple[Any, ...]:
    e = json.loads(entry)
    return (
        uuid.UUID(hex=e["k"]),
        datetime.fromisoformat(e["t"]),
        str(e["n"])[:40],
        e.get("u"),
        bytes.fromhex(e["v"]) if e.get("v") else None,
        e.get("d"),
        e.get("c"),
        str(e.get("q") or "")[:1000],
        e.get("r"),
        e.get("ms"),
        Jsonb(e.get("x") or {}),
    )


def dsn() -> str:
    url = make_url(get_settings().database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def flush(*, batch: int = BATCH, budget_s: float = 50.0) -> int:
    """Move the buffered events to PostgreSQL (the worker, every few seconds); returns
    how many were stored. Stops after `budget_s`, leaving the rest for the next flush."""
    redis = get_redis()
    deadline = time.monotonic() + budget_s
    stored = 0
    async with await AsyncConnection.connect(dsn(), autocommit=True) as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK,))
        row = await cur.fetchone()
        if not row or not row[0]:
            return 0  # another flush is running
        await conn.execute("CREATE TEMP TABLE incoming (LIKE analytics_events INCLUDING DEFAULTS)")
        while time.monotonic() < deadline:
            if not await redis.exists(FLUSHING):  # else a stopped flush left it: that first
                try:
                    await redis.rename(BUFFER, FLUSHING)
                except ResponseError as exc:
                    if "no such key" in str(exc).lower():
                        break
                    raise
            while time.monotonic() < deadline:
                entries: list[str] = await redis.lrange(FLUSHING, 0, batch - 1)  # type: ignore[misc]
                if not entries:
                    break
                stored += await _store(conn, entries)
                await redis.ltrim(FLUSHING, len(entries), -1)  # type: ignore[misc]  # once stored
    return stored


async def _store(conn: AsyncConnection, entries: list[str]) -> int:
    rows = []
    for entry in entries:
        try:
            rows.append(_row(entry))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error("an analytics entry that cannot be read was skipped (%s): %.200s", exc, entry)
    if not rows:
        return 0
    columns = ", ".join(COLUMNS)
    async with conn.transaction():
        await partitions.ensure(conn, {partitions.month_of(r[1]) for r in rows})
        async with conn.cursor().copy(f"COPY incoming ({columns}) FROM STDIN") as copy:
            for r in rows:
                await copy.write_row(r)
        cur = await conn.execute(
            f"""
            INSERT INTO analytics_events ({columns})
            SELECT i.key, i.at, i.kind, u.id, i.visitor, i.document_id, i.collection_id,
                   i.query, i.result_count, i.duration_ms, i.data
            FROM incoming i LEFT JOIN users u ON u.id = i.user_id
            ON CONFLICT DO NOTHING
            """
        )
        stored = cur.rowcount
        await conn.execute("TRUNCATE incoming")
    return stored
