"""Use cases of a bulk import: receive its files, read its dry run, start it, cancel it.

An import's CSV and ZIP are streamed into the object store under `imports/<folder>/` by
the upload (the web process never holds or stages them); the worker runs the dry run and
then the import (`backend.imports.runner`) and announces each step on a Redis channel, so
any web process can show it live. Only the curators of the collection see an import.
"""

import json
import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import journal, queue
from backend.access import scope
from backend.clock import utcnow
from backend.collections.models import Collection
from backend.documents.bulk import ImportReport
from backend.errors import InvalidInput, NotFound
from backend.imports.models import ENDED, BulkImport, ImportStatus
from backend.imports.zipstream import ZipLimits
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.storage import cleanup
from backend.users.models import User

log = logging.getLogger(__name__)
NO_IMPORT = "No such import."
# Between the members' data and its end, a ZIP holds headers and its directory.
ZIP_OVERHEAD = 64 * 1024 * 1024


def zip_limits() -> ZipLimits:
    """The limits an import's ZIP is held to, as it streams in and as it is read back."""
    settings = get_settings()
    return ZipLimits(
        max_files=settings.zip_max_files,
        max_member=settings.max_upload_bytes,
        max_total=settings.zip_max_unpacked_bytes,
    )


def max_zip_bytes() -> int:
    """The most a ZIP may weigh as stored (its members, compressed, and its headers)."""
    return get_settings().zip_max_unpacked_bytes + ZIP_OVERHEAD


@dataclass(frozen=True)
class ImportFolder:
    """Where one import's files go in the object store (internal names, never the user's)."""

    name: str = field(default_factory=lambda: f"imports/{uuid.uuid4().hex}")

    @property
    def csv_key(self) -> str:
        return f"{self.name}/metadata.csv"

    @property
    def zip_key(self) -> str:
        return f"{self.name}/files.zip"


@dataclass(frozen=True)
class ImportView:
    id: int
    collection_id: int
    status: str
    rows_total: int
    adding: int
    updating: int
    refused: int
    rows_done: int
    added: int
    updated: int
    failures: list[dict[str, object]]
    error: str
    report: ImportReport | None = None  # asked for: the first rows, refused ones first
    rows_shown: int = 0

    @property
    def may_start(self) -> bool:
        return self.status in (ImportStatus.PLANNED, ImportStatus.FAILED) and bool(
            self.adding + self.updating
        )


def channel(import_id: int) -> str:
    return f"import:{import_id}"


async def announce(import_id: int) -> None:
    """Tell the pages that show this import that it moved on; never fails the caller."""
    try:
        await get_redis().publish(channel(import_id), json.dumps({"import_id": import_id}))
    except Exception:
        log.warning("could not announce the progress of import %s", import_id, exc_info=True)


async def authorize_upload(
    *, session: AsyncSession, actor: User | None, collection_id: int
) -> None:
    """May the actor send an import's files to this collection? (NotFound if not.)"""
    await scope.require_curated(session, actor, collection_id)


async def create(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    folder: ImportFolder,
    has_csv: bool,
    has_zip: bool,
) -> BulkImport:
    """Record an import whose files are stored; its dry run runs after the commit."""
    await scope.require_curated(session, actor, collection_id)
    assert actor is not None
    if not has_csv:
        raise InvalidInput("Drop one .csv file of metadata, and a .zip of the files it names.")
    row = BulkImport(
        collection_id=collection_id,
        created_by=actor.id,
        csv_key=folder.csv_key,
        zip_key=folder.zip_key if has_zip else "",
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    queue.defer(session, "check_import", row.id, job_id=f"import:{row.id}:check")
    return row


async def _curated(
    session: AsyncSession, actor: User | None, import_id: int, *, lock: bool = False
) -> BulkImport:
    stmt = select(BulkImport).where(BulkImport.id == import_id).options(defer(BulkImport.report))  # type: ignore[arg-type]
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.exec(stmt.execution_options(populate_existing=True))).first()
    if row is None:
        raise NotFound(NO_IMPORT)
    try:
        await scope.require_curated(session, actor, row.collection_id)
    except NotFound:
        raise NotFound(NO_IMPORT) from None  # the same answer as for no import at all
    return row


