"""Who may see and who may curate what: one rule per kind of thing, used by every surface
(pages, state handlers, REST routes, search, autocomplete, browse, exports, statistics).

- A collection is visible to everyone when it is public; a private one to its members,
  to librarians and to admins.
- A collection is curated by admins (every one) and by its members with the curator role.
- A document is visible when it is ready (`listed`: its current version is processed) and
  its collection is visible. One that is not ready (pending, processing, failed,
  quarantined, or a duplicate waiting for a decision) is visible only to the curators of
  its collection.

A refusal about a particular thing is `NotFound`, worded as for a thing that does not
exist: whoever may not see or curate it learns nothing of it, not even that it exists.
"""

from sqlalchemy import ColumnElement, and_, exists, false, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from backend.access.roles import is_staff
from backend.collections.models import Collection, MemberRole, Membership
from backend.documents.models import Document
from backend.errors import NotFound
from backend.users.models import Role, User

NO_COLLECTION = "No such collection."
NO_DOCUMENT = "No such document."


def _active(actor: User | None) -> bool:
    return actor is not None and actor.is_active and actor.id is not None


def audience(actor: User | None) -> str:
    """Who sees the same collections as the actor: "staff" (all of them), "public" (the
    anonymous and the deactivated), or one signed-in member ("user:<id>")."""
    if is_staff(actor):
        return "staff"
    if not _active(actor) or actor is None:
        return "public"
    return f"user:{actor.id}"


def visible_collection_clause(actor: User | None) -> ColumnElement[bool]:
    """SQL condition on `collections`: public, or the actor is staff, or a member."""
    if is_staff(actor):
        return true()
    public = col(Collection.is_public).is_(True)
    if not _active(actor):
        return public
    assert actor is not None
    member = exists().where(
        col(Membership.collection_id) == col(Collection.id), col(Membership.user_id) == actor.id
    )
    return or_(public, member)


def curated_collection_clause(actor: User | None) -> ColumnElement[bool]:
    """SQL condition on `collections`: the actor curates it."""
    if not _active(actor):
        return false()
    assert actor is not None
    if actor.role == Role.ADMIN:
        return true()
    return exists().where(
        col(Membership.collection_id) == col(Collection.id),
        col(Membership.user_id) == actor.id,
        col(Membership.role) == MemberRole.CURATOR.value,
    )


def visible_collection_ids(actor: User | None) -> SelectOfScalar[int | None]:
    """A subquery of the ids of every collection the actor may see."""
    return select(col(Collection.id)).where(visible_collection_clause(actor))


def curated_collection_ids(actor: User | None) -> SelectOfScalar[int | None]:
    """A subquery of the ids of every collection the actor curates."""
    return select(col(Collection.id)).where(curated_collection_clause(actor))


def visible_document_clause(actor: User | None) -> ColumnElement[bool]:
    """SQL condition on `documents`: ready in a visible collection, or in a curated one."""
    if _active(actor) and actor is not None and actor.role == Role.ADMIN:
        return true()
    ready = col(Document.listed).is_(True)
    in_visible = (
        true()
        if is_staff(actor)
        else col(Document.collection_id).in_(visible_collection_ids(actor))
    )
    if not _active(actor):
        return and_(ready, in_visible)
    in_curated = col(Document.collection_id).in_(curated_collection_ids(actor))
    return or_(and_(ready, in_visible), in_curated)


async def visible_ids(session: AsyncSession, actor: User | None) -> list[int]:
    """The ids of every collection the actor may see."""
    rows = await session.exec(visible_collection_ids(actor))
    return [i for i in rows.all() if i is not None]


async def visible_collection(
    session: AsyncSession, actor: User | None, collection_id: int
) -> Collection | None:
    stmt = select(Collection).where(
        Collection.id == collection_id, visible_collection_clause(actor)
    )
    return (await session.exec(stmt)).first()


async def require_visible_collection(
    session: AsyncSession, actor: User | None, collection_id: int
) -> Collection:
    collection = await visible_collection(session, actor, collection_id)
    if collection is None:
        raise NotFound(NO_COLLECTION)
    return collection


async def can_curate(session: AsyncSession, actor: User | None, collection: Collection) -> bool:
    """Admins curate everything; anyone else (a librarian, or a patron trusted with one
    collection) curates the collections they are a curator of."""
    if not _active(actor) or actor is None or collection.id is None:
        return False
    if actor.role == Role.ADMIN:
        return True
    member = await session.get(Membership, (collection.id, actor.id))
    return member is not None and member.role == MemberRole.CURATOR


async def curates_any(session: AsyncSession, actor: User | None) -> bool:
    """Whether the actor curates at least one collection."""
    stmt = select(Collection.id).where(curated_collection_clause(actor)).limit(1)
    return (await session.exec(stmt)).first() is not None


async def require_curated(
    session: AsyncSession, actor: User | None, collection_id: int
) -> Collection:
    """The collection, if the actor curates it; NotFound otherwise, as if it did not exist."""
    collection = await visible_collection(session, actor, collection_id)
    if collection is None or not await can_curate(session, actor, collection):
        raise NotFound(NO_COLLECTION)
    return collection


async def visible_document(
    session: AsyncSession, actor: User | None, document_id: int
) -> tuple[Document, Collection] | None:
    """A document and its collection, if the actor may see the document."""
    stmt = (
        select(Document, Collection)
        .join(Collection, col(Collection.id) == Document.collection_id)
        .where(Document.id == document_id, visible_document_clause(actor))
        # The rows as the statement found them, not as a long-lived session remembers them.
        .execution_options(populate_existing=True)
    )
    row = (await session.exec(stmt)).first()
    return (row[0], row[1]) if row else None


async def visible_documents(
    session: AsyncSession, actor: User | None, document_ids: list[int]
) -> dict[int, tuple[Document, Collection]]:
    """Those of these documents the actor may see, with their collections, in one query."""
    if not document_ids:
        return {}
    stmt = (
        select(Document, Collection)
        .join(Collection, col(Collection.id) == Document.collection_id)
        .where(col(Document.id).in_(document_ids), visible_document_clause(actor))
        .execution_options(populate_existing=True)
    )
    return {d.id: (d, c) for d, c in (await session.exec(stmt)).all() if d.id is not None}


async def require_document(
    session: AsyncSession, actor: User | None, document_id: int
) -> tuple[Document, Collection]:
    found = await visible_document(session, actor, document_id)
    if found is None:
        raise NotFound(NO_DOCUMENT)
    return found


async def require_curated_document(
    session: AsyncSession, actor: User | None, document_id: int
) -> tuple[Document, Collection]:
    """A document and its collection, if the actor curates it; NotFound otherwise."""
    found = await visible_document(session, actor, document_id)
    if found is None or not await can_curate(session, actor, found[1]):
        raise NotFound(NO_DOCUMENT)
    return found
