"""Collection queries, with visibility (backend.access.scope) built into the statements."""

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.scope import visible_collection_clause
from backend.collections.models import Collection, Membership
from backend.documents.models import Document
from backend.users.models import User


async def visible(session: AsyncSession, actor: User | None) -> list[Collection]:
    stmt = select(Collection).where(visible_collection_clause(actor)).order_by(col(Collection.name))
    return list((await session.exec(stmt)).all())


async def listed_counts(session: AsyncSession) -> dict[int, int]:
    """How many documents a visitor finds in each collection (processed ones)."""
    stmt = (
        select(Document.collection_id, func.count())
        .where(col(Document.listed))
        .group_by(col(Document.collection_id))
    )
    return {int(c): int(n) for c, n in (await session.exec(stmt)).all()}


async def visible_by_slug(
    session: AsyncSession, actor: User | None, slug: str
) -> Collection | None:
    stmt = select(Collection).where(Collection.slug == slug, visible_collection_clause(actor))
    return (await session.exec(stmt)).first()


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    return (
        await session.exec(select(Collection.id).where(Collection.slug == slug))
    ).first() is not None


async def member_role(session: AsyncSession, collection_id: int, user_id: int) -> str | None:
    row = await session.get(Membership, (collection_id, user_id))
    return row.role if row else None


async def members(session: AsyncSession, collection_id: int) -> list[tuple[Membership, User]]:
    stmt = (
        select(Membership, User)
        .join(User, col(User.id) == Membership.user_id)
        .where(Membership.collection_id == collection_id)
        .order_by(col(Membership.role), col(User.email))
    )
    return [(m, u) for m, u in (await session.exec(stmt)).all()]