async def _view(session: AsyncSession, row: BulkImport, rows: int) -> ImportView:
    assert row.id is not None
    report = None
    if rows and row.status != ImportStatus.CHECKING:
        data = (await session.exec(select(BulkImport.report).where(BulkImport.id == row.id))).one()
        full = ImportReport.from_json(dict(data))
        # The refused rows first (they need a person's eye), then the others in order.
        ordered = sorted(full.rows, key=lambda r: (r.action != "refused", r.line))
        report = ImportReport(rows=ordered[:rows], new_subjects=full.new_subjects)
    return ImportView(
        id=row.id,
        collection_id=row.collection_id,
        status=row.status,
        rows_total=row.rows_total,
        adding=row.adding,
        updating=row.updating,
        refused=row.refused,
        rows_done=row.rows_done,
        added=row.added,
        updated=row.updated,
        failures=list(row.failures),
        error=row.error,
        report=report,
        rows_shown=len(report.rows) if report else 0,
    )


async def get(
    *, session: AsyncSession, actor: User | None, import_id: int, rows: int = 0
) -> ImportView:
    """An import of a collection the actor curates, with up to `rows` rows of its report."""
    return await _view(session, await _curated(session, actor, import_id), rows)


async def latest(
    *, session: AsyncSession, actor: User | None, collection_id: int, rows: int = 0
) -> ImportView | None:
    """The actor's import of this collection that is not over yet, if any."""
    await scope.require_curated(session, actor, collection_id)
    assert actor is not None
    stmt = (
        select(BulkImport)
        .where(
            BulkImport.collection_id == collection_id,
            BulkImport.created_by == actor.id,
            col(BulkImport.status).not_in(ENDED),
        )
        .options(defer(BulkImport.report))  # type: ignore[arg-type]
        .order_by(col(BulkImport.id).desc())
        .limit(1)
    )
    row = (await session.exec(stmt)).first()
    return await _view(session, row, rows) if row else None


async def start(*, session: AsyncSession, actor: User | None, import_id: int) -> BulkImport:
    """Apply the rows the dry run accepted (or go on with a failed import where it
    stopped); the worker does it after the commit."""
    row = await _curated(session, actor, import_id, lock=True)
    assert actor is not None and row.id is not None
    if row.status == ImportStatus.IMPORTING:
        return row
    if row.status not in (ImportStatus.PLANNED, ImportStatus.FAILED) or not row.rows_total:
        raise InvalidInput("This import has no checked rows to apply.")
    if not row.adding + row.updating:
        raise InvalidInput("The dry run accepted no row: nothing to import.")
    row.status, row.error = ImportStatus.IMPORTING.value, ""
    row.started_by = actor.id
    row.updated_at = utcnow()
    session.add(row)
    await _journal(session, actor, row, journal.IMPORT_STARTED)
    await session.flush()
    # A new job id for each start: arq would refuse an id whose result it still keeps
    # (that of an earlier start that stopped at the same row).
    job_id = f"import:{row.id}:run:{row.rows_done}:{uuid.uuid4().hex[:8]}"
    queue.defer(session, "run_import", row.id, job_id=job_id)
    return row


async def discard_files(session: AsyncSession, row: BulkImport) -> None:
    """The import's files go once it is over (after the commit)."""
    await cleanup.delete_later(session=session, keys=[row.csv_key, row.zip_key])


async def cancel(*, session: AsyncSession, actor: User | None, import_id: int) -> None:
    """Drop an import: before it runs, nothing is written; while it runs, it stops after
    the row in hand (the rows done stay)."""
    row = await _curated(session, actor, import_id, lock=True)
    if row.status in ENDED:
        return
    assert actor is not None
    await _journal(session, actor, row, journal.IMPORT_CANCELLED)
    row.status = ImportStatus.CANCELLED.value
    row.updated_at = row.finished_at = utcnow()
    session.add(row)
    await session.flush()
    await discard_files(session, row)


async def _journal(session: AsyncSession, actor: User, row: BulkImport, action: str) -> None:
    collection = await session.get(Collection, row.collection_id)
    journal.write(
        session,
        actor=actor,
        action=action,
        label=collection.name if collection else "",
        collection_id=row.collection_id,
        changes={
            "import": [None, row.id],
            "rows": [None, f"{row.adding} to add, {row.updating} to update, {row.rows_done} done"],
        },
    )
