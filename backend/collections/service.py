"""Use cases for collections: create, edit, delete, list, open, members, cover, stats."""

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slugify import slugify
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import journal
from backend.access import scope
from backend.access.roles import require_staff
from backend.analytics.counting import ONCE_PER_HOUR
from backend.browse import service as browse
from backend.collections import repository
from backend.collections.models import Collection, MemberRole, Membership
from backend.collections.schemas import CollectionPublic
from backend.db import sql
from backend.documents import harvest
from backend.documents import service as documents_service
from backend.errors import Conflict, InvalidInput, NotFound
from backend.search import cache as search_cache
from backend.search import indexer
from backend.settings import get_settings
from backend.storage import cleanup
from backend.storage.service import get_store
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
    journal.write(
        session,
        actor=user,
        action=journal.COLLECTION_CREATED,
        label=name,
        collection_id=collection.id,
        changes={"public": [None, is_public]},
    )
    await session.flush()
    return collection


LISTED_COUNTS = "collections:listed-counts"
LISTED_COUNTS_SECONDS = 60


async def list_visible(*, session: AsyncSession, actor: User | None) -> list[CollectionPublic]:
    """Collections the actor may see, with their document counts."""
    counts = await _listed_counts(session)
    return [
        CollectionPublic.of(c, counts.get(c.id or 0, 0))
        for c in await repository.visible(session, actor)
    ]


async def _listed_counts(session: AsyncSession) -> dict[int, int]:
    """Listed documents per collection. Counting reads every row of `documents` (0.4 s at a
    million; bench/load found every home page doing it), so the counts are kept in Redis,
    shared by every process, until the search index next changes (a document listed,
    changed or removed goes to the index: backend.search.cache's generation), a minute at
    most."""
    gen, kept = await search_cache.lookup_text(LISTED_COUNTS)
    if kept is not None:
        return {int(c): n for c, n in json.loads(kept).items()}
    rows = await repository.listed_counts(session)
    if gen is not None:
        await search_cache.put_text(LISTED_COUNTS, gen, json.dumps(rows), LISTED_COUNTS_SECONDS)
    return rows


async def get_public(
    *, session: AsyncSession, actor: User | None, collection_id: int
) -> CollectionPublic:
    """A collection the actor may see, with its listed documents' count; NotFound
    otherwise (the same for a collection that does not exist)."""
    collection = await scope.require_visible_collection(session, actor, collection_id)
    count = (
        await sql(
            session,
            text("SELECT count(*) FROM documents WHERE collection_id = :c AND listed").bindparams(
                c=collection_id
            ),
        )
    ).scalar_one()
    return CollectionPublic.of(collection, int(count))


async def curated_by(*, session: AsyncSession, actor: User | None) -> list[Collection]:
    """The collections the actor may curate (where documents may be moved to)."""
    stmt = (
        select(Collection)
        .where(scope.curated_collection_clause(actor))
        .order_by(col(Collection.name))
    )
    return list((await session.exec(stmt)).all())


async def get_by_slug(*, session: AsyncSession, actor: User | None, slug: str) -> Collection:
    """A collection the actor may see; NotFound otherwise (never 'forbidden', which leaks)."""
    collection = await repository.visible_by_slug(session, actor, slug)
    if collection is None:
        raise NotFound("No such collection.")
    return collection


async def add_member(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    email: str,
    role: str = MemberRole.VIEWER.value,
) -> Membership:
    """Give a user access to a collection (viewer) or let them curate it (curator)."""
    await scope.require_curated(session, actor, collection_id)
    try:
        member_role = MemberRole(role)
    except ValueError as exc:
        raise InvalidInput(f"Unknown member role {role!r}.") from exc
    user = await users.by_email(session, email)
    if user is None or user.id is None:
        raise NotFound("No account has that email address.")
    row = await session.get(Membership, (collection_id, user.id))
    before = row.role if row else None
    if row is None:
        row = Membership(collection_id=collection_id, user_id=user.id)
    elif row.role == MemberRole.CURATOR and member_role != MemberRole.CURATOR:
        await _keep_a_curator(session, collection_id)
    row.role = member_role.value
    session.add(row)
    if before != row.role:
        assert actor is not None
        collection = await session.get(Collection, collection_id)
        journal.write(
            session,
            actor=actor,
            action=journal.MEMBER_ADDED if before is None else journal.MEMBER_CHANGED,
            label=collection.name if collection else "",
            collection_id=collection_id,
            changes={"member": [None, user.email], "role": [before, row.role]},
        )
    await session.flush()
    return row


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("A collection needs a name.")
    if len(name) > 200:
        raise InvalidInput("A collection name must be at most 200 characters long.")
    return name


