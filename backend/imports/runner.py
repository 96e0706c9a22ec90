"""The worker's side of a bulk import: the dry run, then the rows applied one at a time.

Both read the CSV and the ZIP back from the object store (the ZIP through a local file,
for the random access its directory needs: the local store's own file, or a bounded
temporary copy from S3), and every member through `ZipReader`, under the upload's limits.
Both are idempotent (the import's status and `rows_done` say what is left) and always end:
whatever stops them (a refusal, an error, arq's timeout cancelling the job) marks the
import failed, with the reason, in a `finally`. Each row is its own unit of work, committed
with the import's progress, so a row is never applied twice and a failed import goes on
where it stopped when Import is pressed again. A long import runs in slices of a few
minutes, each a job of its own, well within the worker's job timeout.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.clock import utcnow
from backend.db import session_scope
from backend.documents import bulk, bulk_rows
from backend.errors import LibraryError
from backend.imports.models import BUSY, BulkImport, ImportStatus
from backend.imports.reader import ZipReader
from backend.imports.service import announce, discard_files, max_zip_bytes, zip_limits
from backend.storage.base import ObjectStore
from backend.storage.service import StoredObject, local_copy, read_limited, store_stream
from backend.users import repository as users
from backend.users.models import User

log = logging.getLogger(__name__)
SLICE_SECONDS = 240.0  # then the import goes on in a new job (WorkerSettings.job_timeout: 600)
ANNOUNCE_EVERY = 0.5  # seconds between progress messages to the pages
# Longer than a job may run: a busy import this quiet lost its worker.
ABANDONED_AFTER = timedelta(minutes=15)
KEEP_FOR = timedelta(days=7)  # an import not run (or not finished) this long is dropped


@asynccontextmanager
async def _open_zip(store: ObjectStore, key: str) -> AsyncIterator[ZipReader | None]:
    if not key:
        yield None
        return
    async with local_copy(store, key, limit=max_zip_bytes()) as path:
        reader = await asyncio.to_thread(ZipReader, path, zip_limits())
        try:
            yield reader
        finally:
            reader.close()


async def _rows(store: ObjectStore, row: BulkImport) -> list[dict[str, str]]:
    data = await read_limited(store, row.csv_key, limit=bulk.MAX_CSV_BYTES, what="The CSV file")
    return bulk.read_csv(data)


async def _user(session: AsyncSession, user_id: int | None) -> User | None:
    return await users.by_id(session, user_id) if user_id else None


async def _lock(session: AsyncSession, import_id: int) -> BulkImport | None:
    return await session.get(BulkImport, import_id, with_for_update=True, populate_existing=True)


async def _fail(import_id: int, busy: ImportStatus, reason: str) -> None:
    async with session_scope() as session:
        row = await _lock(session, import_id)
        if row is None or row.status != busy:
            return
        row.status, row.error = ImportStatus.FAILED.value, reason[:2000]
        row.updated_at = utcnow()
        session.add(row)
        await session.commit()


async def _always_ends(import_id: int, busy: ImportStatus, work: Coroutine[Any, Any, str]) -> str:
    """Run `work`; unless it ends the import itself, the import is marked failed."""
    outcome = ""
    reason = "It stopped unexpectedly (the worker's log says why); try again."
    try:
        outcome = await work
        return outcome
    except LibraryError as exc:
        reason = str(exc)
        return "failed"
    except asyncio.CancelledError:
        reason = "It took too long and was stopped."
        raise
    except Exception:
        log.exception("bulk import %s failed while %s", import_id, busy.value)
        raise
    finally:
        if not outcome:
            if busy == ImportStatus.IMPORTING:
                reason += " Press Import to go on where it stopped."
            await _fail(import_id, busy, reason)
        await announce(import_id)


async def check(import_id: int, *, store: ObjectStore) -> str:
    """The dry run: every row planned, and every file a row would add read through once
    (a damaged one refuses its row). Nothing but the report is written."""
    return await _always_ends(import_id, ImportStatus.CHECKING, _check(import_id, store))


async def _check(import_id: int, store: ObjectStore) -> str:
    async with session_scope() as session:
        row = await session.get(BulkImport, import_id)
        if row is None or row.status != ImportStatus.CHECKING:
            return "skipped"  # done already (arq may run a job twice)
        actor = await _user(session, row.created_by)
        rows = await _rows(store, row)
        async with _open_zip(store, row.zip_key) as reader:
            names = reader.names() if reader else {}
            planner = await bulk_rows.Planner.start(session, actor, row.collection_id, rows, names)
            planned = await bulk_rows.plan_all(planner, rows)
            digests: dict[int, str] = {}  # line -> the SHA-256 of the file it adds
            for item in planned:
                if item.report.action == "add" and item.member and reader is not None:
                    problem, digests[item.report.line] = await reader.verify(item.member)
                    if problem:
                        bulk_rows.refuse(item, problem)
            await bulk_rows.refuse_duplicates(session, actor, planned, digests)
        report = bulk_rows.report_of(planned)
        row = await _lock(session, import_id)
        if row is None or row.status != ImportStatus.CHECKING:
            return "skipped"
        row.report = report.to_json()
        row.rows_total = len(report.rows)
        row.adding, row.updating, row.refused = report.adding, report.updating, report.refused
        row.status, row.updated_at = ImportStatus.PLANNED.value, utcnow()
        session.add(row)
        await session.commit()
    return "planned"


async def run(import_id: int, *, store: ObjectStore) -> str:
    """Apply the import's rows from where it stands, for a few minutes at most."""
    return await _always_ends(import_id, ImportStatus.IMPORTING, _run(import_id, store))


