"""Use cases for collections: create, list, open, members."""

from slugify import slugify
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.permissions import is_staff, require_staff
from backend.collections import repository
from backend.collections.models import Collection, MemberRole, Membership
from backend.collections.schemas import CollectionPublic
from backend.errors import InvalidInput, NotFound
from backend.users import repository as users
from backend.users.models import User


async def create(
    *,
    session: AsyncSession,
    actor: User | None,
    name: str,
    description: str = "",
    is_public: bool = True,
) -> Collection:
    """Create a collection; librarians and admins only. The creator becomes its curator."""
    user = require_staff(actor)
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("A collection needs a name.")
    if len(name) > 200:
        raise InvalidInput("A collection name must be at most 200 characters long.")
    base = slugify(name, max_length=100) or "collection"
    slug, n = base, 1
    while await repository.slug_taken(session, slug):
        n += 1
        slug = f"{base}-{n}"
    collection = Collection(
        name=name,
        slug=slug,
        description=description.strip(),
        is_public=is_public,
        created_by=user.id,
    )
    session.add(collection)
    await session.flush()
    assert collection.id is not None and user.id is not None
    session.add(
        Membership(collection_id=collection.id, user_id=user.id, role=MemberRole.CURATOR.value)
    )
    await session.flush()
    return collection


async def list_visible(*, session: AsyncSession, actor: User | None) -> list[CollectionPublic]:
    """Collections the actor may see, with their document counts."""
    rows = await repository.list_visible(session, actor)
    return [CollectionPublic.of(c, n) for c, n in rows]


async def get_by_slug(*, session: AsyncSession, actor: User | None, slug: str) -> Collection:
    """A collection the actor may see; NotFound otherwise (never 'forbidden', which leaks)."""
    collection = await repository.visible_by_slug(session, actor, slug)
    if collection is None:
        raise NotFound("No such collection.")
    return collection


async def can_curate(*, session: AsyncSession, actor: User | None, collection: Collection) -> bool:
    """Staff curate everything; a member with the curator role curates that collection."""
    if actor is None or not actor.is_active or actor.id is None or collection.id is None:
        return False
    if is_staff(actor):
        return True
    return await repository.member_role(session, collection.id, actor.id) == MemberRole.CURATOR


async def add_member(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    email: str,
    role: str = MemberRole.VIEWER.value,
) -> Membership:
    """Give a user access to a collection (viewer) or let them curate it (curator)."""
    require_staff(actor)
    try:
        member_role = MemberRole(role)
    except ValueError as exc:
        raise InvalidInput(f"Unknown member role {role!r}.") from exc
    collection = await repository.visible_by_id(session, actor, collection_id)
    if collection is None:
        raise NotFound("No such collection.")
    user = await users.by_email(session, email)
    if user is None or user.id is None:
        raise NotFound("No account has that email address.")
    row = await session.get(Membership, (collection_id, user.id))
    if row is None:
        row = Membership(collection_id=collection_id, user_id=user.id)
    row.role = member_role.value
    session.add(row)
    await session.flush()
    return row
