"""BM25 for the PostgreSQL engine, from its own tables.

At index time each document's tsvector is unnested into postings (lexeme, document, how
many times in each field class: title A, people B, description C, body D), its length
per field class is stored beside it, and the document frequency of each lexeme and the
totals (documents, words per field class) are kept up to date as documents come and go.

At query time every word of the query becomes a `Group`: the lexemes it may be indexed
as (its stem in each configuration in use, a prefix's completions, the near spellings of
a word no document has). A document's score for a group is BM25 over one weighted field
(BM25F): tf = Σ field weight × occurrences, and length = Σ field weight × field length.
The field weights, k1 and b are read from `ranking.current()` at query time, not baked
into the stored counts, so the benchmark may change them without re-indexing.
"""

import math
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db import sql
from backend.search.engine import ENGLISH_STOPWORDS
from backend.search.ranking import Ranking

FIELDS = ("title", "people", "description", "body")  # tsvector weights A, B, C, D
# Added to the documents that have every word of a short query: above any BM25 score.
EVERY_WORD_BONUS = 1000.0
PREFIX_LEXEMES = 50  # a prefix is scored as its most frequent completions
MASK_BITS = 63  # the first groups of a query each have a bit of a bigint
# A lexeme in a tsquery's text: 'it''s', and :* after a prefix.
_LEXEME = re.compile(r"'((?:[^'\\]|''|\\.)*)'(:\*)?")


@dataclass
class Group:
    """One word of the query as it is scored: the lexemes it may be indexed as."""

    tsquery: str = ""  # SQL for a tsquery holding the word's forms (empty: lexemes given)
    title_only: bool = False  # title:word counts only the title's occurrences
    boost: float = 1.0
    lexemes: list[str] = field(default_factory=list)
    idf: float = 0.0


@dataclass
class Stats:
    documents: int = 0
    lengths: tuple[int, int, int, int] = (0, 0, 0, 0)  # words per field class, all documents

    def avgdl(self, r: Ranking) -> float:
        weighted = sum(w * n for w, n in zip(weights(r), self.lengths, strict=True))
        return max(weighted / max(self.documents, 1), 1e-6)


def weights(r: Ranking) -> tuple[float, float, float, float]:
    return (r.title, r.people, r.description, r.body)


def idf(documents: int, df: int) -> float:
    """BM25's inverse document frequency as Lucene and tantivy have it (never negative)."""
    return math.log(1 + (documents - df + 0.5) / (df + 0.5))


# --- index time ----------------------------------------------------------------------


async def forget(session: AsyncSession, ids: list[int]) -> None:
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


async def count_in(session: AsyncSession, ids: list[int]) -> None:
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


async def analyze_when_grown(session: AsyncSession) -> None:
    """Give the planner statistics once the engine's tables have grown or shrunk by a
    fifth since it last had them (a first fill above all): without them it takes every
    set of documents for one row, and a nested loop over thousands is slow. Autovacuum
    would do the same, but up to a minute later."""
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
    known, documents = float(row[0]), int(row[1] or 0)
    if abs(documents - max(known, 0)) > max(known, 0) * 0.2 + 100:
        for table in ("search_pg_documents", "search_pg_postings", "search_pg_lexemes"):
            await sql(session, text(f"ANALYZE {table}"))


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


# --- query time ----------------------------------------------------------------------


async def resolve(session: AsyncSession, groups: list[Group], made: dict[str, Any]) -> Stats:
    """Find each group's lexemes (what its tsqueries hold, already made and bound in
    `made`; a prefix's completions) and its inverse document frequency; return the
    totals BM25 needs."""
    completions: dict[str, list[str]] = {}
    for g in groups:
        found = []
        for name in re.findall(r":(t\d+) AS tsquery", g.tsquery):
            for raw, star in _LEXEME.findall(made.get(name) or ""):
                lexeme = raw.replace("''", "'").replace("\\\\", "\\")
                if not star:
                    found.append(lexeme)
                    continue
                if lexeme not in completions:
                    completions[lexeme] = await _completions(session, lexeme)
                found += completions[lexeme]
        g.lexemes = list(dict.fromkeys(found))
    row = (
        await sql(
            session,
            text(
                """
                SELECT s.ndoc, s.title_len, s.people_len, s.description_len, s.body_len,
                       (SELECT json_object_agg(lexeme, ndoc) FROM search_pg_lexemes
                        WHERE lexeme = ANY(CAST(:w AS text[])))
                FROM (SELECT 1) one LEFT JOIN search_pg_stats s ON s.id = 1
                """
            ).bindparams(w=sorted({w for g in groups for w in g.lexemes})),
        )
    ).one()
    stats = Stats(int(row[0] or 0), tuple(int(n or 0) for n in row[1:5]))  # type: ignore[arg-type]
    df: dict[str, int] = row[5] or {}
    for g in groups:
        g.lexemes = [w for w in g.lexemes if df.get(w)]
        # A word's forms are one word: the most frequent form stands for all of them.
        g.idf = idf(stats.documents, max(df[w] for w in g.lexemes)) if g.lexemes else 0.0
    return stats


