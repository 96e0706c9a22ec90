"""PostgreSQL full-text search, for deployments on several machines that run no search
server. The same contract as tantivy: documents ranked by BM25 from the engine's own
tables (backend/search/postgres_bm25.py) with the shared parameters of
backend/search/ranking.py, snippets made only for the page shown, facets in one pass.

Its own tables (search_pg_*, backend/search/postgres_documents.py) are fed by the indexer
from the outbox like any engine.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db import session_scope, sql
from backend.search import postgres_bm25 as bm25
from backend.search import postgres_documents as documents
from backend.search import ranking
from backend.search.engine import (
    APART,
    FACETS,
    IDEOGRAPHIC,
    LIKE_MIN_SHARE,
    LIKE_MIN_WORD,
    LIKE_TERMS,
    Completions,
    EngineHit,
    EngineQuery,
    EngineResult,
    IndexDoc,
    fold,
    has_ideographs,
    joined,
    like_max_documents,
    starts_a_word,
)
from backend.search.postgres_query import (
    IDEOGRAPHS_APART,
    NO_TAGS,
    WORD,
    Binds,
    Compiler,
    run,
)
from backend.search.query import render, replace_terms
from backend.search.schemas import Segment

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


def _segments(snippet: str) -> list[Segment]:
    out: list[Segment] = []
    rest = " ".join(snippet.split()).translate(
        {ord(MASKS[0]): "<", ord(MASKS[1]): ">", ord(APART): None}
    )
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
    return joined(out)


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
    facets: dict[str, list[tuple[str, int]]] | None = None  # when counted with the page


class PostgresEngine:
    name = "postgres"

    def prepare(self) -> bool:
        """Its tables come with the migrations. Whether they are empty (so every document
        must be queued) is answered by the launcher's first fill: nothing to do here."""
        return False

    async def apply(self, upserts: list[IndexDoc], deletes: list[int]) -> None:
        await documents.apply(upserts, deletes)

    async def build_beside(self) -> documents.Rebuild:
        return await documents.Rebuild().start()

    async def clear(self) -> None:
        await documents.clear()

    async def count(self) -> int:
        return await documents.count()

    # --- searching -------------------------------------------------------------------

    async def similar(
        self, document_id: int, collections: list[int] | None, limit: int
    ) -> list[int]:
        """The document's lexemes of highest tf-idf by the engine's own counts (postings
        and document frequencies), then the documents holding the most of that weight.
        Lexemes in more than a quarter of a large library are passed over, as Lucene's
        maxDocFreq would."""
        scope = "" if collections is None else "AND d.collection_id = ANY(:ids)"
        statement = text(
            f"""
            WITH stats AS (SELECT ndoc FROM search_pg_stats LIMIT 1),
            mine AS (
                SELECT p.lexeme,
                       (p.title_tf + p.people_tf + p.description_tf + p.body_tf)
                       * ln(1 + ((SELECT ndoc FROM stats) - l.ndoc + 0.5) / (l.ndoc + 0.5))
                       AS weight
                FROM search_pg_postings p JOIN search_pg_lexemes l ON l.lexeme = p.lexeme
                WHERE p.document_id = :doc
                  AND (length(p.lexeme) >= :shortest OR p.lexeme ~ :ideograph)
                  AND l.ndoc >= 2
                  AND l.ndoc <= greatest((SELECT ndoc FROM stats) / 4, :least_cap)
                ORDER BY weight DESC, p.lexeme
                LIMIT :terms
            )
            SELECT o.document_id, sum(m.weight) AS score
            FROM mine m JOIN search_pg_postings o ON o.lexeme = m.lexeme
            JOIN search_pg_documents d ON d.document_id = o.document_id
            WHERE o.document_id <> :doc {scope}
            GROUP BY o.document_id
            ORDER BY sum(m.weight) DESC, o.document_id
            LIMIT :limit
            """
        ).bindparams(
            doc=document_id,
            least_cap=like_max_documents(0),
            shortest=LIKE_MIN_WORD,
            ideograph=f"[{IDEOGRAPHIC}]",
            terms=LIKE_TERMS,
            limit=limit,
            **({"ids": collections} if collections is not None else {}),
        )
        async with session_scope() as session:
            rows = (await sql(session, statement)).all()
        return [r[0] for r in rows if float(r[1]) >= float(rows[0][1]) * LIKE_MIN_SHARE]

    async def search(self, query: EngineQuery) -> EngineResult:
        r = ranking.current("postgres")  # read per search: the benchmark may change it
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
                result.facets = page.facets or await self._facets(session, plan, query.facet_size)
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
        if query.within is not None:
            scope.append(f"d.document_id = ANY({binds.bind(query.within)})")
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
            near = bool(c.pairs) and r.proximity > 0 and query.sort == "relevance"
            key = {"date": "date_key", "title": "title_sort"}.get(query.sort)
            # Without facet choices the facets count the documents found: with the ranking.
            together = query.facets and not plan.filters
            facets = _facet_counts({}, "m") if together else None
            statement = bm25.ranked_sql(
                plan.where,
                ORDERS[query.sort],
                key,
                c.had,
                c.first,
                feedback,
                facets,
                coordination=r.coordination != 0,
                present=tuple(n > 0 for n in plan.stats.lengths),
                near=near,
            )
            asked = {w for g in c.groups for w in g.lexemes} if feedback else None
            params = {**plan.binds.params, **bm25.ranked_params(c.groups, plan.stats, r, asked)}
            if near:
                params |= bm25.near_params(c.groups, c.pairs, r)
        params |= {"limit": query.limit, "offset": query.offset, "size": query.facet_size}
        rows = (await run(session, statement, params)).all()
        if not rows and query.offset > 0:  # past the end: the number is still wanted
            params["offset"] = 0
            rows = (await run(session, statement, params)).all()
            first = rows[0] if rows else None
            rows = []
        else:
            first = rows[0] if rows else None
        every = None
        if query.tree is not None and len(plan.compiler.had) > 1:
            every = int(first.every_word) if first else 0
        page = _Page(
            total=int(first.total) if first else 0,
            every_word=every,
            hits=[(r.document_id, float(r.score)) for r in rows],
        )
        if first is not None and getattr(first, "facets", None) is not None:
            page.facets = {f: [] for f in FACETS}
            for i, v, n in first.facets:
                page.facets[FACETS[i]].append((str(v), int(n)))
        elif query.tree is not None and query.facets and not plan.filters:
            page.facets = {f: [] for f in FACETS}  # nothing found: nothing to count
        return page

    async def _snippets(self, session: AsyncSession, plan: _Plan, hits: list[EngineHit]) -> None:
        """The best passage of the first page that has a word of the query, for each hit
        of the page shown (never for more)."""
        q = plan.compiler.highlight()
        # A snippet is trimmed of words of up to three letters at its ends; a Chinese or
        # Japanese one would be trimmed to the words asked for.
        ideographic = any(
            isinstance(v, str) and has_ideographs(v) for v in plan.binds.params.values()
        )
        rows = await run(
            session,
            f"""
            SELECT t.document_id, best.page_no, best.snip,
                   (SELECT count(*) FROM search_pg_pages c
                    WHERE c.document_id = t.document_id) AS pages
            FROM search_pg_documents t
            LEFT JOIN LATERAL (
                SELECT p.page_no,
                       ts_headline(CAST(t.config AS regconfig),
                                   {IDEOGRAPHS_APART.format("translate(p.text, '<>', :masks)")},
                                   {q}, :opts) AS snip
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
                "opts": HEADLINE + (", ShortWord=0" if ideographic else ""),
                "masks": MASKS,
            },
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
        """Every facet's counts in one pass over the documents found, apart from the
        ranking (when facets are chosen, or no words are searched for)."""
        chosen = "".join(f", ({w}) AS f_{f}" for f, w in plan.filters.items())
        rows = await run(
            session,
            f"""
            WITH m AS MATERIALIZED (
                SELECT d.collection_id, d.authors, d.subjects, d.year, d.type,
                       d.language{chosen}
                FROM search_pg_documents d WHERE {plan.scope}
            )
            {" UNION ALL ".join(_facet_counts(plan.filters, "m"))}
            """,
            {**plan.binds.params, "size": size},
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
            rows = await run(
                session,
                f"""
                SELECT document_id, authors, subjects FROM search_pg_documents
                WHERE tsv @@ to_tsquery('simple', :q) AND {scope}
                ORDER BY ts_rank(tsv, to_tsquery('simple', :q)) DESC LIMIT 50
                """,
                params,
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


def _facet_counts(filters: dict[str, str], relation: str) -> list[str]:
    """A statement per facet counting its values over `relation` (facet number, value,
    count). Each facet counts under the other facets' choices (columns f_<facet>), not
    its own, so another value can be added."""
    value = {
        "collection": "collection_id::text",
        "author": "unnest(authors)",
        "subject": "unnest(subjects)",
        "year": "year::text",
        "type": "type",
        "language": "language",
    }
    parts = []
    for i, facet in enumerate(FACETS):
        others = " AND ".join(f"f_{f}" for f in filters if f != facet) or "true"
        order = "max(year) DESC" if facet == "year" else "count(*) DESC, v"
        parts.append(
            f"""(SELECT {i} AS facet, v, count(*) AS n FROM (
                    SELECT {value[facet]} AS v, year FROM {relation} WHERE {others}
                 ) x WHERE v IS NOT NULL AND v <> ''
                 GROUP BY v ORDER BY {order} LIMIT :size)"""
        )
    return parts
