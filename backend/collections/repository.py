"""Collection queries, with visibility built into the statements."""

from sqlalchemy import ColumnElement, Select, exists, or_, true
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.permissions import is_staff
from backend.collections.models import Collection, Membership
from backend.documents.models import Document
from backend.users.models import User


def visible_collection_clause(actor: User | None) -> ColumnElement[bool]:
    """SQL condition on `collections`: public, or the actor is staff, or a member."""
    if is_staff(actor):
        return true()
    public = col(Collection.is_public).is_(True)
    if actor is None or not actor.is_active or actor.id is None:
        return public
    member = exists().where(
        Membership.collection_id == Collection.id, Membership.user_id == actor.id
    )
    return or_(public, member)


def visible_collection_ids(actor: User | None) -> Select[tuple[int | None]]:
    """A subquery of the ids of every collection the actor may see."""
    return select(Collection.id).where(visible_collection_clause(actor))


async def visible_ids(session: AsyncSession, actor: User | None) -> list[int]:
    """The ids of every collection the actor may see."""
    rows = await session.exec(select(Collection.id).where(visible_collection_clause(actor)))
    return [i for i in rows.all() if i is not None]


async def visible(session: AsyncSession, actor: User | None) -> list[Collection]:
    stmt = select(Collection).where(visible_collection_clause(actor)).order_by(col(Collection.name))
    return list((await session.exec(stmt)).all())


async def list_visible(session: AsyncSession, actor: User | None) -> list[tuple[Collection, int]]:
    counts = (  # the documents a visitor finds there: processed ones
        select(Document.collection_id, func.count().label("n"))
        .where(col(Document.listed))
        .group_by(col(Document.collection_id))
        .subquery()
    )
    stmt = (
        select(Collection, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.collection_id == Collection.id)
        .where(visible_collection_clause(actor))
        .order_by(col(Collection.name))
    )
    return [(c, int(n)) for c, n in (await session.exec(stmt)).all()]


async def visible_by_slug(
    session: AsyncSession, actor: User | None, slug: str
) -> Collection | None:
    stmt = select(Collection).where(Collection.slug == slug, visible_collection_clause(actor))
    return (await session.exec(stmt)).first()


async def visible_by_id(
    session: AsyncSession, actor: User | None, collection_id: int
) -> Collection | None:
    stmt = select(Collection).where(
        Collection.id == collection_id, visible_collection_clause(actor)
    )
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