async def _completions(session: AsyncSession, prefix: str) -> list[str]:
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await sql(
        session,
        text(
            "SELECT lexeme FROM search_pg_lexemes WHERE lexeme LIKE :p "
            "ORDER BY ndoc DESC, lexeme LIMIT :n"
        ).bindparams(p=like, n=PREFIX_LEXEMES),
    )
    return [w for (w,) in rows.all()]


def ranked_sql(where: str, order: str, had: list[str], first: bool, feedback: bool) -> str:
    """Every document matching `where` with its score, a page of them in `order`, their
    number (total) and how many have every wanted word (every_word).

    `had`: for each word written side by side, whether a document has it (over `s.mask`
    and `s.gs`, the groups the document holds); each counts `coordination`, and with
    `first` the documents with all of them come before any other. With `feedback`, the
    lexemes that stand out in the best `:fb_docs` documents (frequent there, rare in the
    library) are added as optional words, weighted by how much they stand out: the same
    documents, a better order for a question in many words.

    Every part is MATERIALIZED, and scores are put together by GROUP BY rather than outer
    joins: a part estimated at one row (no statistics yet) must still be made once, and
    never be joined in a nested loop with thousands.

    A group's lexemes (a word's forms in several configurations, a prefix's completions)
    are scored apart and added up, which counts a document with several forms of one word
    a little more than one with a single form. Per posting, BM25 is written
    w·(k1+1)·(1 − K/(tf+K)) with K = k1·(1 − b + b·dl/avgdl) made once per document.
    """
    has = [f"coalesce({h}, false)" for h in had]
    every = " AND ".join(has) if has else "false"
    count = " + ".join(f"{h}::int" for h in has) if has else "0"
    bonus = f"CASE WHEN {every} THEN {EVERY_WORD_BONUS} ELSE 0 END" if first else "0"
    dl = " + ".join(f"d.{f}_len * :w_{f}" for f in FIELDS)
    tf = " + ".join(f"p.{f}_tf * q.{c}" for f, c in zip(FIELDS, "abcd", strict=True))
    weighted = " + ".join(f"p.{f}_tf * :w_{f}" for f in FIELDS)
    gs = (
        ", array_agg(u.g) FILTER (WHERE u.bit = 0 AND u.g IS NOT NULL) AS gs"
        if "s.gs" in every
        else ""
    )
    statement = f"""
        WITH m AS MATERIALIZED (
            SELECT d.document_id, d.date_key, d.title_sort, {dl} AS dl,
                   :k1 * (1 - :b + :b * ({dl}) / :avgdl) AS k
            FROM search_pg_documents d WHERE {where}
        ),
        q AS (
            SELECT * FROM unnest(CAST(:q_g AS int[]), CAST(:q_bit AS bigint[]),
                CAST(:q_lexeme AS text[]), CAST(:q_weight AS float8[]),
                CAST(:q_a AS float8[]), CAST(:q_b AS float8[]), CAST(:q_c AS float8[]),
                CAST(:q_d AS float8[]))
                AS q(g, bit, lexeme, weight, a, b, c, d)
        ),
        s AS MATERIALIZED (
            SELECT u.document_id, max(u.date_key) AS date_key,
                   max(u.title_sort) AS title_sort, bit_or(u.bit) AS mask{gs},
                   sum(u.score) AS bm25
            FROM (
                SELECT m.document_id, m.date_key, m.title_sort, 0::bigint AS bit,
                       NULL::int AS g, 0::float8 AS score
                FROM m
                UNION ALL
                SELECT p.document_id, NULL, NULL, q.bit, q.g,
                       q.weight * (1 - m.k / ({tf} + m.k))
                FROM q JOIN search_pg_postings p ON p.lexeme = q.lexeme
                JOIN m ON m.document_id = p.document_id
            ) u
            GROUP BY u.document_id
        ),
        r AS (
            SELECT s.document_id, s.date_key, s.title_sort, {every} AS every,
                   s.bm25 + :coordination * ({count}) + {bonus} AS score
            FROM s
        )
    """
    if feedback:
        statement += f""",
        top AS MATERIALIZED (
            SELECT r.document_id, r.score / nullif(max(r.score) OVER (), 0) AS share
            FROM r ORDER BY r.score DESC, r.document_id LIMIT :fb_docs
        ),
        fw AS MATERIALIZED (
            SELECT p.lexeme, l.ndoc,
                   sum(top.share * ({weighted}) / greatest(m.dl, 1))
                       * ln(CAST(:n AS float8) / l.ndoc) AS w
            FROM top JOIN m ON m.document_id = top.document_id
            JOIN search_pg_postings p ON p.document_id = top.document_id
            JOIN search_pg_lexemes l ON l.lexeme = p.lexeme
            WHERE l.ndoc >= 2 AND length(p.lexeme) > 2 AND p.lexeme !~ '^[0-9]+$'
              AND NOT (p.lexeme = ANY(CAST(:fb_skip AS text[])))
              AND (SELECT count(*) FROM top) >= 2
            GROUP BY p.lexeme, l.ndoc
            ORDER BY w DESC, p.lexeme LIMIT :fb_words
        ),
        fq AS MATERIALIZED (
            SELECT lexeme,
                   :fb_weight * w / max(w) OVER () * (:k1 + 1)
                       * ln(1 + (:n - ndoc + 0.5) / (ndoc + 0.5)) AS weight,
                   :w_title AS a, :w_people AS b, :w_description AS c, :w_body AS d
            FROM fw WHERE w > 0
        ),
        f AS MATERIALIZED (
            SELECT p.document_id, sum(q.weight * (1 - m.k / ({tf} + m.k))) AS extra
            FROM fq q JOIN search_pg_postings p ON p.lexeme = q.lexeme
            JOIN m ON m.document_id = p.document_id
            GROUP BY p.document_id
        ),
        ranked AS (
            SELECT u.document_id, max(u.date_key) AS date_key,
                   max(u.title_sort) AS title_sort, bool_or(u.every) AS every,
                   sum(u.score) AS score
            FROM (
                SELECT document_id, date_key, title_sort, every, score FROM r
                UNION ALL
                SELECT document_id, NULL, NULL, NULL, extra FROM f
            ) u
            GROUP BY u.document_id
        )
        """
    return (
        statement
        + f"""
        SELECT document_id, score, count(*) OVER () AS total,
               count(*) FILTER (WHERE every) OVER () AS every_word
        FROM {"ranked" if feedback else "r"} ORDER BY {order} LIMIT :limit OFFSET :offset
        """
    )


