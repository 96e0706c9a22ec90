"""The PostgreSQL engine's copy of the library: documents with their tsvector (title A,
authors and subjects B, description C, text D), their pages for snippets, the words for
did-you-mean, and what BM25 needs (backend/search/postgres_bm25.py): each document's
tsvector unnested into postings (lexeme, document, how many times in each field class),
its length per field class, the document frequency of each lexeme and the totals, all
kept up to date as documents come and go.
"""

from collections import Counter

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db import get_engine, session_scope, sql
from backend.search.engine import SNOWBALL_LANGUAGES, IndexDoc, fold, sort_title
from backend.search.postgres_bm25 import FIELDS
from backend.search.postgres_query import NO_TAGS, WORD

CONFIGS = SNOWBALL_LANGUAGES  # PostgreSQL's text search configurations of those names
MAX_BODY_CHARS = 1_000_000  # tsvector holds at most 1 MB
SPELL_CHARS = 20_000  # of each body, for did-you-mean


async def apply(upserts: list[IndexDoc], deletes: list[int]) -> None:
    """Add or replace `upserts` and remove `deletes`, with their postings and counts."""
    async with session_scope() as session:
        await apply_in(session, upserts, deletes)
        large = await _grown(session)
        await session.commit()
    if large:
        await _tidy()


async def apply_in(session: AsyncSession, upserts: list[IndexDoc], deletes: list[int]) -> None:
    """`apply` inside the caller's transaction (which commits it)."""
    ids = sorted({*deletes, *(d.document_id for d in upserts)})
    await _forget_words(session, ids)
    await _forget_postings(session, ids)
    await sql(
        session,
        text("DELETE FROM search_pg_documents WHERE document_id = ANY(:ids)").bindparams(ids=ids),
    )
    words: Counter[str] = Counter()
    for d in upserts:
        words.update(await _insert(session, d))
    await _count_words(session, words, 1)
    await _count_postings(session, sorted(d.document_id for d in upserts))


async def _forget_words(session: AsyncSession, ids: list[int]) -> None:
    rows = await sql(
        session,
        text(
            "SELECT d.title, d.authors, d.subjects, coalesce(left(string_agg(p.text, ' ' "
            "ORDER BY p.page_no), :n), '') FROM search_pg_documents d "
            "LEFT JOIN search_pg_pages p ON p.document_id = d.document_id "
            "WHERE d.document_id = ANY(:ids) GROUP BY d.document_id"
        ).bindparams(ids=ids, n=SPELL_CHARS),
    )
    words: Counter[str] = Counter()
    for title, authors, subjects, body in rows.all():
        words.update(_words(title, authors, subjects, body))
    await _count_words(session, words, -1)


async def _count_words(session: AsyncSession, words: Counter[str], sign: int) -> None:
    """Add (or take away) documents to the did-you-mean words' counts, in one statement."""
    if not words:
        return
    listed = sorted(words)
    counts = [sign * words[w] for w in listed]
    if sign > 0:
        await sql(
            session,
            text(
                "INSERT INTO search_pg_words (word, ndoc) "
                "SELECT * FROM unnest(CAST(:w AS text[]), CAST(:n AS int[])) "
                "ON CONFLICT (word) DO UPDATE SET ndoc = search_pg_words.ndoc + EXCLUDED.ndoc"
            ).bindparams(w=listed, n=counts),
        )
        return
    await sql(
        session,
        text(
            "UPDATE search_pg_words s SET ndoc = s.ndoc + c.n "
            "FROM unnest(CAST(:w AS text[]), CAST(:n AS int[])) AS c(word, n) "
            "WHERE s.word = c.word"
        ).bindparams(w=listed, n=counts),
    )
    await sql(
        session,
        text("DELETE FROM search_pg_words WHERE word = ANY(:w) AND ndoc <= 0").bindparams(w=listed),
    )


