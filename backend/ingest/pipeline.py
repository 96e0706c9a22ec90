"""The ingest pipeline for one document version: sniff, extract, index, ready.

Each step commits its status, so the upload page can show where a file is. Running the
pipeline twice for the same version is harmless: a ready version is left alone and every
step overwrites what an earlier attempt wrote, so a version left "processing" by a worker
that died is simply run again from the start. Never twice at once: a run holds a
PostgreSQL advisory lock on its version, on a connection of its own, which PostgreSQL
releases the moment that connection closes (a worker killed, a machine lost); a second
run finds it taken and leaves the version to the first. A database that goes away makes
the run `Transient` (tried again later), never a failed document.
"""

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from botocore.exceptions import BotoCoreError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import metrics
from backend.analytics import events as analytics
from backend.clock import utcnow
from backend.db import lock_engine, session_scope, sql
from backend.documents import metadata
from backend.documents.models import Document, DocumentPage, DocumentVersion, IngestStatus
from backend.documents.service import converted_pdf_key, page_image_key, title_from_filename
from backend.errors import Unavailable
from backend.ingest import office_suite, progress, sandbox, sniff, titles, virus
from backend.ingest.parsers import CONVERTED
from backend.ingest.parsers.base import ParseError, PasswordRequired
from backend.search import indexer
from backend.settings import get_settings
from backend.storage.base import ObjectStore
from backend.storage.local import LocalObjectStore
from backend.storage.service import store_file

log = logging.getLogger(__name__)
# The database is away (down, restarting, unreachable): worth another try later.
DATABASE_AWAY = (OperationalError, InterfaceError)
# pg_advisory_lock(LOCK_NAMESPACE, version id): one run of a version at a time.
LOCK_NAMESPACE = 0x1A6E


