"""Analytics events: a request appends to Redis only; the worker stores them in batches,
once each, whatever happens in between."""

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest
from psycopg import AsyncConnection
from redis.asyncio import Redis
from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.analytics import events, partitions
from backend.analytics.models import AnalyticsEvent
from backend.auth import service as auth
from backend.errors import NotAuthenticated
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users import service as users
from backend.users.models import Role
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.worker import run_burst


async def _stored(db: AsyncSession, *kinds: str) -> list[AnalyticsEvent]:
    """The stored events (but the registrations of the tests' users), oldest first."""
    await db.rollback()  # a fresh snapshot
    stmt = select(AnalyticsEvent).order_by(AnalyticsEvent.at)  # type: ignore[arg-type]
    found = (await db.exec(stmt)).all()
    return [e for e in found if e.kind in kinds or not kinds and e.kind != "registration"]


async def test_a_request_writes_redis_only_and_the_worker_stores_the_events(
    db: AsyncSession,
) -> None:
    patron = await make_user(db)
    await db.commit()
    await events.flush()  # (the registration)
    pid = patron.id
    await events.record(
        kind="search",
        query="tidal mills",
        result_count=3,
        client="198.51.100.7",
        data={"typing": False},
    )
    await events.record(
        kind="download",
        actor=patron,
        document_id=7,
        collection_id=2,
        client="198.51.100.7",
    )
    assert not db.new  # nothing for PostgreSQL in the request
    await events.sent()  # (the sending task runs once the request yields)
    assert await get_redis().llen(events.BUFFER) == 2  # type: ignore[misc]
    assert await _stored(db) == []

    await queue.enqueue(queue.Job("flush_events", (), "flush-events-test"))
    await run_burst()  # the real worker runs the flush

    search, download = await _stored(db)
    assert (search.kind, search.query, search.result_count, search.data) == (
        "search",
        "tidal mills",
        3,
        {"typing": False},
    )
    # A visitor is a 16-byte keyed hash: never the address, not even in the data.
    assert search.user_id is None and search.visitor is not None and len(search.visitor) == 16
    assert b"198.51.100.7" not in search.visitor and "198.51" not in str(search.data)
    assert (download.user_id, download.visitor, download.document_id, download.collection_id) == (
        pid,
        None,
        7,
        2,
    )
    assert not await get_redis().exists(events.BUFFER, events.FLUSHING)


async def test_a_batch_stored_twice_is_stored_once(db: AsyncSession) -> None:
    for n in range(5):
        await events.record(kind="document_view", document_id=n)
    await events.sent()
    entries = await get_redis().lrange(events.BUFFER, 0, -1)  # type: ignore[misc]
    # A flush stores the batch, then dies before trimming it from Redis: the next one
    # sends the same entries again.
    async with await AsyncConnection.connect(events.dsn(), autocommit=True) as conn:
        await conn.execute("CREATE TEMP TABLE incoming (LIKE analytics_events INCLUDING DEFAULTS)")
        assert await events._store(conn, entries) == 5
    assert await events.flush() == 0  # all five already there
    assert [e.document_id for e in await _stored(db)] == [0, 1, 2, 3, 4]


async def test_an_unreadable_entry_is_skipped_and_its_batch_is_stored(db: AsyncSession) -> None:
    await events.record(kind="document_view", document_id=1)
    await events.sent()
    await get_redis().rpush(events.BUFFER, "{not json", '{"k": "zz"}')  # type: ignore[misc]
    await events.record(kind="document_view", document_id=2)
    assert await events.flush() == 2
    assert [e.document_id for e in await _stored(db)] == [1, 2]
    assert not await get_redis().exists(events.BUFFER, events.FLUSHING)


async def test_with_redis_away_or_the_buffer_full_events_go_to_postgresql_directly(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)  # nothing listens
    monkeypatch.setattr(events, "get_redis", lambda: away)
    await events.record(kind="download", document_id=3)
    await events.sent()
    monkeypatch.undo()
    monkeypatch.setattr(events, "BUFFER_CAP", 0)
    await events.record(kind="download", document_id=4)
    await events.sent()
    assert [e.document_id for e in await _stored(db)] == [3, 4]
    assert await get_redis().llen(events.BUFFER) == 0  # type: ignore[misc]