async def _insert(session: AsyncSession, d: IndexDoc) -> set[str]:
    """Insert the document and its pages; returns its words for did-you-mean."""
    body = "\n\n".join(d.pages)[:MAX_BODY_CHARS]
    added = int(d.added.timestamp()) if d.added else 0
    year = d.year if d.year is not None else (d.added.year if d.added else 0)
    cfg = _config(d.language)
    people = " ".join([*d.authors, *d.subjects])
    await sql(
        session,
        text(
            f"""
            INSERT INTO search_pg_documents (document_id, collection_id, collection, title,
                title_sort, authors, subjects, year, type, language, date_key, config, tsv)
            VALUES (:id, :cid, :collection, :title, :sort, :authors, :subjects, :year,
                :type, :language, :date_key, :cfg,
                setweight(to_tsvector(CAST(:cfg AS regconfig),
                    unaccent({NO_TAGS.format(":title")})), 'A') ||
                setweight(to_tsvector('simple', unaccent({NO_TAGS.format(":people")})), 'B') ||
                setweight(to_tsvector(CAST(:cfg AS regconfig),
                    unaccent({NO_TAGS.format(":description")})), 'C') ||
                setweight(to_tsvector(CAST(:cfg AS regconfig),
                    unaccent({NO_TAGS.format(":body")})), 'D'))
            """
        ).bindparams(
            id=d.document_id,
            cid=d.collection_id,
            collection=d.collection,
            title=d.title,
            sort=sort_title(d.title),
            authors=d.authors,
            subjects=d.subjects,
            year=d.year,
            type=d.type or "other",
            language=d.language or "",
            date_key=year * 10_000_000_000 + added % 10_000_000_000,
            cfg=cfg,
            people=people,
            description=d.description,
            body=body,
        ),
    )
    if d.pages:
        await sql(
            session,
            text(
                "INSERT INTO search_pg_pages (document_id, page_no, text) "
                "SELECT :d, n, t FROM unnest(CAST(:t AS text[])) WITH ORDINALITY AS p(t, n)"
            ).bindparams(d=d.document_id, t=d.pages),
        )
    return _words(d.title, d.authors, d.subjects, body[:SPELL_CHARS])


class Rebuild:
    """Every table emptied and filled again in one transaction: searches meanwhile read
    the rows as they were before it (PostgreSQL's snapshots), and see the new ones all at
    once when it commits. Rows are deleted, not truncated: TRUNCATE would lock searches
    out until the commit."""

    def __init__(self) -> None:
        self._scope = session_scope()
        self.session: AsyncSession | None = None

    async def start(self) -> "Rebuild":
        self.session = await self._scope.__aenter__()
        for table in TABLES:
            await sql(self.session, text(f"DELETE FROM {table}"))
        return self

    async def apply(self, upserts: list[IndexDoc]) -> None:
        assert self.session is not None
        await apply_in(self.session, upserts, [])

    async def switch(self) -> None:
        assert self.session is not None
        await self.session.commit()
        await self._scope.__aexit__(None, None, None)
        await _tidy()

    async def abort(self) -> None:
        if self.session is not None:
            await self.session.rollback()
            await self._scope.__aexit__(None, None, None)


TABLES = (
    "search_pg_pages",
    "search_pg_postings",
    "search_pg_documents",
    "search_pg_words",
    "search_pg_lexemes",
    "search_pg_stats",
)


async def clear() -> None:
    """Remove every document and everything counted of them."""
    async with session_scope() as session:
        await sql(
            session,
            text(
                "TRUNCATE search_pg_pages, search_pg_postings, search_pg_documents, "
                "search_pg_words, search_pg_lexemes, search_pg_stats"
            ),
        )
        await session.commit()


async def count() -> int:
    """How many documents the engine holds."""
    async with session_scope() as session:
        return int((await sql(session, text("SELECT count(*) FROM search_pg_documents"))).one()[0])


async def _forget_postings(session: AsyncSession, ids: list[int]) -> None:
    """Take documents out of the frequencies and totals, and drop their postings."""
    if not ids:
        return
    params = {"ids": ids}
    emptied = await sql(
        session,
        text(
            """
            WITH c AS (SELECT lexeme, count(*) AS n FROM search_pg_postings
                       WHERE document_id = ANY(:ids) GROUP BY lexeme),
                 u AS (UPDATE search_pg_lexemes l SET ndoc = l.ndoc - c.n FROM c
                       WHERE l.lexeme = c.lexeme RETURNING l.lexeme, l.ndoc)
            SELECT lexeme FROM u WHERE ndoc <= 0
            """
        ).bindparams(**params),
    )
    gone = [w for (w,) in emptied.all()]
    if gone:
        await sql(
            session,
            text("DELETE FROM search_pg_lexemes WHERE lexeme = ANY(:w)").bindparams(w=gone),
        )
    await _add_totals(session, ids, -1)
    await sql(
        session,
        text("DELETE FROM search_pg_postings WHERE document_id = ANY(:ids)").bindparams(**params),
    )


