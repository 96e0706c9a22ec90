"""Browse classifiers, in the spirit of Greenstone's: titles A–Z, authors by surname, a
subject tree, dates by decade and year, document type and language, for the whole library
or one collection.

Every listed document has one row per classifier key in `browse_entries` (its subjects'
ancestors included, so a subtree lists each document once), and a trigger keeps
`browse_counts` per collection and key. A page of keys or of documents is a range scan
of an index from a keyset position (never OFFSET), and visibility is a condition of the
same statement: a private collection's documents are neither listed nor counted.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import labels
from backend.access import scope as access
from backend.access.roles import is_staff
from backend.db import sql
from backend.errors import InvalidInput, NotFound
from backend.users.models import User

CLASSIFIERS = ("title", "author", "subject", "decade", "year", "type", "language")
PAGE_KEYS = 100
PAGE_DOCUMENTS = 50
MAX_PAGE = 500

# The entries of the given documents, made anew from their records. Subjects bring their
# ancestors (a document under "Physics -- Optics" is also under "Physics").
ENTRIES_SQL = """
INSERT INTO browse_entries (facet, key, document_id, label, sort_key, collection_id)
SELECT facet, key, id, label, title_sort || ' ', collection_id FROM (
    SELECT 'title' AS facet,
           CASE WHEN left(title_sort, 1) ~ '[0-9]' THEN '0-9'
                WHEN left(title_sort, 1) ~ '[[:alpha:]]' THEN upper(left(title_sort, 1))
                ELSE '#' END AS key,
           '' AS label, d.id, d.title_sort, d.collection_id
    FROM documents d WHERE d.id = ANY(:ids) AND d.listed
  UNION ALL
    SELECT 'year', to_char(d.year + 10000, 'FM00000'),
           CASE WHEN d.year < 0 THEN -d.year || ' BC' ELSE d.year::text END,
           d.id, d.title_sort, d.collection_id
    FROM documents d WHERE d.id = ANY(:ids) AND d.listed AND d.year IS NOT NULL
  UNION ALL
    SELECT 'decade', to_char(floor(d.year / 10.0) * 10 + 10000, 'FM00000'),
           CASE WHEN d.year < 0 THEN -(floor(d.year / 10.0) * 10)::int || 's BC'
                ELSE (d.year / 10 * 10)::text || 's' END,
           d.id, d.title_sort, d.collection_id
    FROM documents d WHERE d.id = ANY(:ids) AND d.listed AND d.year IS NOT NULL
  UNION ALL
    SELECT 'type', d.kind, d.kind, d.id, d.title_sort, d.collection_id
    FROM documents d WHERE d.id = ANY(:ids) AND d.listed AND d.kind <> ''
  UNION ALL
    SELECT 'language', d.language, d.language, d.id, d.title_sort, d.collection_id
    FROM documents d WHERE d.id = ANY(:ids) AND d.listed AND d.language <> ''
  UNION ALL
    SELECT 'author', p.sort_key, p.sort_name, d.id, d.title_sort, d.collection_id
    FROM documents d JOIN document_people p ON p.document_id = d.id AND p.role = 'creator'
    WHERE d.id = ANY(:ids) AND d.listed
  UNION ALL
    SELECT DISTINCT 'subject', a.id::text, a.name, d.id, d.title_sort, d.collection_id
    FROM documents d
    JOIN document_subjects ds ON ds.document_id = d.id
    JOIN subjects s ON s.id = ds.subject_id
    JOIN subjects a ON a.id = ANY(string_to_array(trim(both '/' from s.path), '/')::int[])
    WHERE d.id = ANY(:ids) AND d.listed
) e
ORDER BY facet, key, id
ON CONFLICT DO NOTHING
"""


async def refresh(session: AsyncSession, document_ids: list[int]) -> None:
    """Make the documents' browse entries match their records (in the caller's
    transaction); a document that is not listed (or is gone) has none."""
    if not document_ids:
        return
    ids = sorted(set(document_ids))
    await sql(
        session,
        text("DELETE FROM browse_entries WHERE document_id = ANY(:ids)").bindparams(ids=ids),
    )
    await sql(session, text(ENTRIES_SQL).bindparams(ids=ids))


def year_key(year: int) -> str:
    """The key of a year (and of a decade, its first year): numbers offset to sort as
    text, years before the common era first."""
    return f"{year + 10_000:05d}"


def decade_years(decade_key: str) -> tuple[str, str]:
    """The first and last year keys of a decade."""
    start = int(decade_key)
    return f"{start:05d}", f"{start + 9:05d}"


def decade_of(year_key_: str) -> str:
    return f"{int(year_key_) // 10 * 10:05d}"


@dataclass(frozen=True)
class Key:
    key: str
    label: str
    count: int


@dataclass
class KeyPage:
    classifier: str
    keys: list[Key] = field(default_factory=list)
    # Keyset positions: the page after this one starts after `next_after`; the one before
    # ends before `prev_before`. None: there is no such page.
    next_after: str | None = None
    prev_before: str | None = None


@dataclass(frozen=True)
class Listed:
    id: int
    title: str
    year: int | None
    kind: str
    collection_id: int
    sort_key: str
    authors: str = ""


@dataclass
class DocumentPage:
    documents: list[Listed] = field(default_factory=list)
    next_after: str | None = None  # "sort key\x1fid"
    prev_before: str | None = None


async def scope(
    session: AsyncSession, actor: User | None, collection_id: int | None
) -> list[int] | None:
    """The collections whose documents the actor may browse here; None: all of them."""
    if collection_id is not None:
        if await access.visible_collection(session, actor, collection_id) is None:
            raise NotFound("No such collection.")
        return [collection_id]
    if is_staff(actor):
        return None
    return await access.visible_ids(session, actor)


def _check(classifier: str, limit: int) -> None:
    if classifier not in CLASSIFIERS:
        raise InvalidInput(f"Unknown classifier {classifier!r}.")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"A page holds 1 to {MAX_PAGE} entries.")


async def keys(
    *,
    session: AsyncSession,
    actor: User | None,
    classifier: str,
    collection_id: int | None = None,
    after: str | None = None,
    before: str | None = None,
    low: str | None = None,
    high: str | None = None,
    limit: int = PAGE_KEYS,
) -> KeyPage:
    """One page of a classifier's keys with their counts, in key order, from a keyset
    position (`after` a key, or `before` one for the page before); `low`..`high` narrows
    the keys (the years of a decade: `decade_years`)."""
    _check(classifier, limit)
    ids = await scope(session, actor, collection_id)
    where = ["facet = :facet"]
    params: dict[str, object] = {"facet": classifier, "limit": limit + 1}
    if ids is not None:
        where.append("collection_id = ANY(:ids)")
        params["ids"] = ids
    if low is not None:
        where.append("key >= :low")
        params["low"] = low
    if high is not None:
        where.append("key <= :high")
        params["high"] = high
    backwards = before is not None and after is None
    if after is not None:
        where.append("key > :after")
        params["after"] = after
    elif before is not None:
        where.append("key < :before")
        params["before"] = before
    order = "DESC" if backwards else "ASC"
    rows = (
        await sql(
            session,
            text(
                f"SELECT key, max(label) AS label, sum(n) AS n FROM browse_counts "
                f"WHERE {' AND '.join(where)} GROUP BY key HAVING sum(n) > 0 "
                f"ORDER BY key {order} LIMIT :limit"
            ).bindparams(**params),
        )
    ).all()
    rows, more = _trim(rows, limit, backwards)
    page = KeyPage(
        classifier, [Key(r.key, labels.facet(classifier, r.label or r.key), int(r.n)) for r in rows]
    )
    if page.keys:
        page.next_after, page.prev_before = _ends(
            page.keys[0].key, page.keys[-1].key, more, backwards, after is not None
        )
    return page


def _trim(rows: Sequence[Any], limit: int, backwards: bool) -> tuple[list[Any], bool]:
    """A page of rows read with one extra (is there more that way?), in list order."""
    page = list(rows[:limit])
    return (page[::-1] if backwards else page), len(rows) > limit


def _mark(sort_key: str, document_id: int) -> str:
    """A keyset position in a list ordered by (sort key, id), as links carry it."""
    return f"{sort_key}\x1f{document_id}"


def _ends(
    first: str, last: str, more: bool, backwards: bool, came_forward: bool
) -> tuple[str | None, str | None]:
    """(next_after, prev_before) of a page: `more` says a row beyond the page was found in
    the direction read; a page read backwards always has pages after it."""
    if backwards:
        return last, first if more else None
    return (last if more else None), (first if came_forward else None)


def _position(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    sort_key, _, doc_id = value.rpartition("\x1f")
    if not doc_id.isdigit():
        raise InvalidInput("Not a position in this list.")
    return sort_key, int(doc_id)


async def documents(
    *,
    session: AsyncSession,
    actor: User | None,
    classifier: str,
    key: str | None,
    collection_id: int | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = PAGE_DOCUMENTS,
) -> DocumentPage:
    """One page of the documents under a key, by title (for "title", `key` None walks
    the whole library from A to Z), from a keyset position."""
    _check(classifier, limit)
    if key is None and classifier != "title":
        raise InvalidInput("Choose an entry of this classifier first.")
    ids = await scope(session, actor, collection_id)
    # The classifier is one of CLASSIFIERS: written into the statement, so the planner
    # sees that the titles' partial index applies.
    where = [f"e.facet = '{classifier}'"]
    params: dict[str, object] = {"limit": limit + 1}
    if key is not None:
        where.append("e.key = :key")
        params["key"] = key
    if ids is not None:
        where.append("e.collection_id = ANY(:ids)")
        params["ids"] = ids
    pos_after, pos_before = _position(after), _position(before)
    backwards = pos_before is not None and pos_after is None
    position = pos_after or pos_before
    if position is not None:
        # All titles from A to Z is one walk by sort key (its own partial index).
        where.append(f"(e.sort_key, e.document_id) {'<' if backwards else '>'} (:sk, :sid)")
        params["sk"], params["sid"] = position
    direction = "DESC" if backwards else "ASC"
    rows = (
        await sql(
            session,
            text(
                f"""
                SELECT e.document_id AS id, e.sort_key, d.title, d.year, d.kind, d.collection_id,
                       (SELECT string_agg(p.sort_name, '; ' ORDER BY p.position)
                        FROM document_people p
                        WHERE p.document_id = d.id AND p.role = 'creator') AS authors
                FROM browse_entries e JOIN documents d ON d.id = e.document_id
                WHERE {" AND ".join(where)}
                ORDER BY e.sort_key {direction}, e.document_id {direction} LIMIT :limit
                """
            ).bindparams(**params),
        )
    ).all()
    rows, more = _trim(rows, limit, backwards)
    page = DocumentPage(
        [
            Listed(
                id=r.id,
                title=r.title,
                year=r.year,
                kind=r.kind,
                collection_id=r.collection_id,
                sort_key=r.sort_key,
                authors=r.authors or "",
            )
            for r in rows
        ]
    )
    if page.documents:
        first, last = page.documents[0], page.documents[-1]
        page.next_after, page.prev_before = _ends(
            _mark(first.sort_key, first.id),
            _mark(last.sort_key, last.id),
            more,
            backwards,
            pos_after is not None,
        )
    return page


@dataclass(frozen=True)
class SubjectNode:
    id: int
    name: str
    count: int
    has_children: bool


async def subject_children(
    *,
    session: AsyncSession,
    actor: User | None,
    parent_id: int | None,
    collection_id: int | None = None,
    after: str | None = None,
    limit: int = PAGE_KEYS,
) -> tuple[list[SubjectNode], str | None]:
    """The subjects under `parent_id` (the top of the tree for None) that have documents
    the actor may see, with their counts (a document counts once under each ancestor);
    and the keyset position of the next page."""
    _check("subject", limit)
    ids = await scope(session, actor, collection_id)
    pos = _position(after)
    rows = (
        await sql(
            session,
            text(
                f"""
                SELECT s.id, s.name, s.sort_key, sum(c.n) AS n,
                       EXISTS (SELECT 1 FROM subjects k WHERE k.parent_id = s.id) AS has_children
                FROM subjects s
                JOIN browse_counts c ON c.facet = 'subject' AND c.key = s.id::text
                WHERE s.parent_id IS NOT DISTINCT FROM :parent
                  {"AND c.collection_id = ANY(:ids)" if ids is not None else ""}
                  {"AND (s.sort_key, s.id) > (:sk, :sid)" if pos else ""}
                GROUP BY s.id
                HAVING sum(c.n) > 0
                ORDER BY s.sort_key, s.id
                LIMIT :limit
                """
            ).bindparams(
                parent=parent_id,
                limit=limit + 1,
                **({"ids": ids} if ids is not None else {}),
                **({"sk": pos[0], "sid": pos[1]} if pos else {}),
            ),
        )
    ).all()
    nodes = [SubjectNode(r.id, r.name, int(r.n), bool(r.has_children)) for r in rows[:limit]]
    following = None
    if len(rows) > limit:
        last = rows[limit - 1]
        following = _mark(last.sort_key, last.id)
    return nodes, following


async def subject_trail(session: AsyncSession, subject_id: int) -> list[tuple[int, str]]:
    """The subject and its ancestors from the top, for breadcrumbs."""
    row = (
        await sql(
            session, text("SELECT path FROM subjects WHERE id = :id").bindparams(id=subject_id)
        )
    ).first()
    if row is None:
        raise NotFound("No such subject.")
    ids = [int(x) for x in row.path.strip("/").split("/") if x]
    names = dict(
        (
            await sql(
                session,
                text("SELECT id, name FROM subjects WHERE id = ANY(:ids)").bindparams(ids=ids),
            )
        ).all()
    )
    return [(i, names[i]) for i in ids if i in names]