async def test_with_redis_and_postgresql_away_events_wait_in_the_process(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    monkeypatch.setattr(events, "get_redis", lambda: away)
    monkeypatch.setattr(events, "dsn", lambda: "postgresql://nobody@127.0.0.1:1/none")
    await events.record(kind="download", document_id=5)
    for _ in range(50):  # one try, failed: kept for the next
        if events._sender.pending:
            break
        await asyncio.sleep(0.1)
    assert len(events._sender.pending) == 1 and await _stored(db) == []
    monkeypatch.undo()  # both back: the next try (a second later) sends it
    await asyncio.wait_for(events.sent(), timeout=10)
    await events.flush()
    assert [e.document_id for e in await _stored(db)] == [5]


async def test_a_deleted_user_is_nobody_in_events_stored_and_buffered(db: AsyncSession) -> None:
    gone, kept = await make_user(db), await make_user(db)
    await db.commit()
    await events.flush()
    kept_id = kept.id
    await events.record(kind="login", actor=gone)
    await events.flush()
    await events.record(kind="login", actor=gone)  # still in Redis
    await events.record(kind="login", actor=kept)
    await db.exec(text(f"DELETE FROM users WHERE id = {gone.id}"))  # type: ignore[call-overload]
    await db.commit()
    assert await events.flush() == 2
    assert sorted((e.user_id or 0) for e in await _stored(db, "login")) == [0, 0, kept_id]


async def test_concurrent_flushes_store_each_event_once(db: AsyncSession) -> None:
    redis = get_redis()
    entries = []
    for n in range(3000):
        entries.append(
            f'{{"k":"{uuid.uuid4().hex}","t":"2026-12-04T10:00:00+00:00","n":"search","q":"q{n}"}}'
        )
    await redis.rpush(events.BUFFER, *entries)  # type: ignore[misc]
    stored = await asyncio.gather(*(events.flush(batch=250) for _ in range(3)))
    stored_more = await events.flush()
    assert sum(stored) + stored_more == 3000
    assert (await db.exec(text("SELECT count(DISTINCT query) FROM analytics_events"))).one()[
        0
    ] == 3000  # type: ignore[call-overload]


async def test_months_are_partitions_made_ahead_and_dropped_after_the_retention(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANALYTICS_RETENTION_MONTHS", "3")
    get_settings.cache_clear()
    try:
        old = datetime(2025, 1, 15, 12, tzinfo=UTC)  # a month no partition was made for
        await events.record(kind="download", document_id=1, at=old)
        await events.record(kind="download", document_id=2)
        assert await events.flush() == 2  # the flush made the old month's partition
        async with await AsyncConnection.connect(events.dsn()) as conn:
            assert date(2025, 1, 1) in await partitions.existing(conn)
            now = datetime(2026, 12, 4, tzinfo=UTC)
            created, dropped = await partitions.maintain(conn, now)
            months = await partitions.existing(conn)
        assert {date(2026, 12, 1), date(2027, 3, 1)} <= months  # this month and 3 ahead
        assert date(2025, 1, 1) in dropped and date(2025, 1, 1) not in months
        assert all(m >= date(2026, 9, 1) for m in months)  # 3 months kept
        assert [e.document_id for e in await _stored(db)] == [2]
        # Again: nothing to do.
        async with await AsyncConnection.connect(events.dsn()) as conn:
            assert await partitions.maintain(conn, now) == ([], [])
    finally:
        get_settings.cache_clear()


async def test_registrations_logins_uploads_and_their_outcomes_are_events(
    db: AsyncSession, data_dir: object
) -> None:
    ada = await users.register(session=db, email="ada@example.org", password=PASSWORD)
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian)
    await db.commit()
    ada_id, shelf_id = ada.id, shelf.id
    await auth.login(session=db, redis=get_redis(), email=ada.email, password=PASSWORD)
    for email in (ada.email, "nobody@example.org"):
        with pytest.raises(NotAuthenticated):
            await auth.login(
                session=db, redis=get_redis(), email=email, password="wrong", ip="203.0.113.9"
            )
    first, _ = await upload_bytes(db, librarian, shelf, b"tidal mills\n", "mills.txt")
    again, _ = await upload_bytes(db, librarian, shelf, b"tidal mills\n", "copy.txt")
    await db.commit()
    first_id, again_id = first.id, again.id
    await run_burst()  # the ingest jobs
    await events.flush()

    assert [e.user_id for e in await _stored(db, "registration")][0] == ada_id
    assert [(e.user_id, e.data) for e in await _stored(db, "login")] == [
        (ada_id, {"role": "patron"})
    ]
    failed = await _stored(db, "login_failed")
    assert [(e.user_id, e.data["reason"]) for e in failed] == [
        (ada_id, "password"),
        (None, "no such account"),
    ]
    assert failed[1].visitor is not None  # the address, hashed
    uploads = await _stored(db, "upload")
    assert [(u.document_id, u.collection_id) for u in uploads] == [
        (first_id, shelf_id),
        (again_id, shelf_id),
    ]
    outcomes = {e.document_id: e for e in await _stored(db, "ingest")}
    assert outcomes[first_id].data["outcome"] == "ready"
    assert 0 < outcomes[first_id].data["seconds"] < 120
    assert outcomes[again_id].data["outcome"] == "duplicate"
    assert outcomes[again_id].data["step"] == "duplicate_check"
    assert outcomes[again_id].collection_id == shelf_id
