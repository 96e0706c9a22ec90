"""What harvesters see (OAI-PMH, backend.api.oai): the documents anyone may see (ready,
in a public collection) in the order they changed, and those withdrawn since.

A record's datestamp is its document's `updated_at`, moved whenever what a harvester
sees of it changes: its record edited or taken from a new version, its collection made
public, the document moved. A document that was visible and is deleted or hidden (its
collection made private) leaves a tombstone (`oai_deletions`), dated when it went; it
goes when the document is public again. Lists are pages in (datestamp, id) order after
a position, so a harvest of millions costs the same per page from start to end."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.collections.models import Collection
from backend.db import sql
from backend.documents.models import Document


@dataclass(frozen=True)
class Entry:
    document_id: int
    datestamp: datetime
    set_spec: str  # the collection's slug
    deleted: bool


async def withdraw(session: AsyncSession, document_ids: Sequence[int]) -> None:
    """Tombstones for those of these documents a harvester could see, before they are
    deleted or hidden."""
    if not document_ids:
        return
    await sql(
        session,
        text(
            "INSERT INTO oai_deletions (document_id, collection_slug, deleted_at) "
            "SELECT d.id, c.slug, now() FROM documents d "
            "JOIN collections c ON c.id = d.collection_id "
            "WHERE d.id = ANY(:ids) AND d.listed AND c.is_public "
            "ON CONFLICT (document_id) DO UPDATE "
            "SET collection_slug = excluded.collection_slug, deleted_at = excluded.deleted_at"
        ).bindparams(ids=list(document_ids)),
    )


async def republish(session: AsyncSession, document_ids: Sequence[int]) -> None:
    """These documents may be seen again, or anew, or elsewhere: their datestamp moves
    (harvesting since a date finds them) and their tombstones go."""
    if not document_ids:
        return
    ids = list(document_ids)
    await sql(
        session, text("DELETE FROM oai_deletions WHERE document_id = ANY(:ids)").bindparams(ids=ids)
    )
    await sql(
        session,
        text("UPDATE documents SET updated_at = now() WHERE id = ANY(:ids)").bindparams(ids=ids),
    )


_ENTRIES = """
    SELECT id, at, slug, deleted FROM (
      SELECT d.id, d.updated_at AS at, c.slug, false AS deleted
      FROM documents d JOIN collections c ON c.id = d.collection_id
      WHERE d.listed AND c.is_public
      UNION ALL
      SELECT t.document_id, t.deleted_at, t.collection_slug, true FROM oai_deletions t
    ) r
    WHERE (CAST(:set AS text) IS NULL OR slug = :set)
      AND (CAST(:since AS timestamptz) IS NULL OR at >= :since)
      AND (CAST(:before AS timestamptz) IS NULL OR at < :before)
      AND (CAST(:after_at AS timestamptz) IS NULL OR (at, id) > (:after_at, :after_id))
    ORDER BY at, id
    LIMIT :n
"""


async def entries(
    session: AsyncSession,
    *,
    set_spec: str | None,
    since: datetime | None,
    before: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Entry]:
    """Up to `limit` records and tombstones changed in [since, before), in the set if
    given, after the position `after` (the last one's datestamp and id)."""
    rows = await sql(
        session,
        text(_ENTRIES).bindparams(
            set=set_spec,
            since=since,
            before=before,
            after_at=after[0] if after else None,
            after_id=after[1] if after else 0,
            n=limit,
        ),
    )
    return [Entry(r.id, r.at, r.slug, r.deleted) for r in rows]


async def entry(session: AsyncSession, document_id: int) -> Entry | None:
    rows = (
        await sql(
            session,
            text(
                "SELECT d.id, d.updated_at AS at, c.slug, false AS deleted FROM documents d "
                "JOIN collections c ON c.id = d.collection_id "
                "WHERE d.id = :id AND d.listed AND c.is_public "
                "UNION ALL SELECT document_id, deleted_at, collection_slug, true "
                "FROM oai_deletions WHERE document_id = :id"
            ).bindparams(id=document_id),
        )
    ).first()
    return Entry(rows.id, rows.at, rows.slug, rows.deleted) if rows is not None else None


async def documents(
    session: AsyncSession, document_ids: Sequence[int]
) -> dict[int, tuple[Document, Collection]]:
    """The visible documents among these, with their collections."""
    stmt = (
        select(Document, Collection)
        .join(Collection, col(Collection.id) == Document.collection_id)
        .where(col(Document.id).in_(list(document_ids)))
        .where(col(Document.listed), col(Collection.is_public))
    )
    return {d.id: (d, c) for d, c in (await session.exec(stmt)).all() if d.id is not None}


async def earliest(session: AsyncSession) -> datetime | None:
    """The datestamp of the oldest record or tombstone, if there is any."""
    first = await entries(session, set_spec=None, since=None, before=None, after=None, limit=1)
    return first[0].datestamp if first else None


async def sets(session: AsyncSession) -> list[Collection]:
    """The public collections, by name."""
    stmt = select(Collection).where(col(Collection.is_public)).order_by(col(Collection.name))
    return list((await session.exec(stmt)).all())
