"""PostgreSQL full-text search, for deployments on several machines that run no search
server. The same contract as tantivy: documents ranked by BM25 from the engine's own
tables (backend/search/postgres_bm25.py) with the shared parameters of
backend/search/ranking.py, snippets made only for the page shown, facets in one pass.

Its own tables (search_pg_*) are fed by the indexer from the outbox like any engine.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db import session_scope, sql
from backend.search import postgres_bm25 as bm25
from backend.search import ranking
from backend.search.engine import (
    FACETS,
    SNOWBALL_LANGUAGES,
    Completions,
    EngineHit,
    EngineQuery,
    EngineResult,
    IndexDoc,
    fold,
    sort_title,
    starts_a_word,
)
from backend.search.postgres_query import NO_TAGS, WORD, Binds, Compiler, bind_sql
from backend.search.query import render, replace_terms
from backend.search.schemas import Segment

CONFIGS = SNOWBALL_LANGUAGES  # PostgreSQL's text search configurations of those names
MAX_BODY_CHARS = 1_000_000  # tsvector holds at most 1 MB
SPELL_CHARS = 20_000  # of each body, for did-you-mean
# The configurations the documents use, read on every search: a walk down the index on
# `config` (one probe per distinct value), not a scan of every document as DISTINCT is.
CONFIGS_IN_USE = """
    WITH RECURSIVE c AS (
        (SELECT config FROM search_pg_documents ORDER BY config LIMIT 1)
        UNION ALL
        SELECT (SELECT d.config FROM search_pg_documents d WHERE d.config > c.config
                ORDER BY d.config LIMIT 1)
        FROM c WHERE c.config IS NOT NULL
    )
    SELECT config FROM c WHERE config IS NOT NULL