async def update(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    name: str,
    description: str,
    is_public: bool,
) -> Collection:
    """Rename, describe, or make public or private (at once, everywhere: visibility is
    part of every query). The slug, and so every link, stays."""
    collection = await scope.require_curated(session, actor, collection_id)
    assert actor is not None
    new_name = _clean_name(name)
    renamed = collection.name != new_name
    new_description = description.strip()[:10_000]
    changes: dict[str, Any] = {}
    if renamed:
        changes["name"] = [collection.name, new_name]
    if collection.description != new_description:
        changes["description"] = [_short(collection.description), _short(new_description)]
    if collection.is_public != is_public:
        changes["public"] = [collection.is_public, is_public]
        held = await _document_ids(session, collection_id)
        if is_public:
            await harvest.republish(session, held)
        else:
            await harvest.withdraw(session, held)
    collection.name = new_name
    collection.description = new_description
    collection.is_public = is_public
    session.add(collection)
    if changes:
        journal.write(
            session,
            actor=actor,
            action=journal.COLLECTION_UPDATED,
            label=new_name,
            collection_id=collection_id,
            changes=changes,
        )
    await session.flush()
    if renamed:
        # Search finds documents by their collection's name (collection:…).
        await _reindex_documents(session, collection_id)
    return collection


async def _document_ids(session: AsyncSession, collection_id: int) -> list[int]:
    rows = await sql(
        session,
        text("SELECT id FROM documents WHERE collection_id = :c ORDER BY id").bindparams(
            c=collection_id
        ),
    )
    return list(rows.scalars())


async def _reindex_documents(session: AsyncSession, collection_id: int) -> None:
    await indexer.changed_many(session, await _document_ids(session, collection_id))


async def _keep_a_curator(session: AsyncSession, collection_id: int) -> None:
    """Refuse to take away a collection's last curator."""
    rows = await repository.members(session, collection_id)
    if sum(m.role == MemberRole.CURATOR for m, _ in rows) <= 1:
        raise Conflict("A collection keeps at least one curator; add another one first.")


async def members(
    *, session: AsyncSession, actor: User | None, collection_id: int
) -> list[tuple[Membership, User]]:
    await scope.require_curated(session, actor, collection_id)
    return await repository.members(session, collection_id)


async def remove_member(
    *, session: AsyncSession, actor: User | None, collection_id: int, user_id: int
) -> None:
    collection = await scope.require_curated(session, actor, collection_id)
    assert actor is not None
    row = await session.get(Membership, (collection_id, user_id))
    if row is None:
        raise NotFound("That person is not a member.")
    if row.role == MemberRole.CURATOR:
        await _keep_a_curator(session, collection_id)
    member = await session.get(User, user_id)
    journal.write(
        session,
        actor=actor,
        action=journal.MEMBER_REMOVED,
        label=collection.name,
        collection_id=collection_id,
        changes={"member": [member.email if member else user_id, None], "role": [row.role, None]},
    )
    await session.delete(row)
    await session.flush()


async def delete(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    documents: str = "",
    move_to: int | None = None,
) -> int:
    """Delete a collection. If it still holds documents, the caller must say what becomes
    of them: "move" them to another collection the actor curates, or "delete" them (their
    files too). Nothing is deleted by accident. Returns how many documents were moved or
    deleted."""
    collection = await scope.require_curated(session, actor, collection_id)
    assert actor is not None
    held = await _document_ids(session, collection_id)
    if held and documents not in ("move", "delete"):
        raise Conflict(
            f"{collection.name} still holds {len(held)} documents: move them to another "
            "collection or delete them with it."
        )
    if held and documents == "move":
        if move_to is None or move_to == collection_id:
            raise InvalidInput("Choose the collection the documents go to.")
        target = await scope.require_curated(session, actor, move_to)
        await harvest.withdraw(session, held)
        await sql(
            session,
            text("UPDATE documents SET collection_id = :to WHERE collection_id = :c").bindparams(
                to=move_to, c=collection_id
            ),
        )
        if target.is_public:
            await harvest.republish(session, held)
        await browse.refresh(session, held)
        await indexer.changed_many(session, held)
    elif held:
        await documents_service.delete_documents(session, held)
    journal.write(
        session,
        actor=actor,
        action=journal.COLLECTION_DELETED,
        label=collection.name,
        collection_id=collection_id,
        changes={
            "collection": [collection.name, None],
            "documents": [len(held), documents or None],
            **({"moved_to": [None, move_to]} if documents == "move" else {}),
        },
    )
    await session.delete(collection)
    await session.flush()
    await cleanup.delete_later(session=session, keys=[collection.cover_key])
    return len(held)


