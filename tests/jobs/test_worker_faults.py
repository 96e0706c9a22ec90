"""Real worker processes (`python -m jobs.run`, as the launcher runs them) killed with
SIGKILL in the middle of a job, and Redis and PostgreSQL going away under them: the job
is taken again by another worker within a minute and done once, and the worker lives on.
"""

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from aiosmtpd.controller import Controller
from redis.asyncio import Redis
from sqlalchemy import make_url
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.auth import reset
from backend.clock import utcnow
from backend.db import session_scope
from backend.documents.models import Document, DocumentPage, DocumentVersion, IngestStatus
from backend.documents.service import page_image_key
from backend.embedded import EmbeddedRedis
from backend.mail.models import OutboxMessage
from backend.redis_client import close_redis, get_redis
from backend.settings import get_settings
from backend.users.models import Role
from tests.factories import make_collection, make_user, stored_files, upload_bytes
from tests.jobs.files import text_pdf
from tests.jobs.test_mail_job import Inbox
from tests.proxy import Address, Proxy
from tests.worker import WorkerProcess, wait_for


class StartWorker(Protocol):
    def __call__(self, name: str, **env: str) -> WorkerProcess: ...


@pytest.fixture
def workers(clean: None, tmp_path: Path) -> Iterator[StartWorker]:
    """Start worker processes; each is stopped (or killed) after the test, before the
    tables and Redis are emptied."""
    started: list[WorkerProcess] = []

    def start(name: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(tmp_path / f"{name}.log", **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


async def _version(version_id: int) -> DocumentVersion:
    async with session_scope() as session:
        version = await session.get(DocumentVersion, version_id)
        assert version is not None
        return version


async def _in_step(version_id: int, step: str) -> bool:
    version = await _version(version_id)
    return version.status == IngestStatus.PROCESSING and version.step == step


@contextlib.asynccontextmanager
async def _kept_in_its_step(version_id: int) -> AsyncIterator[None]:
    """Hold the version's row lock: a worker in a step cannot record the next one (its
    update waits for the lock), however slowly the test gets to what it does meanwhile."""
    async with session_scope() as holder:
        await holder.exec(
            select(DocumentVersion).where(DocumentVersion.id == version_id).with_for_update()
        )
        yield
        await holder.rollback()


async def _count(session: AsyncSession, table: type) -> int:
    return int((await session.exec(select(func.count()).select_from(table))).one())


async def _upload_pdf(db: AsyncSession) -> DocumentVersion:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    pdf = text_pdf(["the first page", "the second page", "the third page"])
    _, version = await upload_bytes(db, librarian, collection, pdf, "three.pdf")
    await db.commit()  # the ingest job is queued
    assert version.id is not None
    return version


async def _done_once(db: AsyncSession, data_dir: Path, version_id: int) -> None:
    """One document, one version, its three pages, and in the store exactly its files."""
    version = await _version(version_id)
    assert version.status == IngestStatus.READY and version.error == ""
    assert await _count(db, Document) == 1 and await _count(db, DocumentVersion) == 1
    assert await _count(db, DocumentPage) == 3
    pages = {page_image_key(version_id, 1)}  # the others are drawn when opened
    assert version.page_images == 1
    assert (
        stored_files(data_dir)
        == {version.file_key, version.thumbnail_key, version.preview_key} | pages
    )
    await db.commit()


async def test_a_killed_workers_ingest_is_finished_once_by_another(
    db: AsyncSession, data_dir: Path, workers: StartWorker
) -> None:
    version = await _upload_pdf(db)
    assert version.id is not None
    first = workers("first", INGEST_TEST_DELAY_SECONDS="3")
    await wait_for(
        "the first worker to reach the extraction",
        lambda: _in_step(version.id, "extract"),  # type: ignore[arg-type]
        60,
    )
    async with _kept_in_its_step(version.id):
        # Its in-progress mark is a lease of job_lease_seconds, not the job's timeout (610 s).
        raw = Redis.from_url(get_settings().redis_url)
        try:
            ttl = await raw.pttl(f"arq:in-progress:ingest:{version.id}")
        finally:
            await raw.aclose()
        assert 0 < ttl <= get_settings().job_lease_seconds * 1000

        killed_at = utcnow()
        first.kill()
    killed = time.monotonic()
    second = workers("second", INGEST_TEST_DELAY_SECONDS="3")

    async def taken_again() -> bool:
        step_at = (await _version(version.id)).step_at  # type: ignore[arg-type]
        return step_at is not None and step_at > killed_at

    await wait_for("another worker to take the job", taken_again, 60, detail=second.log)
    picked_up = time.monotonic() - killed
    await wait_for(
        "the version to be ready",
        lambda: _version_ready(version.id),  # type: ignore[arg-type]
        60,
    )
    print(f"\nthe killed worker's ingest was taken again {picked_up:.1f} s after the kill")
    await _done_once(db, data_dir, version.id)
    log = second.log()
    assert f"ingest:{version.id}:ingest_version({version.id}) try=2" in log, log
    assert second.alive


async def _version_ready(version_id: int) -> bool:
    return (await _version(version_id)).status == IngestStatus.READY


async def _message(message_id: int) -> OutboxMessage:
    async with session_scope() as session:
        message = await session.get(OutboxMessage, message_id)
        assert message is not None
        return message


async def _mail_one(db: AsyncSession) -> OutboxMessage:
    user = await make_user(db)
    await reset.request_password_reset(session=db, redis=get_redis(), email=user.email)
    await db.commit()  # the send_mail job is queued
    return (await db.exec(select(OutboxMessage))).one()


async def test_a_killed_workers_mail_is_sent_once_by_another(
    db: AsyncSession, workers: StartWorker
) -> None:
    silent = socket.socket()  # an SMTP server that takes the connection and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    silent.setblocking(False)
    port = silent.getsockname()[1]
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "false"}
    message = await _mail_one(db)
    assert message.id is not None
    first = workers("first", JOB_LEASE_SECONDS="10", **smtp)

    async def connected() -> socket.socket | None:
        try:
            return silent.accept()[0]
        except BlockingIOError:
            return None

    held = await wait_for("the first worker to connect to SMTP", connected, 60)
    first.kill()  # in the middle of sending
    held.close()
    silent.close()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        workers("second", JOB_LEASE_SECONDS="10", **smtp)

        async def sent() -> bool:
            return (await _message(message.id)).sent_at is not None  # type: ignore[arg-type]

        await wait_for("another worker to send the mail", sent, 90)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    # The killed try left nothing behind: its transaction died with its connection.
    row = await _message(message.id)
    assert row.attempts == 0 and row.error == "" and row.body == ""


async def test_the_worker_outlives_a_redis_restart(
    db: AsyncSession,
    data_dir: Path,
    workers: StartWorker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")  # persistent: append-only file, every second
    url = server.start()
    try:
        monkeypatch.setattr(get_settings(), "redis_url", url)  # the app enqueues there too
        await queue.close_pool()
        await close_redis()
        worker = workers("worker", REDIS_URL=url, INGEST_TEST_DELAY_SECONDS="4")
        version = await _upload_pdf(db)
        assert version.id is not None
        await wait_for(
            "the worker to reach the extraction",
            lambda: _in_step(version.id, "extract"),  # type: ignore[arg-type]
            60,
        )
        assert server._proc is not None
        os.kill(server._proc.pid, signal.SIGKILL)  # Redis dies in the middle of the job
        server._proc.wait()

        async def noticed() -> bool:
            return "Redis is away; retrying" in worker.log()

        await wait_for("the worker to notice", noticed, 30)
        assert worker.alive
        server.start()  # again, on the same socket, from its append-only file
        await wait_for(
            "the version to be ready",
            lambda: _version_ready(version.id),  # type: ignore[arg-type]
            60,
        )
        await _done_once(db, data_dir, version.id)
        raw = Redis.from_url(url)
        try:
            # The job that ran through the outage ends, and its end is recorded.
            async def recorded() -> bool:
                return bool(await raw.exists(f"arq:result:ingest:{version.id}"))

            await wait_for("the job's end to be recorded", recorded, 60)
            assert await raw.exists(f"arq:job:ingest:{version.id}") == 0
            assert await raw.exists(f"arq:in-progress:ingest:{version.id}") == 0
        finally:
            await raw.aclose()

        await queue.close_pool()  # the test's own connections to the old server are dead
        message = await _mail_one(db)  # and the worker takes new work

        async def sent() -> bool:
            return (await _message(message.id)).sent_at is not None  # type: ignore[arg-type]

        await wait_for("the worker to send a mail after the restart", sent, 30)
        log = worker.log()
        assert worker.alive, log
        assert log.count("Redis is away; retrying") == 1 and "Redis is back" in log, log
        assert log.count(f"ingest:{version.id}:ingest_version(") == 1, log  # it ran once
        worker.stop()  # while its Redis is there, as the launcher stops them
    finally:
        await queue.close_pool()
        await close_redis()  # the app's clients made during the test are the other Redis's
        server.stop()
        for path in (data_dir / "mail").glob("*"):
            path.unlink()


def _database_behind_a_proxy(tmp_path: Path) -> tuple[Proxy, str]:
    """A proxy in front of the test database, and the URL that goes through it."""
    real = make_url(os.environ["DATABASE_URL"])
    folder = real.query.get("host")
    if isinstance(folder, str) and folder.startswith("/"):  # a unix socket (embedded)
        listen = tmp_path / "pg"
        listen.mkdir()
        port = real.port or 5432
        proxy = Proxy(
            listen=Address(path=listen / f".s.PGSQL.{port}"),
            target=Address(path=Path(folder) / f".s.PGSQL.{port}"),
        )
        url = real.set(query={**real.query, "host": str(listen)})
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        proxy = Proxy(
            listen=Address(port=free),
            target=Address(host=real.host or "127.0.0.1", port=real.port or 5432),
        )
        url = real.set(host="127.0.0.1", port=free)
    return proxy.start(), url.render_as_string(hide_password=False)


async def test_a_database_away_makes_the_ingest_wait_not_fail(
    db: AsyncSession, data_dir: Path, workers: StartWorker, tmp_path: Path
) -> None:
    proxy, url = _database_behind_a_proxy(tmp_path)
    try:
        worker = workers("worker", DATABASE_URL=url, INGEST_TEST_DELAY_SECONDS="3")
        version = await _upload_pdf(db)
        assert version.id is not None
        await wait_for(
            "the worker to reach the extraction",
            lambda: _in_step(version.id, "extract"),  # type: ignore[arg-type]
            60,
        )
        seen: set[str] = set()
        async with _kept_in_its_step(version.id):
            proxy.cut()  # PostgreSQL is away for the worker

            async def retrying() -> bool:
                seen.add((await _version(version.id)).status)  # type: ignore[arg-type]
                return "retrying job" in worker.log()

            await wait_for("the job to be retried", retrying, 60, detail=worker.log)
        proxy.restore()

        async def ready() -> bool:
            seen.add((await _version(version.id)).status)  # type: ignore[arg-type]
            return IngestStatus.READY.value in seen

        await wait_for("the version to be ready", ready, 90, detail=worker.log)
        assert IngestStatus.FAILED.value not in seen, worker.log()
        await _done_once(db, data_dir, version.id)
        assert worker.alive
    finally:
        proxy.stop()


async def test_two_workers_on_one_queue_run_every_job_once(
    db: AsyncSession, data_dir: Path, workers: StartWorker
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    ids = []
    for n in range(12):
        pdf = text_pdf([f"document {n} first page", f"document {n} second page"])
        _, version = await upload_bytes(db, librarian, collection, pdf, f"d{n}.pdf")
        ids.append(version.id)
    await db.commit()  # twelve ingest jobs queued
    first, second = workers("first"), workers("second")

    async def all_ready() -> bool:
        async with session_scope() as session:
            ready = await session.exec(
                select(func.count())
                .select_from(DocumentVersion)
                .where(DocumentVersion.status == IngestStatus.READY)
            )
            return ready.one() == len(ids)

    await wait_for("every document to be ready", all_ready, 180, detail=second.log)

    def started() -> dict[str, list[str]]:
        """Each job id a worker started (arq's "→" line), with the workers that did."""
        runs: dict[str, list[str]] = {}
        for name, worker in (("first", first), ("second", second)):
            for line in worker.log().splitlines():
                if line.startswith("{") and "→" in line:
                    runs.setdefault(json.loads(line)["job_id"], []).append(name)
        return runs

    # Each worker schedules the cron jobs from its own clock; the one id each run gets
    # lets only one of them take it. Wait for a few runs of the five-second one.
    async def flushed_thrice() -> bool:
        return sum(1 for job in started() if job.startswith("cron:flush_events:")) >= 3

    await wait_for("three runs of flush_events", flushed_thrice, 60)
    runs = started()
    assert {job: who for job, who in runs.items() if len(who) > 1} == {}  # none twice
    for version_id in ids:
        assert f"ingest:{version_id}" in runs  # none lost
    took = {
        name: sum(1 for job, who in runs.items() if job.startswith("ingest:") and who == [name])
        for name in ("first", "second")
    }
    assert took["first"] > 0 and took["second"] > 0, took  # both served the queue
    assert "try=2" not in first.log() + second.log()
    print(f"\ntwo workers: ingests taken {took}, {len(runs)} jobs in all, each once")
    assert first.alive and second.alive
