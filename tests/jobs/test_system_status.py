"""The status page's view of the worker: failed jobs kept with their reason and retried,
heartbeats, queue depth per job, the store's measured size and every probe's answer."""

import json
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.errors import PermissionDenied
from backend.operations import status, watch
from backend.redis_client import get_redis
from backend.search.engines import get_search_engine, reset_search_engine
from backend.settings import get_settings
from backend.storage.service import get_store
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


async def _outbox(db: AsyncSession) -> int:
    return int((await db.exec(text("SELECT count(*) FROM search_outbox"))).one()[0])


async def test_a_job_that_gave_up_is_listed_with_its_reason_and_retried(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await make_user(db, Role.ADMIN)
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian)
    await upload_bytes(db, librarian, shelf, b"the kestrel survey\n", "kestrel.txt")
    await db.commit()
    await run_burst()  # ingested and indexed
    await db.exec(
        text("INSERT INTO search_outbox (document_id, created_at) SELECT id, now() FROM documents")
    )
    await db.commit()

    # The search engine is away (a Meilisearch nobody answers at), and the indexing job's
    # last try fails: arq would forget it within the hour; the status page keeps it.
    monkeypatch.setenv("MEILI_URL", f"http://127.0.0.1:{_dead_port()}")
    get_settings.cache_clear()
    reset_search_engine()
    try:
        pool = await queue.get_pool()
        await pool.enqueue_job("index_outbox", _job_id="index-last-try", _job_try=queue_max_tries())
        await run_burst()
    finally:
        monkeypatch.delenv("MEILI_URL")
        get_settings.cache_clear()
        reset_search_engine()
    redis = get_redis()
    found = await status.system_status(session=db, actor=admin, redis=redis)
    assert found.failed_total == 1
    (failure,) = found.failed
    assert failure.function == "index_outbox" and failure.job_id == "index-last-try"
    assert "ConnectError" in failure.reason, failure.reason
    assert failure.times == 1 and failure.tries == queue_max_tries()
    assert await _outbox(db) == 1  # nothing lost: the change waits in the outbox

    # Nobody but an admin sees or retries it.
    with pytest.raises(PermissionDenied):
        await status.system_status(session=db, actor=librarian, redis=redis)
    with pytest.raises(PermissionDenied):
        await status.retry_job(actor=librarian, redis=redis, signature=failure.signature)
    assert await status.retry_job(actor=admin, redis=redis, signature="no-such-job") == ""

    # The engine is back: the admin retries; the job runs again, from its first try, and
    # its success removes the line.
    job_id = await status.retry_job(actor=admin, redis=redis, signature=failure.signature)
    assert job_id.startswith("retry:")
    (marked,), _ = await watch.failed_jobs(redis)
    assert marked.retry_job_id == job_id and marked.retried_at_ms > 0
    worker = await run_burst()
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    assert await _outbox(db) == 0
    assert await get_search_engine().count() == 1
    assert await watch.failed_jobs(redis) == ([], 0)


def queue_max_tries() -> int:
    from jobs.worker import WorkerSettings

    return WorkerSettings.max_tries


async def test_the_same_failure_again_is_one_line_that_counts(db: AsyncSession) -> None:
    redis = get_redis()
    pool = await queue.get_pool()
    for n in range(3):  # a job whose argument is not an id fails every time it runs
        await pool.enqueue_job("check_import", "not-an-id", _job_id=f"bad-{n}")
        await run_burst()
    failures, total = await watch.failed_jobs(redis)
    assert total == 1 and len(failures) == 1
    assert failures[0].times == 3 and failures[0].job_id == "bad-2"
    assert failures[0].args == ["not-an-id"]
    assert failures[0].first_failed_at_ms <= failures[0].failed_at_ms

    # The list keeps the most recent KEEP_FAILED signatures.
    for n in range(watch.KEEP_FAILED + 5):
        await watch.note_outcome(
            redis, f"j{n}", {"f": "send_mail", "a": [n], "k": {}, "s": False, "r": "x", "ft": n + 1}
        )
    failures, total = await watch.failed_jobs(redis, limit=watch.KEEP_FAILED)
    assert total == watch.KEEP_FAILED
    # The six oldest (n = 0..5, failed in 1970) were forgotten; the real one is kept.
    assert {f.args[0] for f in failures} == set(range(6, watch.KEEP_FAILED + 5)) | {"not-an-id"}


