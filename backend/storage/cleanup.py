"""Deleting objects the library no longer needs, through an outbox table.

Whoever frees an object (a document deleted, a cover replaced, an import finished) calls
`delete_later` in its own unit of work: the key is written to `object_deletions` in the
same transaction, and a `delete_objects` job is queued for after the commit. The job, and
the worker's sweeper every minute, delete what is due and remove a row only once its
object is gone (a missing object counts as gone), so neither a lost queue nor a store
that is away leaves a file behind: a failure is recorded on the row (error, attempts) and
tried again after 1, 2, 4 ... 60 minutes.
"""

import logging
import time

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.clock import utcnow
from backend.db import session_scope, sql
from backend.storage.base import ObjectStore
from backend.storage.models import ObjectDeletion

log = logging.getLogger(__name__)
DELETE_JOB = "delete_objects"


async def delete_later(*, session: AsyncSession, keys: list[str]) -> None:
    """Queue objects for deletion in the caller's transaction; they go after its commit."""
    wanted = sorted({key for key in keys if key})
    if not wanted:
        return
    ids = list(
        (
            await sql(
                session,
                text(
                    "INSERT INTO object_deletions (key, created_at, next_attempt_at, attempts, "
                    "error) SELECT unnest(CAST(:keys AS text[])), now(), now(), 0, '' "
                    # Queued already (and failing, perhaps): try it again with this one.
                    "ON CONFLICT (key) DO UPDATE SET next_attempt_at = now() RETURNING id"
                ).bindparams(keys=wanted),
            )
        ).scalars()
    )
    queue.defer(session, DELETE_JOB, job_id=f"delete:{min(ids)}")


async def drain(store: ObjectStore, *, batch: int = 100, seconds: float = 45.0) -> int:
    """Delete every object that is due, a batch per transaction; returns how many went.

    Stops at the first failure (the store is away: the rest wait for their next try)."""
    deleted = 0
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        async with session_scope() as session:
            # Claimed rows are skipped by another worker draining at the same time.
            rows = (
                await session.exec(
                    select(ObjectDeletion)
                    .where(col(ObjectDeletion.next_attempt_at) <= utcnow())
                    .order_by(col(ObjectDeletion.id))
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return deleted
            gone: list[int] = []
            failed = False
            for row in rows:
                assert row.id is not None
                try:
                    await store.delete(row.key)
                except ValueError:
                    # Not a key the store could ever have written: nothing to delete.
                    log.warning("dropping invalid object key %r from the deletions", row.key)
                except Exception as exc:
                    _record_failure(row, exc)
                    session.add(row)
                    failed = True
                    break
                gone.append(row.id)
            if gone:
                await sql(
                    session,
                    text("DELETE FROM object_deletions WHERE id = ANY(:ids)").bindparams(ids=gone),
                )
            await session.commit()
        deleted += len(gone)
        if failed:
            break
    return deleted


def _record_failure(row: ObjectDeletion, exc: Exception) -> None:
    row.attempts += 1
    row.error = f"{type(exc).__name__}: {exc}"[:1000]
    row.next_attempt_at = utcnow() + queue.backoff(row.attempts)
    log.warning(
        "could not delete object %s (try %d), trying again at %s: %s",
        row.key,
        row.attempts,
        f"{row.next_attempt_at:%H:%M:%S}",
        row.error,
    )