def ranked_params(
    groups: list[Group], stats: Stats, r: Ranking, asked: set[str] | None = None
) -> dict[str, Any]:
    """The parameters of `ranked_sql` (with `asked`, the lexemes feedback must not add)."""
    names = ("g", "bit", "lexeme", "weight", "a", "b", "c", "d")
    rows: dict[str, list[Any]] = {k: [] for k in names}
    for i, g in enumerate(groups):
        w = weights(r) if not g.title_only else (r.title, 0.0, 0.0, 0.0)
        bit = 1 << i if i < MASK_BITS else 0
        for lexeme in g.lexemes:
            values = (i, bit, lexeme, g.idf * g.boost * (r.k1 + 1), *w)
            for k, v in zip(names, values, strict=True):
                rows[k].append(v)
    params: dict[str, Any] = {
        **{f"q_{k}": v for k, v in rows.items()},
        **{f"w_{f}": w for f, w in zip(FIELDS, weights(r), strict=True)},
        "k1": r.k1,
        "b": r.b,
        "avgdl": stats.avgdl(r),
        "coordination": r.coordination,
        "n": float(stats.documents),
    }
    if asked is not None:
        params |= {
            "fb_docs": r.feedback_docs,
            "fb_words": r.feedback_words,
            "fb_weight": r.feedback_weight,
            "fb_skip": sorted(asked | ENGLISH_STOPWORDS),
        }
    return params