"""
START, STOP = "\ue000", "\ue001"
# ts_headline would drop what looks like a markup tag; the snippet must show it as text.
MASKS = "\ue002\ue003"
HEADLINE = (
    f'StartSel="{START}", StopSel="{STOP}", MaxWords=35, MinWords=15, '
    'MaxFragments=1, FragmentDelimiter=" … "'
)
ORDERS = {
    "relevance": "score DESC, document_id",
    "date": "date_key DESC, document_id",
    "title": "title_sort, document_id",
}


def _config(language: str) -> str:
    return CONFIGS.get((language or "").lower(), "simple")


def _segments(snippet: str) -> list[Segment]:
    out: list[Segment] = []
    rest = " ".join(snippet.split()).translate({ord(MASKS[0]): "<", ord(MASKS[1]): ">"})
    while rest:
        start = rest.find(START)
        if start < 0:
            out.append(Segment(rest, False))
            break
        if start > 0:
            out.append(Segment(rest[:start], False))
        stop = rest.find(STOP, start)
        stop = len(rest) if stop < 0 else stop
        out.append(Segment(rest[start + 1 : stop], True))
        rest = rest[stop + 1 :]
    return [s for s in out if s.text]


@dataclass
class _Plan:
    """One reading of the query: what matches, and what ranks it."""

    binds: Binds
    compiler: Compiler
    where: str  # the words, visibility and filters
    scope: str  # the words and visibility (facets add the filters but their own)
    filters: dict[str, str]
    stats: bm25.Stats


@dataclass
class _Page:
    total: int
    every_word: int | None
    hits: list[tuple[int, float]]


class PostgresEngine:
    name = "postgres"

    def prepare(self) -> bool:
        """Its tables come with the migrations. Whether they are empty (so every document
        must be queued) is answered by the launcher's first fill: nothing to do here."""
        return False

    async def apply(self, upserts: list[IndexDoc], deletes: list[int]) -> None:
        ids = sorted({*deletes, *(d.document_id for d in upserts)})
        async with session_scope() as session:
            await self._forget_words(session, ids)
            await bm25.forget(session, ids)
            await sql(
                session,
                text("DELETE FROM search_pg_documents WHERE document_id = ANY(:ids)").bindparams(
                    ids=ids
                ),
            )
            for d in upserts:
                await self._insert(session, d)
            await bm25.count_in(session, sorted(d.document_id for d in upserts))
            await bm25.analyze_when_grown(session)
            await session.commit()

    async def _forget_words(self, session: AsyncSession, ids: list[int]) -> None:
        rows = await sql(
            session,
            text(
                "SELECT d.title, d.authors, d.subjects, coalesce(left(string_agg(p.text, ' ' "
                "ORDER BY p.page_no), :n), '') FROM search_pg_documents d "
                "LEFT JOIN search_pg_pages p ON p.document_id = d.document_id "
                "WHERE d.document_id = ANY(:ids) GROUP BY d.document_id"
            ).bindparams(ids=ids, n=SPELL_CHARS),
        )
        for title, authors, subjects, body in rows.all():
            words = sorted(_words(title, authors, subjects, body))
            if words:
                await sql(
                    session,
                    text(
                        "UPDATE search_pg_words SET ndoc = ndoc - 1 WHERE word = ANY(:w)"
                    ).bindparams(w=words),
                )
        await sql(session, text("DELETE FROM search_pg_words WHERE ndoc <= 0"))

    async def _insert(self, session: AsyncSession, d: IndexDoc) -> None:
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
                    setweight(to_tsvector('simple', unaccent(:people)), 'B') ||
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
        for no, page in enumerate(d.pages, start=1):
            await sql(
                session,
                text(
                    "INSERT INTO search_pg_pages (document_id, page_no, text) VALUES (:d, :n, :t)"
                ).bindparams(d=d.document_id, n=no, t=page),
            )
        words = sorted(_words(d.title, d.authors, d.subjects, body[:SPELL_CHARS]))
        if words:
            await sql(
                session,
                text(
                    "INSERT INTO search_pg_words (word, ndoc) SELECT unnest(CAST(:w AS text[])), 1 "
                    "ON CONFLICT (word) DO UPDATE SET ndoc = search_pg_words.ndoc + 1"
                ).bindparams(w=words),
            )

    async def clear(self) -> None:
        async with session_scope() as session:
            await sql(
                session,
                text(
                    "TRUNCATE search_pg_pages, search_pg_postings, search_pg_documents, "
                    "search_pg_words, search_pg_lexemes, search_pg_stats"
                ),
            )
            await session.commit()

    async def count(self) -> int:
        async with session_scope() as session:
            return int(
                (await sql(session, text("SELECT count(*) FROM search_pg_documents"))).one()[0]
            )

    # --- searching -------------------------------------------------------------------

    async def search(self, query: EngineQuery) -> EngineResult:
        r = ranking.current()  # read per search: the benchmark may change it
        async with session_scope() as session:
            configs = [c for (c,) in (await sql(session, text(CONFIGS_IN_USE))).all()]
            configs = configs or ["simple"]
            plan = await self._plan(session, query, configs, r, every_word_fuzzy=False)
            page = await self._page(session, plan, query, r)
            if query.tree is not None and (
                page.total == 0 or (plan.compiler.first and page.every_word == 0)
            ):
                # Nothing, or no document with all of a few words: perhaps some are rare
                # misspellings that some documents share ("libary"). Look again with near
                # spellings of every word.
                plan = await self._plan(session, query, configs, r, every_word_fuzzy=True)
                page = await self._page(session, plan, query, r)
            result = EngineResult(total=page.total, every_word=page.every_word)
            if plan.compiler.corrections and query.tree is not None:
                result.suggestion = render(replace_terms(query.tree, plan.compiler.corrections))
            result.hits = [EngineHit(document_id=d, score=s) for d, s in page.hits]
            if result.hits and query.snippets and plan.compiler.highlights:
                await self._snippets(session, plan, result.hits)
            if query.facets:
                result.facets = await self._facets(session, plan, query.facet_size)
            return result

    async def _plan(
        self,
        session: AsyncSession,
        query: EngineQuery,
        configs: list[str],
        r: ranking.Ranking,
        every_word_fuzzy: bool,
    ) -> _Plan:
        binds = Binds()
        compiler = Compiler(session, binds, configs, every_word_fuzzy, r)
        words = await compiler.compile(query.tree) if query.tree is not None else "true"
        scope = [words]
        if query.collections is not None:
            scope.append(f"d.collection_id = ANY({binds.bind(query.collections)})")
        filters = {
            f: self._filter(binds, f, v) for f, v in query.filters.items() if v and f in FACETS
        }
        stats = await bm25.resolve(session, compiler.groups, binds.params)
        return _Plan(
            binds=binds,
            compiler=compiler,
            where=" AND ".join([*scope, *filters.values()]),
            scope=" AND ".join(scope),
            filters=filters,
            stats=stats,
        )

    async def _page(
        self,
        session: AsyncSession,
        plan: _Plan,
        query: EngineQuery,
        r: ranking.Ranking,
    ) -> _Page:
        """A page of the documents found, in the order asked, with their number."""
        if query.tree is None:
            statement = (
                "SELECT d.document_id, 0.0 AS score, count(*) OVER () AS total, "
                "NULL AS every_word, d.date_key, d.title_sort FROM search_pg_documents d "
                f"WHERE {plan.where} ORDER BY "
                + ("document_id" if query.sort == "relevance" else ORDERS[query.sort])
                + " LIMIT :limit OFFSET :offset"
            )
            params: dict[str, Any] = dict(plan.binds.params)
        else:
            c = plan.compiler
            feedback = c.question and query.sort == "relevance"
            statement = bm25.ranked_sql(plan.where, ORDERS[query.sort], c.had, c.first, feedback)
            asked = {w for g in c.groups for w in g.lexemes} if feedback else None
            params = {**plan.binds.params, **bm25.ranked_params(c.groups, plan.stats, r, asked)}
        params |= {"limit": query.limit, "offset": query.offset}
        rows = (await session.exec(bind_sql(statement, params))).all()
        if not rows and query.offset > 0:  # past the end: the number is still wanted
            params["offset"] = 0
            rows = (await session.exec(bind_sql(statement, params))).all()
            first = rows[0] if rows else None
            rows = []
        else:
            first = rows[0] if rows else None
        every = None
        if query.tree is not None and len(plan.compiler.had) > 1:
            every = int(first.every_word) if first else 0
        return _Page(
            total=int(first.total) if first else 0,
            every_word=every,
            hits=[(r.document_id, float(r.score)) for r in rows],
        )

    async def _snippets(self, session: AsyncSession, plan: _Plan, hits: list[EngineHit]) -> None:
        """The best passage of the first page that has a word of the query, for each hit
        of the page shown (never for more)."""
        q = plan.compiler.highlight()
        rows = await session.exec(
            bind_sql(
                f"""
                SELECT t.document_id, best.page_no, best.snip,
                       (SELECT count(*) FROM search_pg_pages c
                        WHERE c.document_id = t.document_id) AS pages
                FROM search_pg_documents t
                LEFT JOIN LATERAL (
                    SELECT p.page_no,
                           ts_headline(CAST(t.config AS regconfig),
                                       translate(p.text, '<>', :masks), {q}, :opts) AS snip
                    FROM search_pg_pages p
                    WHERE p.document_id = t.document_id
                      AND to_tsvector(CAST(t.config AS regconfig),
                                      unaccent({NO_TAGS.format("p.text")})) @@ {q}
                    ORDER BY p.page_no LIMIT 1
                ) best ON true
                WHERE t.document_id = ANY(:ids)
                """,
                {
                    **plan.binds.params,
                    "ids": [h.document_id for h in hits],
                    "opts": HEADLINE,
                    "masks": MASKS,
                },
            )
        )
        found = {r.document_id: r for r in rows.all()}
        for hit in hits:
            row = found.get(hit.document_id)
            if row is not None and row.snip and START in row.snip:
                hit.snippet = _segments(row.snip)
                hit.page_no = row.page_no if row.pages > 1 else None

    def _filter(self, binds: Binds, facet: str, values: list[str]) -> str:
        if facet in ("collection", "year"):
            numbers = [int(v) for v in values if v.lstrip("-").isdigit()]
            column = "d.collection_id" if facet == "collection" else "d.year"
            return f"{column} = ANY({binds.bind(numbers)})" if numbers else "false"
        if facet in ("author", "subject"):
            return f"d.{facet}s && CAST({binds.bind(list(values))} AS text[])"
        return f"d.{facet} = ANY({binds.bind(list(values))})"

    async def _facets(
        self, session: AsyncSession, plan: _Plan, size: int
    ) -> dict[str, list[tuple[str, int]]]:
        """Every facet's counts in one pass over the documents found. Each facet counts
        under the other facets' choices, not its own (so another value can be added)."""
        value = {
            "collection": "collection_id::text",
            "author": "unnest(authors)",
            "subject": "unnest(subjects)",
            "year": "year::text",
            "type": "type",
            "language": "language",
        }
        chosen = "".join(f", ({w}) AS f_{f}" for f, w in plan.filters.items())
        parts = []
        for i, facet in enumerate(FACETS):
            others = " AND ".join(f"f_{f}" for f in plan.filters if f != facet) or "true"
            order = "max(year) DESC" if facet == "year" else "count(*) DESC, v"
            parts.append(
                f"""(SELECT {i} AS facet, v, count(*) AS n FROM (
                        SELECT {value[facet]} AS v, year FROM m WHERE {others}
                     ) x WHERE v IS NOT NULL AND v <> ''
                     GROUP BY v ORDER BY {order} LIMIT :size)"""
            )
        rows = await session.exec(
            bind_sql(
                f"""
                WITH m AS MATERIALIZED (
                    SELECT d.collection_id, d.authors, d.subjects, d.year, d.type,
                           d.language{chosen}
                    FROM search_pg_documents d WHERE {plan.scope}
                )
                {" UNION ALL ".join(parts)}
                """,
                {**plan.binds.params, "size": size},
            )
        )
        out: dict[str, list[tuple[str, int]]] = {f: [] for f in FACETS}
        for i, v, n in rows.all():
            out[FACETS[i]].append((str(v), int(n)))
        return out

    async def complete(
        self, text_typed: str, collections: list[int] | None, limit: int
    ) -> Completions:
        words = WORD.findall(fold(text_typed))
        if not words:
            return Completions()
        prefix = " & ".join([*words[:-1], words[-1] + ":*"])
        params: dict[str, Any] = {"q": prefix, "limit": limit, "ids": collections}
        scope = "true" if collections is None else "collection_id = ANY(:ids)"
        out = Completions()
        async with session_scope() as session:
            rows = await session.exec(
                bind_sql(
                    f"""
                    SELECT document_id, authors, subjects FROM search_pg_documents
                    WHERE tsv @@ to_tsquery('simple', :q) AND {scope}
                    ORDER BY ts_rank(tsv, to_tsquery('simple', :q)) DESC LIMIT 50
                    """,
                    params,
                )
            )
            found = rows.all()
        titles = await self._title_starts(found, words)
        out.documents = titles[:limit]
        for kind, column in (("authors", 1), ("subjects", 2)):
            seen: dict[str, int] = {}
            for row in found:
                for name in row[column]:
                    if all(starts_a_word(name, w) for w in words):
                        seen[name] = seen.get(name, 0) + 1
            setattr(out, kind, sorted(seen, key=lambda n: -seen[n])[:limit])
        return out

    async def _title_starts(self, found: list[Any], words: list[str]) -> list[int]:
        ids = [r[0] for r in found]
        if not ids:
            return []
        async with session_scope() as session:
            rows = await sql(
                session,
                text(
                    "SELECT document_id, title FROM search_pg_documents "
                    "WHERE document_id = ANY(:ids)"
                ).bindparams(ids=ids),
            )
            titles = dict(rows.all())
        return [i for i in ids if all(starts_a_word(titles.get(i, ""), w) for w in words)]


def _words(title: str, authors: list[str], subjects: list[str], body: str) -> set[str]:
    text_ = fold(" ".join([title, *authors, *subjects, body]))
    return {w for w in WORD.findall(text_) if 1 < len(w) <= 40}
