"""arq entry points: take ids, reload rows through backend services, idempotent.

Every job kind has a way back when its job is lost (Redis restarted without it) or its
worker dies mid-job; the README's "When a part dies" lists them. In short: a dead worker's
job is run again by arq once its in-progress mark lapses (jobs.worker renews it while the
worker lives), and every kind also has a sweeper or an outbox that needs no queue.
"""

import asyncio
import dataclasses
import logging
import time
from datetime import timedelta
from typing import Any

from arq import Retry
from psycopg import AsyncConnection
from sqlalchemy import or_
from sqlmodel import col, func, select

from backend import queue
from backend.analytics import events as analytics_events
from backend.analytics import partitions, report, rollups
from backend.clock import utcnow
from backend.db import session_scope
from backend.documents.models import DocumentVersion, IngestStatus
from backend.imports import runner as imports
from backend.ingest import pipeline
from backend.mail import service as mail_service
from backend.operations import backup
from backend.operations import status as system_status
from backend.redis_client import get_redis
from backend.search import completion, indexer, saved
from backend.search.engines import get_search_engine
from backend.settings import get_settings
from backend.storage import cleanup

log = logging.getLogger(__name__)
# A version pending this long lost its job (Redis lost the queue, or was away at commit).
STALE_AFTER = timedelta(minutes=2)
# A version waiting to try again (a service was away) whose job lost this long: longer than
# the longest wait ingest_version asks of arq (300 s).
WAITING_AFTER = timedelta(minutes=6)
# A version "processing" whose step is this old, and that no run holds (its lock is free),
# lost its worker and its job both: the safety net behind arq's own retry of the job.
ABANDONED_AFTER = timedelta(minutes=2)


MAX_TRANSIENT_TRIES = 6


async def ingest_version(ctx: dict[str, Any], version_id: int) -> str:
    """Run the ingest pipeline for one document version; back off while a service is away."""
    try:
        return await pipeline.run(version_id, store=ctx["store"])
    except pipeline.Transient as exc:
        tries = int(ctx.get("job_try", 1))
        if tries >= MAX_TRANSIENT_TRIES:
            try:
                await pipeline.fail(
                    version_id, exc.step, f"Gave up after {tries} tries: {exc.reason}."
                )
            except pipeline.DATABASE_AWAY:
                # Still "pending" or "processing": the sweeper sends it again later.
                log.warning("version %s: gave up while the database is away", version_id)
            return "failed"
        raise Retry(defer=min(300, 5 * 2**tries)) from exc


async def index_outbox(ctx: dict[str, Any]) -> int:
    """Feed the search engine from the outbox; an engine that is away is tried again later."""
    try:
        return await indexer.drain(get_search_engine())
    except Exception as exc:
        tries = int(ctx.get("job_try", 1))
        log.warning("indexing failed (try %d): %s", tries, exc)
        if tries >= MAX_TRANSIENT_TRIES:
            raise  # the rows stay in the outbox; the next change or the cron retries them
        raise Retry(defer=min(300, 5 * 2**tries)) from exc


async def index_leftovers(ctx: dict[str, Any]) -> int:
    """Every minute: drain what an earlier run could not (engine away, lost enqueue)."""
    return await index_outbox(ctx | {"job_try": MAX_TRANSIENT_TRIES})


async def flush_search_counts(ctx: dict[str, Any]) -> int:
    """Every minute: the searches counted in Redis go to PostgreSQL, and autocomplete's
    past queries are decided."""
    async with session_scope() as session:
        return await completion.flush_counts(session)


async def expire_search_counts(ctx: dict[str, Any]) -> int:
    """Every hour: who asked what before autocomplete's window is forgotten."""
    async with session_scope() as session:
        return await completion.expire_counts(session)


async def send_mail(ctx: dict[str, Any], message_id: int) -> str:
    """Try one outbox message as soon as it is committed (the sweeper does the retries)."""
    async with session_scope() as session:
        outcome = await mail_service.deliver(session=session, message_id=message_id)
        await session.commit()
    return outcome.value


async def send_due_mail(ctx: dict[str, Any], limit: int = 500) -> dict[str, int]:
    """Every minute: every message whose next try is due (a failed one, one whose job was
    lost, one whose worker died), oldest first, each in its own unit of work. Stops at the
    first failure worth retrying (the server is away: the rest wait for the next sweep)."""
    counts = {outcome.value: 0 for outcome in mail_service.Outcome}
    stop_at = time.monotonic() + 45  # before the next sweep starts
    for _ in range(limit):
        async with session_scope() as session:
            message = await mail_service.claim_due(session=session)
            if message is None:
                break
            outcome = await mail_service.attempt(session=session, message=message)
            await session.commit()
        counts[outcome.value] += 1
        if outcome == mail_service.Outcome.RETRY or time.monotonic() > stop_at:
            break
    return counts


