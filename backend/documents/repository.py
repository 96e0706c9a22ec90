"""Document queries; every read joins the collection's visibility clause."""

from sqlalchemy import true
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.collections.models import Collection
from backend.collections.repository import visible_collection_clause
from backend.documents.models import Document, DocumentVersion
from backend.users.models import User


async def visible_document(
    session: AsyncSession, actor: User | None, document_id: int
) -> tuple[Document, Collection] | None:
    stmt = (
        select(Document, Collection)
        .join(Collection, col(Collection.id) == Document.collection_id)
        .where(Document.id == document_id, visible_collection_clause(actor))
    )
    row = (await session.exec(stmt)).first()
    return (row[0], row[1]) if row else None


async def versions_of(session: AsyncSession, document_id: int) -> list[tuple[DocumentVersion, str]]:
    stmt = (
        select(DocumentVersion, User.display_name)
        .outerjoin(User, col(User.id) == DocumentVersion.uploaded_by)
        .where(DocumentVersion.document_id == document_id)
        .order_by(col(DocumentVersion.version_no).desc())
    )
    return [(v, name or "") for v, name in (await session.exec(stmt)).all()]


async def in_collection(
    session: AsyncSession, collection_id: int, limit: int = 50, listed_only: bool = False
) -> list[tuple[Document, DocumentVersion | None]]:
    stmt = (
        select(Document, DocumentVersion)
        .outerjoin(DocumentVersion, col(DocumentVersion.id) == Document.current_version_id)
        .where(Document.collection_id == collection_id)
        .where(col(Document.listed) if listed_only else true())
        .order_by(col(Document.created_at).desc())
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
