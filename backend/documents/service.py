"""Use cases for documents: add an uploaded file, read it back, list a collection."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from sqlalchemy import text
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import journal, metrics, queue
from backend.access import scope
from backend.analytics import events as analytics
from backend.collections.models import Collection
from backend.db import sql
from backend.documents import harvest, metadata, repository
from backend.documents.models import (
    Document,
    DocumentPage,
    DocumentVersion,
    IngestStatus,
)
from backend.documents.schemas import (
    DocumentPublic,
    DocumentSummary,
    VersionPublic,
    VersionStaff,
)
from backend.errors import InvalidInput, NotFound, PermissionDenied
from backend.search import indexer
from backend.storage import cleanup
from backend.storage.service import StoredObject
from backend.users.models import User

NO_VERSION = "No such version."


def clean_filename(filename: str) -> str:
    """The last path part, without control characters, at most 255 characters."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if not name or name in {".", ".."}:
        raise InvalidInput("The file has no usable name.")
    return name[-255:]


def page_image_key(version_id: int, page_no: int, small: bool = False) -> str:
    """Where the image of a page of a version is stored (PDFs and office files); `small`:
    its picture to jump by (backend.ingest.pages)."""
    return f"pages/{version_id}/{page_no}{'-small' if small else ''}.webp"


def converted_pdf_key(version_id: int) -> str:
    """Where the PDF LibreOffice made of an office file is kept: its pages are drawn
    from it when first opened."""
    return f"converted/{version_id}.pdf"


def title_from_filename(filename: str) -> str:
    stem = PurePosixPath(filename).stem.replace("_", " ").replace("-", " ")
    return " ".join(stem.split())[:500] or filename


async def add_document(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    stored: StoredObject,
    filename: str,
    declared_mime: str = "",
    title: str = "",
) -> tuple[Document, DocumentVersion]:
    """Record an uploaded file as a new document; its ingest job runs after the commit."""
    await scope.require_curated(session, actor, collection_id)
    assert actor is not None
    name = _upload_name(filename, stored)
    document = Document(
        collection_id=collection_id,
        title=(" ".join(title.split()) or title_from_filename(name))[:500],
        created_by=actor.id,
    )
    session.add(document)
    await session.flush()
    assert document.id is not None
    version = await _add_version_row(
        session, actor, collection_id, document.id, 1, stored, name, declared_mime
    )
    document.current_version_id = version.id
    session.add(document)
    journal.write(
        session,
        actor=actor,
        action=journal.DOCUMENT_ADDED,
        label=document.title,
        document_id=document.id,
        collection_id=collection_id,
        changes={"file": [None, name]},
    )
    await session.flush()
    return document, version


def _upload_name(filename: str, stored: StoredObject) -> str:
    name = clean_filename(filename)
    if stored.size == 0:
        raise InvalidInput(f"{name} is empty.")
    return name


async def _add_version_row(
    session: AsyncSession,
    actor: User,
    collection_id: int,
    document_id: int,
    version_no: int,
    stored: StoredObject,
    name: str,
    declared_mime: str,
) -> DocumentVersion:
    """The version row of a stored upload; its ingest job runs after the commit."""
    version = DocumentVersion(
        document_id=document_id,
        version_no=version_no,
        file_key=stored.key,
        filename=name,
        sha256=stored.sha256,
        size=stored.size,
        declared_mime=declared_mime[:200],
        uploaded_by=actor.id,
    )
    session.add(version)
    metrics.UPLOADS.inc()
    await session.flush()
    queue.defer(session, "ingest_version", version.id, job_id=f"ingest:{version.id}")
    await analytics.record(
        kind="upload",
        actor=actor,
        document_id=document_id,
        collection_id=collection_id,
        data={"version_id": version.id, "size": stored.size, "version_no": version_no},
    )
    return version


