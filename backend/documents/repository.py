"""Document queries for the documents service (who may see what: backend.access.scope)."""

from datetime import datetime

from sqlalchemy import true, tuple_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents.models import Document, DocumentVersion, IngestStatus
from backend.users.models import User


async def versions_of(
    session: AsyncSession, document_id: int, ready_only: bool = False
) -> list[tuple[DocumentVersion, str]]:
    """A document's versions, newest first, each with who uploaded it."""
    stmt = (
        select(DocumentVersion, User.display_name)
        .outerjoin(User, col(User.id) == DocumentVersion.uploaded_by)
        .where(DocumentVersion.document_id == document_id)
        .where(col(DocumentVersion.status) == IngestStatus.READY.value if ready_only else true())
        .order_by(col(DocumentVersion.version_no).desc())
    )
    return [(v, name or "") for v, name in (await session.exec(stmt)).all()]


async def in_collection(
    session: AsyncSession,
    collection_id: int,
    limit: int = 50,
    listed_only: bool = False,
    before: tuple[datetime, int] | None = None,
) -> list[tuple[Document, DocumentVersion | None]]:
    """A collection's documents, newest first (ties by id): the first `limit`, or those
    after `before` (the last one's (created_at, id) of the page before: a keyset, so a
    page costs the same however deep, and additions never shift what follows)."""
    after = (
        tuple_(col(Document.created_at), col(Document.id)) < tuple_(before[0], before[1])
        if before is not None
        else true()
    )
    stmt = (
        select(Document, DocumentVersion)
        .outerjoin(DocumentVersion, col(DocumentVersion.id) == Document.current_version_id)
        .where(Document.collection_id == collection_id)
        .where(col(Document.listed) if listed_only else true())
        .where(after)
        .order_by(col(Document.created_at).desc(), col(Document.id).desc())
        .limit(limit)
    )
    return [(d, v) for d, v in (await session.exec(stmt)).all()]


async def next_version_no(session: AsyncSession, document_id: int) -> int:
    stmt = select(func.coalesce(func.max(DocumentVersion.version_no), 0)).where(
        DocumentVersion.document_id == document_id
    )
    return int((await session.exec(stmt)).one()) + 1


async def version_count(session: AsyncSession, document_id: int) -> int:
    stmt = select(func.count()).where(DocumentVersion.document_id == document_id)
    return int((await session.exec(stmt)).one())