class StepFailed(Exception):
    """The file cannot go on; `reason` tells the librarian why. `retryable`: the failure
    came from the moment (a service, the machine's load), so Retry is offered; otherwise
    it comes from the file, and only a new version helps."""

    status = IngestStatus.FAILED

    def __init__(self, step: str, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason
        self.retryable = retryable


class Quarantined(StepFailed):
    status = IngestStatus.QUARANTINED


class NeedsPassword(StepFailed):
    status = IngestStatus.NEEDS_PASSWORD


class Transient(Exception):
    """A service the step needs is away; the job should try again later."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


DUPLICATE_REASON = "The library already holds a file with exactly these bytes."


class Duplicate(StepFailed):
    status = IngestStatus.DUPLICATE


async def _duplicate_check(session: AsyncSession, version: DocumentVersion) -> None:
    """Stop at a file whose bytes the library already holds, unless a librarian said keep."""
    if version.duplicate_accepted:
        return
    stmt = (
        select(Document)
        .join(DocumentVersion, col(DocumentVersion.document_id) == Document.id)
        .where(
            DocumentVersion.sha256 == version.sha256,
            # Only earlier uploads count: of two identical files sent together, the
            # second is the duplicate, never both.
            col(DocumentVersion.id) < version.id,
            col(DocumentVersion.status) != IngestStatus.QUARANTINED.value,
        )
        .order_by(col(Document.id))
        .limit(1)
    )
    found = (await session.exec(stmt)).first()
    if found is None:
        return
    await _set(session, version, duplicate_of_id=found.id)
    # The stored reason names nothing: the original may sit in a collection the uploader
    # cannot see. Listings name it to those who may (documents.list_in_collection).
    raise Duplicate("duplicate_check", DUPLICATE_REASON)


async def _virus_scan(path: Path) -> str:
    """Raise Quarantined for an infected file; return a warning when none was scanned."""
    settings = get_settings()
    if not settings.clamd_url:
        if settings.publish_unscanned:
            return "not scanned for viruses (no scanner is configured)"
        raise StepFailed(
            "virus_scan",
            "No virus scanner is configured, and unscanned files may not be published. "
            "Retry once the scanner runs.",
            retryable=True,
        )
    try:
        verdict = await virus.scan(settings.clamd_url, path)
    except virus.ScannerUnavailable as exc:
        raise Transient("virus_scan", str(exc)) from exc
    if not verdict.clean:
        raise Quarantined(
            "virus_scan",
            f"Infected ({verdict.signature}): the file is quarantined and will never be "
            "published or downloaded.",
        )
    return ""


async def _set(session: AsyncSession, version: DocumentVersion, **fields: object) -> None:
    if "step" in fields and version.step and version.step_at is not None:
        # The step ending now: how long it took (Prometheus, per step).
        took = (utcnow() - version.step_at).total_seconds()
        metrics.INGEST_STEP_SECONDS.labels(version.step).observe(max(0.0, took))
    for name, value in fields.items():
        setattr(version, name, value)
    if "step" in fields:
        version.step_at = utcnow()
    session.add(version)
    await session.commit()  # and enqueue what the step deferred (the indexer)
    await progress.announce(session, version)


async def _local_copy(store: ObjectStore, key: str, tmpdir: Path) -> Path:
    if isinstance(store, LocalObjectStore):
        return store.local_path(key)
    path = tmpdir / "original"
    fh = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in store.read(key):
            await asyncio.to_thread(fh.write, chunk)
    finally:
        fh.close()
    return path


def _short(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return first[:300]


@asynccontextmanager
async def _claimed(version_id: int) -> AsyncIterator[bool]:
    """Hold the version's lock while this run works on it; False when another run has it.

    The lock is a session-level one (db.lock_engine): a worker killed or a machine lost
    closes its connection, and PostgreSQL ends the lock with it. A run that ends gives it
    back; a connection that could not give it back is thrown away, which ends it too."""
    lock = {"ns": LOCK_NAMESPACE, "id": version_id}
    async with lock_engine().connect() as conn:
        held = bool(
            (await conn.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"), lock)).scalar()
        )
        try:
            yield held
        finally:
            if held:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), lock)
                except Exception:  # the connection is lost: so is the lock
                    await conn.invalidate()
                except BaseException:  # cancelled: the lock must not go back to the pool
                    await asyncio.shield(conn.invalidate())
                    raise


async def abandoned(session: AsyncSession, version_ids: list[int]) -> list[int]:
    """Those of the versions that no run holds (their lock is free) at this moment."""
    free = []
    for version_id in version_ids:
        taken = await sql(
            session,
            text("SELECT pg_try_advisory_xact_lock(:ns, :id)").bindparams(
                ns=LOCK_NAMESPACE, id=version_id
            ),
        )
        if taken.scalar():
            free.append(version_id)
    return free


async def run(version_id: int, *, store: ObjectStore) -> str:
    """Process one version; returns its final status ("running" if another run has it)."""
    try:
        async with _claimed(version_id) as mine:
            if not mine:
                log.info("version %s is being processed by another run", version_id)
                return "running"
            return await _run(version_id, store)
    except DATABASE_AWAY as exc:  # taking or giving back the lock
        raise Transient("", f"the database is unreachable ({_short(exc)})") from exc


async def _exists(version_id: int) -> bool:
    async with session_scope() as session:
        return await session.get(DocumentVersion, version_id) is not None


async def _run(version_id: int, store: ObjectStore) -> str:
    finished = False
    try:
        try:
            async with session_scope() as session:
                version = await session.get(DocumentVersion, version_id)
                if version is None:
                    log.info("version %s is gone; nothing to do", version_id)
                    finished = True
                    return "gone"
                if version.status == IngestStatus.READY:
                    finished = True
                    return version.status
                step = version.step
                try:
                    await _steps(session, version, store)
                except FileNotFoundError as exc:
                    raise StepFailed(
                        "storage", "The original file is missing from the object store."
                    ) from exc
                except DATABASE_AWAY:
                    raise  # below: the step it stopped in stays as recorded
                except (IntegrityError, StaleDataError):
                    if await _exists(version_id):
                        raise
                    # Deleted (its document or collection) while it was processed.
                    log.info("version %s was deleted while it was processed", version_id)
                    finished = True
                    return "gone"
                except (OSError, BotoCoreError, Unavailable) as exc:
                    # Storage away for a moment: worth another try later.
                    raise Transient(
                        version.step or step, f"a service is unreachable ({exc})"
                    ) from exc
                finished = True
                return IngestStatus.READY.value
        except DATABASE_AWAY as exc:
            raise Transient("", f"the database is unreachable ({_short(exc)})") from exc
    except StepFailed as exc:
        try:
            await fail(version_id, exc.step, exc.reason, status=exc.status, retryable=exc.retryable)
        except DATABASE_AWAY as db_exc:
            # Not recorded: the next try finds the same reason and records it.
            finished = True
            raise Transient(exc.step, f"the database is unreachable ({_short(db_exc)})") from exc
        finished = True
        return exc.status.value
    except Transient as exc:
        finished = True
        try:
            await fail(
                version_id,
                exc.step,
                f"Waiting to try again: {exc.reason}.",
                status=IngestStatus.PENDING,
            )
        except DATABASE_AWAY:
            log.warning("version %s waits for the database to come back", version_id)
        raise
    finally:
        # A crash, a timeout or a cancellation must not leave the file "processing".
        if not finished:
            try:
                await fail(version_id, None, "Processing stopped unexpectedly{step}; use Retry.")
            except DATABASE_AWAY:
                log.warning("version %s stopped while the database was away", version_id)


async def _steps(session: AsyncSession, version: DocumentVersion, store: ObjectStore) -> None:
    assert version.id is not None
    await _set(session, version, status=IngestStatus.PROCESSING.value, step="sniff", error="")
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        workdir = Path(tmp)
        path = await _local_copy(store, version.file_key, workdir)
        sniffed = await asyncio.to_thread(sniff.sniff_file, path, version.filename)
        if sniffed.error:
            failure = NeedsPassword if sniffed.needs_password else StepFailed
            raise failure("sniff", sniffed.error)
        await _set(session, version, mime_type=sniffed.mime_type, step="duplicate_check")
        await _duplicate_check(session, version)
        await _set(session, version, step="virus_scan")
        unscanned = await _virus_scan(path)
        await _set(session, version, step="extract")
        delay = get_settings().ingest_test_delay_seconds
        if delay:  # tests only (settings refuse it elsewhere): a job to kill or starve
            await asyncio.sleep(delay)
        converted = None
        if sniffed.mime_type in CONVERTED:
            await _set(session, version, step="convert")
            try:
                converted = await office_suite.get_suite().convert(path, sniffed.mime_type, workdir)
            except PasswordRequired as exc:
                raise NeedsPassword("convert", str(exc)) from exc
            except ParseError as exc:
                retryable = isinstance(exc, office_suite.ConversionFailed) and exc.retryable
                raise StepFailed("convert", str(exc), retryable=retryable) from exc
            await _set(session, version, step="extract")
        result = await sandbox.run(path, sniffed.mime_type, workdir, converted=converted)
        if unscanned:
            result.warnings.insert(0, unscanned)
        if result.error:
            failure = NeedsPassword if result.needs_password else StepFailed
            raise failure("extract", result.error, retryable=result.retryable)
        await _set(session, version, step="thumbnail")
        thumbs = {
            name: await _store_thumbnail(store, version.id, workdir / filename)
            for name, filename in result.thumbnails.items()
        }
        for n in range(1, result.page_images + 1):
            await _store_object(
                store, page_image_key(version.id, n), workdir / f"page-{n:04d}.webp"
            )
        pdf_key = ""  # where the other pages are drawn from when first opened
        if result.page_images and converted is not None:
            pdf_key = converted_pdf_key(version.id)
            await _store_object(store, pdf_key, converted)
        elif result.page_images:
            pdf_key = version.file_key
    await session.exec(delete(DocumentPage).where(col(DocumentPage.version_id) == version.id))
    session.add_all(
        DocumentPage(version_id=version.id, page_no=i + 1, text=page)
        for i, page in enumerate(result.pages)
    )
    version.page_count = int(result.meta.get("page_count") or len(result.pages)) or None
    version.meta = result.meta
    version.language = result.language
    version.thumbnail_key = thumbs.get("small", "")
    version.preview_key = thumbs.get("large", "")
    version.page_images = result.page_images
    version.pdf_key = pdf_key
    version.warnings = "; ".join(result.warnings)
    await _set(session, version, step="index")
    document = await session.get(Document, version.document_id)
    if document is not None and await _is_newest(session, version):
        # A new version becomes current once it is ready; until then search keeps the old one.
        document.current_version_id = version.id
        session.add(document)
        await session.flush()
    if document is not None and document.current_version_id == version.id:
        title = titles.title_for(
            str(result.meta.get("title", "")),
            result.pages,
            text_is_reliable=not sniffed.mime_type.startswith("image/")
            and not any("by OCR" in w for w in result.warnings),
            plain_text=sniffed.mime_type == "text/plain",
        )
        if (
            title
            and version.version_no == 1
            and document.title == title_from_filename(version.filename)
        ):
            document.title = title[:500]
            session.add(document)
            await session.flush()
        await metadata.adopt_version(session, document, version)
        alone = not await _others_in_flight(session, version)
        await indexer.changed(session, version.document_id, last_of_run=alone)
    await _set(
        session, version, status=IngestStatus.READY.value, step="done", processed_at=utcnow()
    )
    await _outcome(session, version, document, IngestStatus.READY)


async def _outcome(
    session: AsyncSession,
    version: DocumentVersion,
    document: Document | None,
    status: IngestStatus,
    step: str = "",
    reason: str = "",
) -> None:
    """The analytics event of how a version's processing ended: ready (with the seconds
    from upload to searchable), or failed, quarantined or a duplicate (step, reason)."""
    data: dict[str, object] = {"outcome": status.value, "version_id": version.id}
    metrics.INGEST_OUTCOMES.labels(status.value).inc()
    if status == IngestStatus.FAILED:
        metrics.INGEST_FAILURES.labels(step or "unknown").inc()
    if status == IngestStatus.READY:
        data["seconds"] = round((utcnow() - version.created_at).total_seconds(), 3)
    else:
        data |= {"step": step, "reason": reason[:300]}
    await analytics.record(
        kind="ingest",
        document_id=version.document_id,
        collection_id=document.collection_id if document is not None else None,
        data=data,
    )


IN_FLIGHT = (IngestStatus.PENDING.value, IngestStatus.PROCESSING.value)


async def _others_in_flight(session: AsyncSession, version: DocumentVersion) -> bool:
    """Whether any other version is waiting for or in the pipeline."""
    others = select(DocumentVersion.id).where(
        col(DocumentVersion.status).in_(IN_FLIGHT), col(DocumentVersion.id) != version.id
    )
    return bool(await session.scalar(select(others.exists())))


async def _is_newest(session: AsyncSession, version: DocumentVersion) -> bool:
    newest = (
        await session.exec(
            select(func.max(DocumentVersion.version_no)).where(
                DocumentVersion.document_id == version.document_id
            )
        )
    ).one()
    return newest == version.version_no


async def _store_thumbnail(store: ObjectStore, version_id: int, source: Path) -> str:
    key = f"thumbnails/{version_id}/{source.name}"
    await _store_object(store, key, source)
    return key


async def _store_object(store: ObjectStore, key: str, source: Path) -> None:
    """Previews are derived from the original, so a retry replaces them."""
    await store.delete(key)
    await store_file(store, key, source)


async def fail(
    version_id: int,
    step: str | None,
    reason: str,
    status: IngestStatus = IngestStatus.FAILED,
    *,
    retryable: bool = True,
) -> None:
    """Record how a version stopped, in a fresh unit of work (the pipeline's may be broken).
    `retryable`: whether sending it again may end otherwise (see StepFailed)."""
    async with session_scope() as session:
        version = await session.get(DocumentVersion, version_id)
        if version is None or version.status == IngestStatus.READY:
            return
        where = f" during {version.step}" if version.step else ""
        version.status = status.value
        version.step = step or version.step
        version.error = reason.format(step=where)
        version.retryable = retryable
        if status == IngestStatus.PENDING:
            version.step_at = utcnow()  # since when it waits (the sweeper reads it)
        session.add(version)
        if status != IngestStatus.PENDING:  # (waiting to try again is no outcome)
            document = await session.get(Document, version.document_id)
            await _outcome(session, version, document, status, version.step, version.error)
        await session.commit()
        await progress.announce(session, version)