async def add_version(
    *,
    session: AsyncSession,
    actor: User | None,
    document_id: int,
    stored: StoredObject,
    filename: str,
    declared_mime: str = "",
) -> DocumentVersion:
    """Upload a new version of a document; it becomes current once it is processed."""
    document, collection = await scope.require_curated_document(session, actor, document_id)
    assert collection.id is not None and document.id is not None
    assert actor is not None
    name = _upload_name(filename, stored)
    version_no = await repository.next_version_no(session, document.id)
    journal.write(
        session,
        actor=actor,
        action=journal.VERSION_ADDED,
        label=document.title,
        document_id=document.id,
        collection_id=collection.id,
        changes={"version": [None, version_no], "file": [None, name]},
    )
    return await _add_version_row(
        session, actor, collection.id, document.id, version_no, stored, name, declared_mime
    )


async def restore_version(
    *, session: AsyncSession, actor: User | None, document_id: int, version_id: int
) -> Document:
    """Make an older, processed version of the document the current one again."""
    version, document = await _curated_version(session, actor, version_id)
    if document.id != document_id:
        raise NotFound(NO_VERSION)
    if version.status != IngestStatus.READY:
        raise InvalidInput("Only a processed (ready) version can be made current.")
    before = await session.get(DocumentVersion, document.current_version_id or 0)
    assert actor is not None
    journal.write(
        session,
        actor=actor,
        action=journal.VERSION_RESTORED,
        label=document.title,
        document_id=document.id,
        collection_id=document.collection_id,
        changes={"version": [before.version_no if before else None, version.version_no]},
    )
    document.current_version_id = version.id
    session.add(document)
    await session.flush()
    await metadata.adopt_version(session, document, version)
    await indexer.changed(session, document.id)
    return document


async def resolve_duplicate(
    *, session: AsyncSession, actor: User | None, version_id: int, action: str
) -> int | None:
    """A librarian's decision on a duplicate upload: "skip" it, or add it as a "new_version".

    Returns the id of the document that holds the file afterwards (None when skipped).
    """
    version, upload = await _curated_version(session, actor, version_id)
    assert upload.id is not None
    if version.status != IngestStatus.DUPLICATE:
        raise InvalidInput("This file is not waiting for a duplicate decision.")
    only_version = await repository.version_count(session, upload.id) == 1
    if action in ("skip", "new_version"):
        assert actor is not None
        journal.write(
            session,
            actor=actor,
            action=journal.DUPLICATE_RESOLVED,
            label=upload.title,
            document_id=version.duplicate_of_id if action == "new_version" else upload.id,
            collection_id=upload.collection_id,
            changes={
                "file": [None, version.filename],
                "decision": [None, "skipped" if action == "skip" else "added as a new version"],
            },
        )
    if action == "skip":
        key = version.file_key
        if only_version:
            await session.delete(upload)  # its versions and pages go with it
        else:
            await session.delete(version)
        await session.flush()
        await cleanup.delete_later(session=session, keys=[key])
        return None
    if action != "new_version":
        raise InvalidInput(f"Unknown action {action!r}.")
    target = (
        await session.get(Document, version.duplicate_of_id, populate_existing=True)
        if version.duplicate_of_id
        else None
    )
    if target is None or target.id is None:
        raise NotFound("The original document is gone; retry the file instead.")
    await scope.require_curated(session, actor, target.collection_id)
    version.document_id = target.id
    version.version_no = await repository.next_version_no(session, target.id)
    version.duplicate_accepted = True
    version.status, version.step, version.error = IngestStatus.PENDING.value, "", ""
    session.add(version)
    await session.flush()
    if only_version:
        await session.delete(upload)
        await session.flush()
    queue.defer(session, "ingest_version", version_id, job_id=f"ingest:{version_id}:accepted")
    return target.id


async def _curated_version(
    session: AsyncSession, actor: User | None, version_id: int
) -> tuple[DocumentVersion, Document]:
    """A version and its document as they are now, locked against a concurrent decision,
    if the actor curates the document's collection."""
    version = await session.get(
        DocumentVersion, version_id, with_for_update=True, populate_existing=True
    )
    document = (
        await session.get(Document, version.document_id, populate_existing=True)
        if version
        else None
    )
    if version is None or document is None or document.id is None:
        raise NotFound(NO_VERSION)
    try:
        await scope.require_curated(session, actor, document.collection_id)
    except NotFound:
        raise NotFound(NO_VERSION) from None  # the same answer as for no version at all
    return version, document


