"""PostgreSQL full-text search, for deployments on several machines that run no search
server. Correct and complete (the same contract as tantivy), not the speed path: ranking
with ts_rank has no inverse document frequency, and facets are GROUP BY queries.

Its own tables (search_pg_*) are fed by the indexer from the outbox like any engine.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db import session_scope, sql
from backend.search.engine import (
    ENGLISH_STOPWORDS,
    FACETS,
    SNOWBALL_LANGUAGES,
    Completions,
    EngineHit,
    EngineQuery,
    EngineResult,
    IndexDoc,
    fold,
    language_codes,
    minimum_should_match,
    sort_title,
    starts_a_word,
)
from backend.search.query import (
    And,
    Node,
    Not,
    Or,
    Phrase,
    Range,
    Term,
    positives,
    render,
    replace_terms,
)
from backend.search.schemas import Segment

CONFIGS = SNOWBALL_LANGUAGES  # PostgreSQL's text search configurations of those names
MAX_BODY_CHARS = 1_000_000  # tsvector holds at most 1 MB
SPELL_CHARS = 20_000  # of each body, for did-you-mean
# Names, subjects and collection names are matched word for word, never stemmed.
UNSTEMMED_FIELDS = ("author", "subject", "collection")
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
WORD = re.compile(r"\w+", re.UNICODE)
# "<script>" would be read as a markup tag by PostgreSQL's parser, and its word lost.
NO_TAGS = "translate({}, '<>', '  ')"


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


def _sql(statement: str, params: dict[str, Any]) -> Any:
    """A text() statement bound to those of `params` it names."""
    used = {k: v for k, v in params.items() if re.search(rf":{k}\b", statement)}
    return text(statement).bindparams(**used)


@dataclass
class _Sql:
    """Bind parameters shared by the pieces of one statement."""

    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"


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
            await sql(
                session,
                text("DELETE FROM search_pg_documents WHERE document_id = ANY(:ids)").bindparams(
                    ids=ids
                ),
            )
            for d in upserts:
                await self._insert(session, d)
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
                session, text("TRUNCATE search_pg_pages, search_pg_documents, search_pg_words")
            )
            await session.commit()

    async def count(self) -> int:
        async with session_scope() as session:
            return int(
                (await sql(session, text("SELECT count(*) FROM search_pg_documents"))).one()[0]
            )

    # --- searching -------------------------------------------------------------------

    async def search(self, query: EngineQuery) -> EngineResult:
        async with session_scope() as session:
            configs = [c for (c,) in (await sql(session, text(CONFIGS_IN_USE))).all()]
            configs = configs or ["simple"]
            result = await self._search(session, query, configs, every_word_fuzzy=False)
            if result.total == 0 and query.tree is not None:
                result = await self._search(session, query, configs, every_word_fuzzy=True)
            return result

    async def _search(
        self, session: AsyncSession, query: EngineQuery, configs: list[str], every_word_fuzzy: bool
    ) -> EngineResult:
        sql = _Sql()
        compiler = _Compiler(session, sql, configs, every_word_fuzzy)
        where = await compiler.compile(query.tree) if query.tree is not None else "true"
        scope = "true"
        if query.collections is not None:
            scope = f"d.collection_id = ANY({sql.bind(query.collections)})"
        filters = {
            f: self._filter(sql, f, v) for f, v in query.filters.items() if v and f in FACETS
        }
        everything = " AND ".join([where, scope, *filters.values()])
        rank_q = compiler.rank_query()
        total = int(
            (
                await session.exec(
                    _sql(
                        f"SELECT count(*) FROM search_pg_documents d WHERE {everything}", sql.params
                    )
                )
            ).one()[0]
        )
        result = EngineResult(total=total)
        if compiler.corrections:
            result.suggestion = render(replace_terms(query.tree, compiler.corrections))  # type: ignore[arg-type]
        rank = f"ts_rank(d.tsv, {rank_q})" if rank_q else "0"
        order = {
            "relevance": "rank DESC, d.document_id",
            "date": "d.date_key DESC, d.document_id",
            "title": "d.title_sort, d.document_id",
        }[query.sort]
        headline = (
            f"""
            LEFT JOIN LATERAL (
                SELECT p.page_no,
                       ts_headline(CAST(top.config AS regconfig),
                                   translate(p.text, '<>', :masks), {rank_q}, :opts) AS snip
                FROM search_pg_pages p
                WHERE p.document_id = top.document_id
                  AND to_tsvector(CAST(top.config AS regconfig),
                                  unaccent({NO_TAGS.format("p.text")})) @@ {rank_q}
                ORDER BY p.page_no LIMIT 1
            ) best ON true
            """
            if rank_q
            else "LEFT JOIN LATERAL (SELECT NULL::int AS page_no, NULL::text AS snip) best ON true"
        )
        rows = await session.exec(
            _sql(
                f"""
                WITH top AS (
                    SELECT d.document_id, d.config, {rank} AS rank,
                           d.date_key, d.title_sort
                    FROM search_pg_documents d WHERE {everything}
                    ORDER BY {order} LIMIT :limit OFFSET :offset
                )
                SELECT top.document_id, top.rank, best.page_no, best.snip,
                       (SELECT count(*) FROM search_pg_pages c
                        WHERE c.document_id = top.document_id) AS pages
                FROM top {headline}
                ORDER BY {order.replace("d.", "top.")}
                """,
                {
                    **sql.params,
                    "limit": query.limit,
                    "offset": query.offset,
                    "opts": HEADLINE,
                    "masks": MASKS,
                },
            )
        )
        for r in rows.all():
            result.hits.append(
                EngineHit(
                    document_id=r.document_id,
                    score=float(r.rank or 0),
                    snippet=_segments(r.snip) if r.snip and START in r.snip else [],
                    page_no=r.page_no if r.snip and r.pages > 1 else None,
                )
            )
        if query.facets:
            for facet in FACETS:
                others = [w for f, w in filters.items() if f != facet]
                base = " AND ".join([where, scope, *others])
                result.facets[facet] = await self._facet(
                    session, sql, base, facet, query.facet_size
                )
        return result

    def _filter(self, sql: _Sql, facet: str, values: list[str]) -> str:
        if facet in ("collection", "year"):
            numbers = [int(v) for v in values if v.lstrip("-").isdigit()]
            column = "d.collection_id" if facet == "collection" else "d.year"
            return f"{column} = ANY({sql.bind(numbers)})" if numbers else "false"
        if facet in ("author", "subject"):
            return f"d.{facet}s && CAST({sql.bind(list(values))} AS text[])"
        return f"d.{facet} = ANY({sql.bind(list(values))})"

    async def _facet(
        self, session: AsyncSession, sql: _Sql, where: str, facet: str, size: int
    ) -> list[tuple[str, int]]:
        value = {
            "collection": "d.collection_id::text",
            "author": "unnest(d.authors)",
            "subject": "unnest(d.subjects)",
            "year": "d.year::text",
            "type": "d.type",
            "language": "d.language",
        }[facet]
        order = "max(d.year) DESC" if facet == "year" else "count(*) DESC, v"
        rows = await session.exec(
            _sql(
                f"""
                SELECT v, count(*) AS n FROM (
                    SELECT {value} AS v, d.year FROM search_pg_documents d WHERE {where}
                ) d WHERE v IS NOT NULL AND v <> ''
                GROUP BY v ORDER BY {order} LIMIT :size
                """,
                {**sql.params, "size": size},
            )
        )
        return [(str(v), int(n)) for v, n in rows.all()]

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
                _sql(
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


class _Compiler:
    """A query tree as an SQL condition on `search_pg_documents d`, plus a tsquery to rank."""

    def __init__(
        self, session: AsyncSession, sql: _Sql, configs: list[str], every_word_fuzzy: bool
    ) -> None:
        self.session, self.sql, self.configs = session, sql, configs
        self.every_word_fuzzy = every_word_fuzzy
        self.rank_parts: list[str] = []
        self.corrections: dict[str, str] = {}

    def rank_query(self) -> str:
        return "(" + " || ".join(self.rank_parts) + ")" if self.rank_parts else ""

    async def compile(self, node: Node) -> str:
        positive = {id(n) for n in positives(node)}
        return await self._node(node, positive)

    async def _node(self, node: Node, positive: set[int]) -> str:
        if isinstance(node, Term):
            return await self._term(node, id(node) in positive)
        if isinstance(node, Phrase):
            return self._phrase(node, id(node) in positive)
        if isinstance(node, Range):
            parts = []
            if node.low is not None:
                parts.append(f"d.year >= {self.sql.bind(node.low)}")
            if node.high is not None:
                parts.append(f"d.year <= {self.sql.bind(node.high)}")
            return "(" + " AND ".join(parts or ["true"]) + ")"
        if isinstance(node, Not):
            return f"NOT coalesce({await self._node(node.child, positive)}, false)"
        if isinstance(node, Or):
            kids = [await self._node(c, positive) for c in node.children]
            return "(" + " OR ".join(kids) + ")"
        return await self._and(node, positive)

    async def _and(self, node: And, positive: set[int]) -> str:
        words = [c for c in node.children if isinstance(c, Term) and not c.field]
        content = [w for w in words if fold(w.text) not in ENGLISH_STOPWORDS]
        musts, shoulds = [], []
        for child in node.children:
            if node.implicit and isinstance(child, Term) and not child.field:
                if content and child not in content:
                    continue
                shoulds.append(await self._node(child, positive))
            else:
                musts.append(await self._node(child, positive))
        if shoulds:
            need = minimum_should_match(len(shoulds))
            if need >= len(shoulds):
                musts.extend(shoulds)
            else:
                counted = " + ".join(f"({s})::int" for s in shoulds)
                musts.append(f"({counted}) >= {need}")
        return "(" + " AND ".join(musts or ["true"]) + ")"

    def _tsquery(self, function: str, value: str, configs: list[str] | None = None) -> str:
        bound = self.sql.bind(value)
        parts = [f"{function}('{cfg}', unaccent({bound}))" for cfg in (configs or self.configs)]
        return "(" + " || ".join(parts) + ")"

    async def _term(self, term: Term, positive: bool) -> str:
        if term.field == "language":
            codes = [term.text.lower(), *language_codes(term.text)]
            return f"d.language = ANY({self.sql.bind(codes)})"
        if term.field == "type":
            return f"d.type = {self.sql.bind(term.text.lower())}"
        word = " ".join(WORD.findall(term.text))
        if not word:
            return "false"
        configs = ["simple"] if term.field in UNSTEMMED_FIELDS else None
        if term.prefix:
            lexemes = WORD.findall(fold(term.text))
            q = self._tsquery("to_tsquery", " <-> ".join(lexemes) + ":*", configs)
        elif configs:
            q = self._tsquery("plainto_tsquery", word, configs)
        else:
            q = self._tsquery("plainto_tsquery", word)
            if (
                term.field is None
                and len(word) >= 3
                and (self.every_word_fuzzy or not await self._exists(q))
            ):
                q = await self._near(term, q)
        return self._where(term.field, q, positive)

    def _phrase(self, phrase: Phrase, positive: bool) -> str:
        words = " ".join(w for w in phrase.words if WORD.search(w))
        configs = ["simple"] if phrase.field in UNSTEMMED_FIELDS else None
        q = self._tsquery("phraseto_tsquery", words, configs)
        return self._where(phrase.field, q, positive)

    def _where(self, field_name: str | None, q: str, positive: bool) -> str:
        if field_name in ("author", "subject"):
            column = f"d.{field_name}s"  # q was built with the simple configuration
            return (
                f"(d.tsv @@ {q} AND EXISTS (SELECT 1 FROM unnest({column}) x "
                f"WHERE to_tsvector('simple', unaccent(x)) @@ {q}))"
            )
        if field_name == "collection":
            return f"(to_tsvector('simple', unaccent(d.collection)) @@ {q})"
        if positive:
            self.rank_parts.append(q)
        if field_name == "title":
            return (
                f"(d.tsv @@ {q} AND to_tsvector(CAST(d.config AS regconfig), "
                f"unaccent({NO_TAGS.format('d.title')})) @@ {q})"
            )
        return f"(d.tsv @@ {q})"

    async def _exists(self, q: str) -> bool:
        row = await self.session.exec(
            _sql(
                f"SELECT EXISTS (SELECT 1 FROM search_pg_documents d WHERE d.tsv @@ {q})",
                self.sql.params,
            )
        )
        return bool(row.one()[0])

    async def _near(self, term: Term, q: str) -> str:
        """A word no document has (or a second look): its completions and near spellings."""
        word = fold(term.text)
        lexemes = WORD.findall(word)
        if len(lexemes) != 1:
            return q
        own = await sql(
            self.session,
            text("SELECT coalesce(max(ndoc), 0) FROM search_pg_words WHERE word = :w").bindparams(
                w=word
            ),
        )
        own_n = int(own.one()[0])
        starts = await sql(
            self.session,
            text(
                "SELECT word FROM search_pg_words WHERE word LIKE :p AND word <> :w "
                "ORDER BY ndoc DESC, length(word) LIMIT 1"
            ).bindparams(p=word.replace("%", "").replace("_", "") + "%", w=word),
        )
        near = await sql(
            self.session,
            text(
                "SELECT word FROM search_pg_words WHERE word % :w AND word <> :w "
                "AND ndoc > :own * 5 ORDER BY similarity(word, :w) DESC, ndoc DESC LIMIT 2"
            ).bindparams(w=word, own=own_n),
        )
        completion = [w for (w,) in starts.all()]
        similar = [w for (w,) in near.all()]
        if completion and not own_n:
            self.corrections[term.text] = completion[0]
        elif similar:
            self.corrections[term.text] = similar[0]
        parts = [q, self._tsquery("to_tsquery", lexemes[0] + ":*")]
        parts += [self._tsquery("plainto_tsquery", w) for w in similar]
        return "(" + " || ".join(parts) + ")"


def _words(title: str, authors: list[str], subjects: list[str], body: str) -> set[str]:
    text_ = fold(" ".join([title, *authors, *subjects, body]))
    return {w for w in WORD.findall(text_) if 1 < len(w) <= 40}
