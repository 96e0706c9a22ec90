"""Analytics events: the request hands them over, the worker stores them in batches.

`record` costs a request microseconds: the event joins the process's outgoing list, and
a task sends what has gathered over a few milliseconds to a Redis list in one call (a
script that appends unless the list is over its cap); no PostgreSQL write. Every few
seconds the worker's `flush` takes the list (renamed, so new events go on to a fresh
one), reads it in batches, COPYs each batch into a temporary table and inserts it into
the month partitions, and only then trims the batch from Redis. A batch stored and not
trimmed (a worker that died in between) is sent again and stored once: each event
carries the key it was given when recorded, and (at, key) is the table's primary key.
An entry that cannot be read is logged and skipped; the rest of its batch is stored.

With Redis away or the buffer full (no worker has flushed for a long time), the sending
task stores the events in PostgreSQL itself, the same way. A user deleted while their
events wait is stored as nobody, as the foreign key does for the events already stored.

Who: a signed-in user by id; a visitor by a keyed hash of the address that changes each
day (backend.analytics.visitors); the address itself is never stored.
"""

import asyncio
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from backend.analytics import partitions
from backend.analytics.visitors import visitor_id
from backend.clock import utcnow
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import User

log = logging.getLogger(__name__)

BUFFER = "analytics:events"  # a Redis list of JSON entries, newest last
FLUSHING = "analytics:events:flushing"  # the list being stored (a flush renamed it)
# Changed by every flush that stored events: a new random mark each time (a counter would
# start again at 1 after Redis lost its data, and match a mark cached before).
FLUSHED = "analytics:events:flushed"
BUFFER_CAP = 2_000_000  # beyond this (no worker for hours), events go to PostgreSQL directly
BATCH = 10_000
_LOCK = 0xA7A1E6  # one flush at a time, whichever worker runs it
_APPEND = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
return redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
"""
INCOMING = "CREATE TEMP TABLE incoming (LIKE analytics_events INCLUDING DEFAULTS)"
_scripts: dict[int, AsyncScript] = {}
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
    `client`: the address of a visitor who is not signed in (hashed, never stored).

    The request does not wait for Redis: the event joins this process's outgoing list,
    which one task per event loop appends to the Redis buffer, many events a call."""
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
    _sender.add(json.dumps(entry, separators=(",", ":")))
    return key


class _Sender:
    """Events recorded in this process, on their way to the Redis buffer.

    The task that sends them waits LINGER for more to gather, then takes everything
    recorded by then in one Redis call: a busy process makes one call every LINGER,
    not one per request. With Redis away or the buffer full,
    they are stored in PostgreSQL directly; with both away, kept (up to HELD_MOST) and
    tried again every second. What a process killed outright loses is what it recorded
    in its last LINGER; a server shutting down sends the rest first (`sent`)."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.lists: dict[str, tuple[int, list[str]]] = {}  # other lists: (cap, entries)
        self.task: asyncio.Task[None] | None = None

    def add(self, entry: str) -> None:
        self.pending.append(entry)
        self._start()

    def add_to(self, key: str, entry: str, cap: int) -> None:
        self.lists.setdefault(key, (cap, []))[1].append(entry)
        self._start()

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._send())

    async def _send(self) -> None:
        while self.pending or self.lists:
            await asyncio.sleep(LINGER)  # what else is recorded meanwhile goes with it
            lists, self.lists = self.lists, {}
            if lists:
                await _append(lists)
            if not self.pending:
                continue
            entries, self.pending = self.pending[:SEND_MOST], self.pending[SEND_MOST:]
            try:
                await _deliver(entries)
            except Exception:
                log.exception("%d analytics events wait: Redis and PostgreSQL away", len(entries))
                kept = entries[: max(0, HELD_MOST - len(self.pending))]
                if len(kept) < len(entries):
                    log.error("%d analytics events dropped", len(entries) - len(kept))
                self.pending[:0] = kept
                await asyncio.sleep(1.0)

    async def sent(self) -> None:
        task = self.task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(task)


_sender = _Sender()
SEND_MOST = 5_000  # events in one Redis call
LINGER = 0.02  # seconds an event waits for others to go to Redis with
HELD_MOST = 200_000  # events a process keeps while Redis and PostgreSQL are both away


async def sent() -> None:
    """Wait until the events recorded so far in this process have left it."""
    await _sender.sent()


def append_later(key: str, entry: str, cap: int) -> None:
    """Append `entry` to the Redis list `key`, kept to its first `cap` entries, with the
    sending task's next call (other counts a request makes, such as the searches that
    autocomplete counts: one Redis call every LINGER, not one per request). Unlike the
    events, an entry Redis cannot take is dropped, with a warning."""
    _sender.add_to(key, entry, cap)


async def _append(lists: dict[str, tuple[int, list[str]]]) -> None:
    try:
        async with get_redis().pipeline(transaction=False) as pipe:
            for key, (cap, entries) in lists.items():
                pipe.rpush(key, *entries)
                pipe.ltrim(key, 0, cap - 1)
            await pipe.execute()
    except Exception as exc:  # (Redis away or misconfigured: the task goes on with the rest)
        dropped = sum(len(entries) for _, entries in lists.values())
        log.warning("%d entries for %s dropped: %s", dropped, ", ".join(lists), exc)


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """The web server's lifespan: at shutdown, what was recorded is sent."""
    yield
    await sent()


async def _deliver(entries: list[str]) -> None:
    try:
        redis = get_redis()
        append = _scripts.get(id(redis))
        if append is None:  # (one per client: EVALSHA, loading the script when needed)
            append = _scripts[id(redis)] = redis.register_script(_APPEND)
        if await append(keys=[BUFFER], args=[BUFFER_CAP, *entries]):
            return
        log.warning("the analytics buffer is full: %d events stored directly", len(entries))
    except RedisError as exc:
        log.warning(
            "analytics buffer unreachable (%s): %d events stored directly", exc, len(entries)
        )
    async with await AsyncConnection.connect(dsn(), autocommit=True) as conn:
        await conn.execute(INCOMING)
        await _store(conn, entries)


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
    # Its own session: a lock held across the flush's transactions and a temporary table.
    # (the settings read here, not backend.db, which would bring every domain's models)
    return get_settings().direct_dsn


async def flush(*, batch: int = BATCH, budget_s: float = 50.0) -> int:
    """Move the buffered events to PostgreSQL (the worker, every few seconds); returns
    how many were stored. Stops after `budget_s`, leaving the rest for the next flush."""
    await sent()
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
    if stored:
        # (the dashboards' figures of today are out of date)
        await redis.set(FLUSHED, secrets.token_hex(8))
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