def _version_public(v: DocumentVersion) -> VersionPublic:
    assert v.id is not None
    return VersionPublic(
        id=v.id,
        version_no=v.version_no,
        filename=v.filename,
        size=v.size,
        mime_type=v.mime_type or v.declared_mime,
        page_count=v.page_count,
        language=v.language,
        created_at=v.created_at,
        meta=v.meta,
        has_thumbnail=bool(v.thumbnail_key),
    )


def _version_staff(v: DocumentVersion, uploader: str) -> VersionStaff:
    return VersionStaff(
        status=v.status,
        step=v.step,
        error=v.error,
        warnings=v.warnings,
        sha256=v.sha256,
        uploaded_by=uploader,
        duplicate_of_id=v.duplicate_of_id,
    )


async def get(
    *, session: AsyncSession, actor: User | None, document_id: int, client: str = ""
) -> DocumentPublic:
    """A document with its versions, if the actor may see it; how each version was
    processed, checked and sent only for its curators. `client`: the visitor's address
    (for the view's count, hashed)."""
    document, collection = await scope.require_document(session, actor, document_id)
    assert document.id is not None and collection.id is not None
    curator = await scope.can_curate(session, actor, collection)
    rows = await repository.versions_of(session, document.id, ready_only=not curator)
    versions = [_version_public(v) for v, _ in rows]
    current = next((v for v in versions if v.id == document.current_version_id), None)
    await analytics.record(
        kind="document_view",
        actor=actor,
        document_id=document.id,
        collection_id=collection.id,
        client=client,
    )
    return DocumentPublic(
        id=document.id,
        title=document.title,
        collection_id=collection.id,
        collection_name=collection.name,
        collection_slug=collection.slug,
        collection_is_public=collection.is_public,
        created_at=document.created_at,
        current=current,
        versions=versions,
        can_curate=curator,
        staff={v.id: _version_staff(v, uploader) for v, uploader in rows if curator and v.id},
    )


async def curates(*, session: AsyncSession, actor: User | None, document_id: int) -> bool:
    """Whether the actor curates the document (sees its staff details, may edit it)."""
    found = await scope.visible_document(session, actor, document_id)
    return found is not None and await scope.can_curate(session, actor, found[1])


@dataclass(frozen=True)
class Download:
    file_key: str
    filename: str
    size: int
    mime_type: str
    public: bool = False


async def open_download(
    *,
    session: AsyncSession,
    actor: User | None,
    document_id: int,
    version_id: int | None = None,
    client: str = "",
) -> Download:
    """What to stream for a download, if the actor may see the document."""
    found = await scope.require_document(session, actor, document_id)
    document, _ = found
    wanted = version_id or document.current_version_id
    version = await session.get(DocumentVersion, wanted) if wanted else None
    if version is None or version.document_id != document.id:
        raise NotFound("No such version.")
    if version.status == IngestStatus.QUARANTINED:
        raise PermissionDenied("This file is infected and quarantined; it cannot be downloaded.")
    if version.status != IngestStatus.READY and not await scope.can_curate(
        session, actor, found[1]
    ):
        # Not scanned and checked yet: only the people who curate it may fetch it.
        raise NotFound("This file is not available yet.")
    await analytics.record(
        kind="download",
        actor=actor,
        document_id=document.id,
        collection_id=document.collection_id,
        data={"version_id": version.id},
        client=client,
    )
    return Download(
        file_key=version.file_key,
        filename=version.filename,
        size=version.size,
        mime_type=version.mime_type or "application/octet-stream",
        public=is_public(document, found[1]) and version.status == IngestStatus.READY,
    )


@dataclass(frozen=True)
class Served:
    """An object to send, and whether anyone may see it (else it must not be cached)."""

    key: str
    public: bool


def is_public(document: Document, collection: Collection) -> bool:
    """Seen by anyone, logged in or not: ready, in a public collection."""
    return document.listed and collection.is_public


async def _current_version(
    session: AsyncSession, actor: User | None, document_id: int
) -> tuple[DocumentVersion | None, bool]:
    """The current version of a document the actor may see (NotFound otherwise), and
    whether the document is public."""
    document, collection = await scope.require_document(session, actor, document_id)
    public = is_public(document, collection)
    if not document.current_version_id:
        return None, public
    return await session.get(DocumentVersion, document.current_version_id), public