async def _count_postings(session: AsyncSession, ids: list[int]) -> None:
    """Postings, lengths, frequencies and totals for documents just inserted."""
    if not ids:
        return
    params = {"ids": ids}
    await sql(
        session,
        text(
            """
            INSERT INTO search_pg_postings
                (lexeme, document_id, title_tf, people_tf, description_tf, body_tf)
            SELECT u.lexeme, d.document_id,
                   cardinality(array_positions(u.weights, 'A')),
                   cardinality(array_positions(u.weights, 'B')),
                   cardinality(array_positions(u.weights, 'C')),
                   cardinality(array_positions(u.weights, 'D'))
            FROM search_pg_documents d CROSS JOIN LATERAL unnest(d.tsv) u
            WHERE d.document_id = ANY(:ids)
            """
        ).bindparams(**params),
    )
    await sql(
        session,
        text(
            """
            UPDATE search_pg_documents d
            SET title_len = s.a, people_len = s.b, description_len = s.c, body_len = s.d
            FROM (SELECT document_id, sum(title_tf) a, sum(people_tf) b,
                         sum(description_tf) c, sum(body_tf) d
                  FROM search_pg_postings WHERE document_id = ANY(:ids)
                  GROUP BY document_id) s
            WHERE d.document_id = s.document_id
            """
        ).bindparams(**params),
    )
    await sql(
        session,
        text(
            """
            INSERT INTO search_pg_lexemes (lexeme, ndoc)
            SELECT lexeme, count(*) FROM search_pg_postings
            WHERE document_id = ANY(:ids) GROUP BY lexeme ORDER BY lexeme
            ON CONFLICT (lexeme) DO UPDATE SET ndoc = search_pg_lexemes.ndoc + EXCLUDED.ndoc
            """
        ).bindparams(**params),
    )
    await _add_totals(session, ids, 1)


async def _grown(session: AsyncSession) -> bool:
    """Whether the engine's tables have grown or shrunk by a fifth since the planner last
    had statistics of them (a first fill above all)."""
    row = (
        await sql(
            session,
            text(
                "SELECT c.reltuples, s.ndoc FROM pg_class c "
                "LEFT JOIN search_pg_stats s ON s.id = 1 "
                "WHERE c.oid = CAST('search_pg_documents' AS regclass)"
            ),
        )
    ).one()
    known, documents = max(float(row[0]), 0.0), int(row[1] or 0)
    return abs(documents - known) > known * 0.2 + 100


async def _tidy() -> None:
    """VACUUM (ANALYZE) the engine's tables after a large change: without statistics the
    planner takes every set of documents for one row (and a nested loop over thousands
    is slow); until a vacuum marks the new pages all-visible, reading postings from the
    index alone still visits the table. Autovacuum would do the same, up to a minute
    later. Outside any transaction, as VACUUM must be."""
    async with get_engine().connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("search_pg_documents", "search_pg_postings", "search_pg_lexemes"):
            await conn.execute(text(f"VACUUM (ANALYZE) {table}"))


async def _add_totals(session: AsyncSession, ids: list[int], sign: int) -> None:
    lengths = ", ".join(f"{sign} * coalesce(sum({f}_len), 0)" for f in FIELDS)
    columns = ", ".join(f"{f}_len" for f in FIELDS)
    updates = ", ".join(f"{f}_len = s.{f}_len + EXCLUDED.{f}_len" for f in FIELDS)
    await sql(
        session,
        text(
            f"""
            INSERT INTO search_pg_stats AS s (id, ndoc, {columns})
            SELECT 1, {sign} * count(*), {lengths}
            FROM search_pg_documents WHERE document_id = ANY(:ids)
            ON CONFLICT (id) DO UPDATE SET ndoc = s.ndoc + EXCLUDED.ndoc, {updates}
            """
        ).bindparams(ids=ids),
    )


def _config(language: str) -> str:
    return CONFIGS.get((language or "").lower(), "simple")


def _words(title: str, authors: list[str], subjects: list[str], body: str) -> set[str]:
    text_ = fold(" ".join([title, *authors, *subjects, body]))
    return {w for w in WORD.findall(text_) if 1 < len(w) <= 40}