async def _run(import_id: int, store: ObjectStore) -> str:
    began = announced = time.monotonic()
    async with session_scope() as session:
        row = await session.get(BulkImport, import_id)
        if row is None or row.status != ImportStatus.IMPORTING:
            return "skipped"
        actor = await _user(session, row.started_by)
        collection_id, first = row.collection_id, row.rows_done
        dry_run = [r["action"] for r in row.report.get("rows", [])]
        rows = await _rows(store, row)
        async with _open_zip(store, row.zip_key) as reader:
            names = reader.names() if reader else {}
            planner = await bulk_rows.Planner.start(session, actor, collection_id, rows, names)
            await session.commit()
            for index, csv_row in enumerate(rows):
                if index < first:
                    planner.skip(csv_row)
                    continue
                was = dry_run[index] if index < len(dry_run) else "refused"
                step = _Row(session, store, import_id, planner, reader, actor)
                if not await step.apply(index, csv_row, was, collection_id):
                    return "stopped"  # cancelled, or another run has it
                if time.monotonic() - announced > ANNOUNCE_EVERY:
                    announced = time.monotonic()
                    await announce(import_id)
                if time.monotonic() - began > SLICE_SECONDS and index + 1 < len(rows):
                    return await _go_on_later(session, import_id)
        row = await _lock(session, import_id)
        if row is None or row.status != ImportStatus.IMPORTING:
            return "stopped"
        row.status = ImportStatus.DONE.value
        row.updated_at = row.finished_at = utcnow()
        session.add(row)
        await discard_files(session, row)
        await session.commit()
    return "done"


async def _go_on_later(session: AsyncSession, import_id: int) -> str:
    row = await _lock(session, import_id)
    if row is None or row.status != ImportStatus.IMPORTING:
        return "stopped"
    queue.defer(session, "run_import", import_id, job_id=f"import:{import_id}:run:{row.rows_done}")
    row.updated_at = utcnow()
    session.add(row)
    await session.commit()
    return "continues"


class _Row:
    """One row of the import, applied in one unit of work with the import's progress."""

    def __init__(
        self,
        session: AsyncSession,
        store: ObjectStore,
        import_id: int,
        planner: bulk_rows.Planner,
        reader: ZipReader | None,
        actor: User | None,
    ) -> None:
        self.session, self.store, self.import_id = session, store, import_id
        self.planner, self.reader, self.actor = planner, reader, actor

    async def _claim(self, index: int) -> BulkImport | None:
        """The import, locked, if this row is still the next one to apply."""
        row = await _lock(self.session, self.import_id)
        if row is None or row.status != ImportStatus.IMPORTING or row.rows_done != index:
            await self.session.rollback()
            return None
        return row

    async def apply(
        self, index: int, csv_row: dict[str, str], was: str, collection_id: int
    ) -> bool:
        row = await self._claim(index)
        if row is None:
            return False
        if was == "refused":  # the report said so; only the rows it accepted are applied
            self.planner.skip(csv_row)
            await self._done(row, index, "")
            return True
        item = await self.planner.plan(index + 2, csv_row)
        problem = ""
        if item.report.action == "refused":  # it was accepted; something changed since
            problem = " ".join(item.report.problems)
        else:
            stored: StoredObject | None = None
            committed = False
            try:
                if item.report.action == "add" and item.member:
                    assert self.reader is not None
                    stored = await store_stream(self.store, self.reader.chunks(item.member))
                await bulk_rows.apply_row(
                    session=self.session,
                    actor=self.actor,
                    collection_id=collection_id,
                    item=item,
                    stored=stored,
                )
                if item.report.action == "add":
                    row.added += 1
                else:
                    row.updated += 1
                await self._done(row, index, "")
                committed = True
                return True
            except LibraryError as exc:
                problem = str(exc)
            finally:
                if stored is not None and not committed:
                    await self.store.delete(stored.key)  # nothing refers to it
            await self.session.rollback()
            row = await self._claim(index)
            if row is None:
                return False
        await self._done(row, index, problem)
        return True

    async def _done(self, row: BulkImport, index: int, problem: str) -> None:
        if problem:
            row.failures = [*row.failures, {"line": index + 2, "problem": problem}]
        row.rows_done = index + 1
        row.updated_at = utcnow()
        self.session.add(row)
        await self.session.commit()


async def sweep() -> int:
    """Imports whose worker vanished are marked failed (they go on when Import is pressed
    again); imports left alone for a week are dropped with their files."""
    now = utcnow()
    touched: list[int] = []
    async with session_scope() as session:
        stmt = (
            select(BulkImport)
            .where(
                (
                    col(BulkImport.status).in_(BUSY)
                    & (col(BulkImport.updated_at) < now - ABANDONED_AFTER)
                )
                | (
                    col(BulkImport.status).in_(
                        (ImportStatus.PLANNED.value, ImportStatus.FAILED.value)
                    )
                    & (col(BulkImport.updated_at) < now - KEEP_FOR)
                )
            )
            .with_for_update(skip_locked=True)
        )
        for row in (await session.exec(stmt)).all():
            assert row.id is not None
            touched.append(row.id)
            if row.status == ImportStatus.IMPORTING:
                row.status = ImportStatus.FAILED.value
                row.error = "The worker stopped during the import; press Import to go on."
            elif row.status == ImportStatus.CHECKING:
                row.status = ImportStatus.FAILED.value
                row.error = "The worker stopped during the dry run; drop the files again."
            else:
                row.status = ImportStatus.CANCELLED.value
                row.error = "Not imported within a week; its files were deleted."
                row.finished_at = now
                await discard_files(session, row)
            row.updated_at = now
            session.add(row)
        await session.commit()
    for import_id in touched:
        await announce(import_id)
    return len(touched)