async def open_thumbnail(
    *, session: AsyncSession, actor: User | None, document_id: int, size: str = "small"
) -> Served:
    """The current version's thumbnail, if the actor may see the document."""
    version, public = await _current_version(session, actor, document_id)
    key = (version.preview_key if size == "large" else version.thumbnail_key) if version else ""
    if not key:
        raise NotFound("This document has no thumbnail.")
    return Served(key, public)


async def retry(*, session: AsyncSession, actor: User | None, version_id: int) -> DocumentVersion:
    """Send a failed version through the pipeline again, when its failure came from the
    moment rather than the file (`retryable`); curators of its collection only."""
    version, _ = await _curated_version(session, actor, version_id)
    if version.status != IngestStatus.FAILED:
        raise InvalidInput("Only a failed file can be retried.")
    if not version.retryable:
        raise InvalidInput(
            "This file failed because of what it is, and would fail the same way again: "
            "upload a corrected file as a new version, or delete it."
        )
    version.attempts += 1
    attempt = version.attempts
    version.status, version.step, version.error = IngestStatus.PENDING.value, "", ""
    session.add(version)
    await session.flush()
    # A new job id: arq refuses an id whose earlier result it still keeps.
    queue.defer(
        session, "ingest_version", version_id, job_id=f"ingest:{version_id}:retry:{attempt}"
    )
    return version


async def list_in_collection(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    limit: int = 50,
    before: tuple[datetime, int] | None = None,
) -> list[DocumentSummary]:
    """Latest documents of a collection the actor may see, with their ingest status: the
    first `limit`, or those after `before` (see repository.in_collection)."""
    collection = await scope.require_visible_collection(session, actor, collection_id)
    # Files still in the pipeline, failed or held are for the curators' eyes.
    curator = await scope.can_curate(session, actor, collection)
    out = []
    rows = await repository.in_collection(
        session, collection_id, limit=limit, listed_only=not curator, before=before
    )
    for d, v in rows:
        assert d.id is not None
        duplicate_of_id, error = (v.duplicate_of_id, v.error) if v else (None, "")
        if v is not None and v.status == IngestStatus.DUPLICATE:
            duplicate_of_id, error = await _duplicate_reason(session, actor, v)
        out.append(
            DocumentSummary(
                id=d.id,
                version_id=v.id if v and v.id else 0,
                duplicate_of_id=duplicate_of_id,
                title=d.title,
                filename=v.filename if v else "",
                size=v.size if v else 0,
                status=v.status if v else IngestStatus.PENDING.value,
                step=v.step if v else "",
                error=error,
                created_at=d.created_at,
                retryable=bool(v and v.status == IngestStatus.FAILED and v.retryable),
            )
        )
    return out


async def _duplicate_reason(
    session: AsyncSession, actor: User | None, version: DocumentVersion
) -> tuple[int | None, str]:
    """Name a duplicate's original, with a link, only to someone who may see it."""
    found = (
        await scope.visible_document(session, actor, version.duplicate_of_id)
        if version.duplicate_of_id
        else None
    )
    if found is None:
        return None, (
            "The library already holds this file, in a collection you cannot see: skip it, "
            "or ask that collection's curators."
        )
    original, collection = found
    return original.id, (
        f"Duplicate of “{original.title}” in {collection.name}: skip it, or add it as a "
        "new version of that document."
    )


@dataclass(frozen=True)
class PageText:
    page_no: int
    page_count: int
    text: str
    page_images: int = 0  # how many first pages have an image (drawn or to be drawn)


def pictured_pages(page_images: int, page_count: int | None, pdf_key: str) -> int:
    """How many first pages of a version can be shown as images: all of them when it has
    a PDF to draw them from, else those drawn at ingest."""
    return max(page_images, page_count or 0) if pdf_key else page_images


def _pictured(version: DocumentVersion) -> int:
    return pictured_pages(version.page_images, version.page_count, version.pdf_key)


async def ready_version(
    session: AsyncSession, actor: User | None, document_id: int
) -> DocumentVersion:
    """The current version, processed, of a document the actor may see (NotFound else)."""
    version, _ = await _current_version(session, actor, document_id)
    if version is None or version.status != IngestStatus.READY:
        raise NotFound("This document has no processed text yet.")
    return version