async def requeue_stale_ingests(ctx: dict[str, Any]) -> int:
    """Enqueue versions still pending after a while (their enqueue may have been lost), and
    versions left "processing" by a worker that died whose job is gone too."""
    now = utcnow()
    async with session_scope() as session:
        pending = select(DocumentVersion.id).where(
            col(DocumentVersion.status) == IngestStatus.PENDING.value,
            or_(
                (col(DocumentVersion.error) == "")
                & (col(DocumentVersion.created_at) < now - STALE_AFTER),
                (col(DocumentVersion.error) != "")
                & (
                    func.coalesce(DocumentVersion.step_at, DocumentVersion.created_at)
                    < now - WAITING_AFTER
                ),
            ),
        )
        ids = list((await session.exec(pending)).all())
        processing = select(DocumentVersion.id).where(
            col(DocumentVersion.status) == IngestStatus.PROCESSING.value,
            or_(
                col(DocumentVersion.step_at).is_(None),
                col(DocumentVersion.step_at) < now - ABANDONED_AFTER,
            ),
        )
        # A long extraction keeps its step for minutes: only versions no run holds.
        running = [i for i in (await session.exec(processing)).all() if i is not None]
        ids += await pipeline.abandoned(session, running)
    # A fresh job id each sweep: arq keeps the id of a finished (or failed) job for a while
    # and would silently refuse to enqueue it again.
    sweep = int(time.time() // 60)
    for version_id in ids:
        await queue.enqueue(
            queue.Job("ingest_version", (version_id,), f"ingest:{version_id}:sweep:{sweep}")
        )
    return len(ids)


async def delete_objects(ctx: dict[str, Any], keys: list[str] | None = None) -> int:
    """Delete the objects due in the deletion outbox (files of deleted documents, replaced
    covers, finished imports); a store that is away is recorded and tried again later."""
    if keys:
        # A job queued before the outbox existed carries its keys: they join the outbox.
        async with session_scope() as session:
            await cleanup.delete_later(session=session, keys=keys)
            await session.commit()
    return await cleanup.drain(ctx["store"])


async def delete_leftover_objects(ctx: dict[str, Any]) -> int:
    """Every minute: objects whose deletion failed or whose job was lost."""
    return await cleanup.drain(ctx["store"])


PARTIAL_AGE_SECONDS = 12 * 3600  # no upload of MAX_UPLOAD_BYTES takes longer


async def sweep_partial_objects(ctx: dict[str, Any]) -> int:
    """Every hour: what uploads left half-written when their process was killed (a local
    store's .part files, S3's unfinished multipart uploads), once 12 hours old."""
    return await ctx["store"].sweep_partial(PARTIAL_AGE_SECONDS)


async def catalogue_leftovers(ctx: dict[str, Any]) -> int:
    """Every minute: documents from before the catalogue get their record (and browse
    entries) from their files' metadata, a few thousand at a time, without holding up
    the start of the app (`./run.sh migrate` does them all at once)."""
    from backend.documents import metadata

    return await metadata.catalogue_existing(batch=500, limit=5000)


async def check_import(ctx: dict[str, Any], import_id: int) -> str:
    """A bulk import's dry run, from its files in the object store."""
    return await imports.check(import_id, store=ctx["store"])


async def run_import(ctx: dict[str, Any], import_id: int) -> str:
    """Apply a bulk import's rows (a slice of a few minutes; it enqueues the rest)."""
    return await imports.run(import_id, store=ctx["store"])


async def sweep_imports(ctx: dict[str, Any]) -> int:
    """Every minute: imports whose worker vanished end as failed; old ones are dropped."""
    return await imports.sweep()


async def flush_events(ctx: dict[str, Any]) -> int:
    """Every 5 seconds: the analytics events buffered in Redis go to PostgreSQL."""
    return await analytics_events.flush()


async def maintain_event_partitions(ctx: dict[str, Any]) -> dict[str, list[str]]:
    """Every day (and at the worker's start): the months ahead get their partition, the
    months past the retention are dropped."""
    async with await AsyncConnection.connect(analytics_events.dsn()) as conn:
        created, dropped = await partitions.maintain(conn, utcnow())
    return {"created": [str(m) for m in created], "dropped": [str(m) for m in dropped]}


async def roll_analytics(ctx: dict[str, Any]) -> str:
    """Every hour: the days that ended go to the dashboards' daily rollups."""
    async with session_scope() as session:
        span = await rollups.roll(session)
    return f"{span.first}..{span.last}" if span else "nothing new"


async def copy_objects_to_backup(ctx: dict[str, Any]) -> dict[str, int] | str:
    """Every five minutes: the stored files not yet in the backup copy are copied there
    (the most files a lost disk loses); those deleted are set aside for the days backups
    are kept (backend.operations.backup)."""
    settings = get_settings()
    if not settings.scheduled_backups:
        return "scheduled backups are off"
    copied = await backup.copy_objects(
        ctx["store"], backup.backup_store(settings), keep_days=settings.backup_keep_days
    )
    return dataclasses.asdict(copied)


async def take_scheduled_backup(ctx: dict[str, Any]) -> str:
    """Every hour at :50: a base backup of the database, full once a day, else incremental
    on the last one; then what is older than the days kept is dropped."""
    if not get_settings().scheduled_backups:
        return "scheduled backups are off"
    made = await asyncio.to_thread(backup.take_backup, "auto")
    dropped = await asyncio.to_thread(backup.prune_backups)
    return f"{made.name}: {made.size} bytes; {len(dropped)} old backups dropped"


async def measure_store(ctx: dict[str, Any]) -> dict[str, Any]:
    """Every quarter of an hour (and at the worker's start): the object store's size, for
    the status page (a walk over every object, never done on a request)."""
    return await system_status.measure_store(ctx["store"], get_redis())


async def send_search_alerts(ctx: dict[str, Any]) -> dict[str, int]:
    """Every hour: the saved searches last looked at a day ago tell their owners by e-mail
    of the documents that became ready since and match (backend.search.saved)."""
    async with session_scope() as session:
        return await saved.send_alerts(session=session)


async def make_usage_report(ctx: dict[str, Any]) -> str:
    """Every hour at :20: last month's usage report, once it is due (the 1st, 03:20 in the
    library's time zone) and not made yet; a worker that was down on the 1st catches up."""
    async with session_scope() as session:
        made = await report.make_due(
            session=session, store=ctx["store"], mail=mail_service.queue_message
        )
    if made is None:
        return "not due yet"
    if not made.built:
        return f"{made.month.name} made already"
    return f"{made.month.name} made, {made.mailed} e-mail{'' if made.mailed == 1 else 's'}"