@dataclass(frozen=True)
class CollectionStats:
    held: int  # every document, processed or not
    documents: int
    pages: int
    total_bytes: int
    views: int
    downloads: int
    last_added: datetime | None


async def stats(
    *, session: AsyncSession, actor: User | None, collection_id: int
) -> CollectionStats:
    """What a collection holds and how it is used: listed documents, their pages, the
    bytes of every version kept, document views and downloads (once per person per hour,
    as stored by the last flush), the last addition. What is not ready yet (and its
    bytes) counts for its curators only."""
    collection = await scope.require_visible_collection(session, actor, collection_id)
    everything = await scope.can_curate(session, actor, collection)
    row = (
        await sql(
            session,
            text(
                f"""
                SELECT
                  (SELECT count(*) FROM documents
                   WHERE collection_id = :c AND (listed OR :all)) AS held,
                  (SELECT count(*) FROM documents WHERE collection_id = :c AND listed) AS docs,
                  (SELECT coalesce(sum(v.page_count), 0) FROM documents d
                   JOIN document_versions v ON v.id = d.current_version_id
                   WHERE d.collection_id = :c AND d.listed) AS pages,
                  (SELECT coalesce(sum(v.size), 0) FROM documents d
                   JOIN document_versions v ON v.document_id = d.id
                   WHERE d.collection_id = :c AND (d.listed AND v.status = 'ready' OR :all))
                  AS bytes,
                  (SELECT max(created_at) FROM documents
                   WHERE collection_id = :c AND listed) AS last_added,
                  (SELECT {ONCE_PER_HOUR}
                   FROM documents d JOIN analytics_events e ON e.document_id = d.id
                   WHERE d.collection_id = :c AND e.kind = 'document_view') AS views,
                  (SELECT {ONCE_PER_HOUR} FROM documents d
                   JOIN analytics_events e ON e.document_id = d.id
                   WHERE d.collection_id = :c AND e.kind = 'download') AS downloads
                """
            ).bindparams(c=collection_id, all=everything),
        )
    ).one()
    return CollectionStats(
        held=int(row.held),
        documents=int(row.docs),
        pages=int(row.pages),
        total_bytes=int(row.bytes),
        views=int(row.views),
        downloads=int(row.downloads),
        last_added=row.last_added,
    )


COVER_SIZE = (960, 540)
MAX_COVER_BYTES = 15 * 1024 * 1024


def _cover_webp(data: bytes, max_pixels: int) -> bytes:
    import io

    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP", "GIF"]) as img:
            if img.width * img.height > max_pixels:
                raise InvalidInput("That image has too many pixels for a cover.")
            img.seek(0)
            picture = ImageOps.exif_transpose(
                img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
            )
            picture.thumbnail(COVER_SIZE)
            out = io.BytesIO()
            picture.save(out, "WEBP", quality=82)
            return out.getvalue()
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        raise InvalidInput("A cover must be a JPEG, PNG, WebP or GIF image.") from exc


async def set_cover(
    *, session: AsyncSession, actor: User | None, collection_id: int, data: bytes
) -> Collection:
    """Make an uploaded image the collection's cover (as WebP, at most 960x540)."""

    collection = await scope.require_curated(session, actor, collection_id)
    if not data:
        raise InvalidInput("The image is empty.")
    if len(data) > MAX_COVER_BYTES:
        raise InvalidInput("A cover image must be at most 15 MB.")
    webp = await asyncio.to_thread(_cover_webp, data, get_settings().max_image_pixels)
    key = f"covers/{collection_id}/{uuid.uuid4().hex}.webp"
    writer = get_store().writer(key)
    try:
        await writer.write(webp)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    old = collection.cover_key
    collection.cover_key = key
    session.add(collection)
    assert actor is not None
    journal.write(
        session,
        actor=actor,
        action=journal.COVER_SET,
        label=collection.name,
        collection_id=collection_id,
    )
    await session.flush()
    await cleanup.delete_later(session=session, keys=[old])
    return collection


async def open_cover(
    *, session: AsyncSession, actor: User | None, collection_id: int
) -> tuple[str, bool]:
    """The cover's object key, if the actor may see the collection, and whether it is
    public (else it must not be cached)."""
    collection = await scope.visible_collection(session, actor, collection_id)
    if collection is None or not collection.cover_key:
        raise NotFound("This collection has no cover.")
    return collection.cover_key, collection.is_public


def _short(text_: str) -> str:
    """A description, as the audit log keeps it (its start)."""
    return text_ if len(text_) <= 120 else text_[:119] + "…"