async def test_heartbeats_queue_depth_and_the_stores_size(db: AsyncSession, data_dir: Path) -> None:
    admin = await make_user(db, Role.ADMIN)
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian)
    for i in range(3):
        await upload_bytes(db, librarian, shelf, f"report {i}\n".encode(), f"r{i}.txt")
    await db.commit()  # three ingest jobs (and indexing) queued
    redis = get_redis()
    found = await status.system_status(session=db, actor=admin, redis=redis)
    depth = {d.function: (d.due, d.later) for d in found.queue}
    assert depth["ingest_version"] == (3, 0)
    assert found.queued == sum(d + later for d, later in depth.values())
    assert found.figures["ingest_pending"] == 3
    assert not found.workers
    assert next(c for c in found.checks if c.name == "Workers").ok is False

    worker = await run_burst()
    beats = await watch.workers(redis)
    assert beats == []  # a worker that stopped cleanly leaves the list
    # A worker that is running says so every few seconds; one that died goes silent.
    now = int(time.time() * 1000)
    await watch.beat(redis, watch.WorkerBeat("host:1", now, now - 1000, 5, 1, 0, ["ingest:1"]))
    await watch.beat(redis, watch.WorkerBeat("host:2", now - 60_000, now - 90_000, 0, 0, 0))
    await watch.beat(redis, watch.WorkerBeat("host:3", now - 2 * 86400_000, 0, 0, 0, 0))
    found = await status.system_status(session=db, actor=admin, redis=redis)
    assert [w.name for w in found.workers] == ["host:1", "host:2"]  # host:3 forgotten
    workers_check = next(c for c in found.checks if c.name == "Workers")
    assert workers_check.ok and workers_check.summary == "1 answering, 1 silent"
    assert found.figures["ingest_pending"] == 0 and found.queued == 0
    assert worker.jobs_failed == 0

    # The store's size: not measured until the worker's cron walks it.
    assert next(c for c in found.checks if c.name == "Object store").ok is None
    measured = await status.measure_store(get_store(), redis)
    files = [p for p in (data_dir / "objects").rglob("*") if p.is_file()]
    assert measured["objects"] == len(files) >= 3
    assert measured["bytes"] == sum(p.stat().st_size for p in files)
    found = await status.system_status(session=db, actor=admin, redis=redis)
    store_check = next(c for c in found.checks if c.name == "Object store")
    assert store_check.ok and f"{len(files)} objects" in store_check.summary
    assert json.loads(await redis.get(status.STORE_USAGE))["objects"] == len(files)

    search_check = next(c for c in found.checks if c.name == "Search engine")
    assert search_check.ok and "3 documents indexed, 3 searchable" in search_check.summary
    migrations = next(c for c in found.checks if c.name == "Migrations")
    assert migrations.ok and status.migration_head() in migrations.summary


async def test_a_dead_virus_scanner_is_said_at_once(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch, clamd_url: str
) -> None:
    admin = await make_user(db, Role.ADMIN)
    redis = get_redis()
    try:
        monkeypatch.setenv("CLAMD_URL", clamd_url)
        get_settings.cache_clear()
        found = await status.system_status(session=db, actor=admin, redis=redis)
        scanner = next(c for c in found.checks if c.name == "Virus scanner")
        assert scanner.ok and scanner.summary.startswith("ClamAV")
        monkeypatch.setenv("CLAMD_URL", f"tcp://127.0.0.1:{_dead_port()}")
        get_settings.cache_clear()
        found = await status.system_status(session=db, actor=admin, redis=redis)
        scanner = next(c for c in found.checks if c.name == "Virus scanner")
        assert scanner.ok is False and "cannot be reached" in scanner.summary
        monkeypatch.delenv("CLAMD_URL")
        get_settings.cache_clear()
        found = await status.system_status(session=db, actor=admin, redis=redis)
        scanner = next(c for c in found.checks if c.name == "Virus scanner")
        assert scanner.ok is None and "not scanned" in scanner.summary
    finally:
        get_settings.cache_clear()