async def page_text(
    *, session: AsyncSession, actor: User | None, document_id: int, page_no: int = 1
) -> PageText:
    """The text extracted from one page of the current version (plain text: nothing of
    the document's own markup or scripts), if the actor may see the document."""
    version = await ready_version(session, actor, document_id)
    count = int(
        (
            await session.exec(select(func.count()).where(DocumentPage.version_id == version.id))
        ).one()
    )
    page_no = max(1, min(page_no, count or 1))
    row = await session.get(DocumentPage, (version.id, page_no))
    return PageText(
        page_no=page_no,
        page_count=count,
        text=row.text if row else "",
        page_images=_pictured(version),
    )


@dataclass(frozen=True)
class PageImage:
    """Where a page's image is, or is to be drawn from (backend.ingest.pages)."""

    key: str
    public: bool
    drawn: bool  # at ingest: stored for sure
    pdf_key: str
    version_id: int
    page_count: int
    language: str = ""  # found in the version's text (py3langid's code)


async def page_image(
    *, session: AsyncSession, actor: User | None, document_id: int, page_no: int
) -> PageImage:
    """A page's image, if the actor may see the document and the page can have one."""
    version, public = await _current_version(session, actor, document_id)
    if version is None or version.id is None or not 1 <= page_no <= _pictured(version):
        raise NotFound("No image of that page.")
    return PageImage(
        key=page_image_key(version.id, page_no),
        public=public,
        drawn=page_no <= version.page_images,
        pdf_key=version.pdf_key,
        version_id=version.id,
        page_count=_pictured(version),
        language=version.language,
    )


async def delete_documents(session: AsyncSession, document_ids: list[int]) -> None:
    """Documents go with their versions, pages and browse entries (cascades), out of the
    search index (outbox), and their files after the commit."""
    keys = list(
        (
            await sql(
                session,
                text(
                    "SELECT file_key FROM document_versions WHERE document_id = ANY(:ids) "
                    "UNION ALL SELECT thumbnail_key FROM document_versions "
                    "WHERE document_id = ANY(:ids) AND thumbnail_key <> '' "
                    "UNION ALL SELECT preview_key FROM document_versions "
                    "WHERE document_id = ANY(:ids) AND preview_key <> ''"
                ).bindparams(ids=document_ids),
            )
        ).scalars()
    )
    versions = await sql(
        session,
        text(
            "SELECT id, page_images, page_count, pdf_key, file_key FROM document_versions "
            "WHERE document_id = ANY(:ids) AND (page_images > 0 OR pdf_key <> '')"
        ).bindparams(ids=document_ids),
    )
    for v in versions.all():
        # Pages drawn when first opened may be there or not: deleting a missing key is fine.
        count = pictured_pages(v.page_images, v.page_count, v.pdf_key)
        keys += [page_image_key(v.id, n, s) for n in range(1, count + 1) for s in (False, True)]
        if v.pdf_key and v.pdf_key != v.file_key:
            keys.append(v.pdf_key)
    await harvest.withdraw(session, document_ids)  # harvesters are told they are gone
    await sql(
        session,
        text("UPDATE documents SET current_version_id = NULL WHERE id = ANY(:ids)").bindparams(
            ids=document_ids
        ),
    )
    await sql(
        session, text("DELETE FROM documents WHERE id = ANY(:ids)").bindparams(ids=document_ids)
    )
    await indexer.changed_many(session, document_ids)
    await cleanup.delete_later(session=session, keys=keys)


async def delete_document(*, session: AsyncSession, actor: User | None, document_id: int) -> str:
    """A curator deletes a document, every version and file of it; the audit log keeps
    that it was (its title and who). Returns the collection's slug."""
    document, collection = await scope.require_curated_document(session, actor, document_id)
    assert collection.id is not None
    assert actor is not None
    journal.write(
        session,
        actor=actor,
        action=journal.DOCUMENT_DELETED,
        label=document.title,
        document_id=document_id,
        collection_id=collection.id,
        changes={"title": [document.title, None]},
    )
    await session.flush()
    await delete_documents(session, [document_id])
    return collection.slug
