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


async def resolve(
    session: AsyncSession, groups: list[Group], params: dict[str, Any], bind: Any
) -> Stats:
    """Find each group's lexemes (what its tsquery holds; a prefix's completions) and its
    inverse document frequency; return the totals BM25 needs."""
    row = (
        await sql(
            session,
            text(
                "SELECT ndoc, title_len, people_len, description_len, body_len "
                "FROM search_pg_stats WHERE id = 1"
            ),
        )
    ).first()
    stats = Stats(int(row[0]), (row[1], row[2], row[3], row[4])) if row else Stats()
    asked = [g for g in groups if g.tsquery]
    if not asked:
        return stats
    arrays = ", ".join(f"CAST({g.tsquery} AS text)" for g in asked)
    texts = (await sql(session, bind(f"SELECT ARRAY[{arrays}]", params))).one()[0]
    completions: dict[str, list[str]] = {}
    for g, tsquery in zip(asked, texts, strict=True):
        found = []
        for raw, star in _LEXEME.findall(tsquery or ""):
            lexeme = raw.replace("''", "'").replace("\\\\", "\\")
            if star:
                if lexeme not in completions:
                    completions[lexeme] = await _completions(session, lexeme)
                found += completions[lexeme]
            else:
                found.append(lexeme)
        g.lexemes = list(dict.fromkeys(found))
    every = sorted({w for g in groups for w in g.lexemes})
    df = dict(
        (
            await sql(
                session,
                text(
                    "SELECT lexeme, ndoc FROM search_pg_lexemes WHERE lexeme = ANY(:w)"
                ).bindparams(w=every),
            )
        ).all()
    )
    for g in asked:
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


def scored(groups: list[Group], r: Ranking) -> dict[str, Any]:
    """The groups as the arrays `RANKED` unnests (one row per lexeme)."""
    out: dict[str, list[Any]] = {k: [] for k in ("g", "lexeme", "weight", "a", "b", "c", "d")}
    for i, g in enumerate(groups):
        w = weights(r) if not g.title_only else (r.title, 0.0, 0.0, 0.0)
        for lexeme in g.lexemes:
            for k, v in zip(out, (i, lexeme, g.idf * g.boost, *w), strict=True):
                out[k].append(v)
    return {f"q_{k}": v for k, v in out.items()}


def ranked_sql(where: str, order: str, had: list[str], first: bool) -> str:
    """Every document matching `where` with its score, a page of them in `order`, their
    number (total) and how many have every wanted word (every_word).

    `had`: for each word written side by side, whether a document has it (over `s.gs`,
    the groups the document holds); each counts `coordination`, and with `first` the
    documents with all of them come before any other.
    """
    has = [f"coalesce({h}, false)" for h in had]
    every = " AND ".join(has) if has else "false"
    count = " + ".join(f"{h}::int" for h in has) if has else "0"
    bonus = f"CASE WHEN {every} THEN {EVERY_WORD_BONUS} ELSE 0 END" if first else "0"
    dl = " + ".join(f"d.{f}_len * :w_{f}" for f in FIELDS)
    tf = " + ".join(f"p.{f}_tf * q.{c}" for f, c in zip(FIELDS, "abcd", strict=True))
    return f"""
        WITH m AS (
            SELECT d.document_id, d.date_key, d.title_sort, {dl} AS dl
            FROM search_pg_documents d WHERE {where}
        ),
        q AS (
            SELECT * FROM unnest(CAST(:q_g AS int[]), CAST(:q_lexeme AS text[]),
                CAST(:q_weight AS float8[]), CAST(:q_a AS float8[]), CAST(:q_b AS float8[]),
                CAST(:q_c AS float8[]), CAST(:q_d AS float8[]))
                AS q(g, lexeme, weight, a, b, c, d)
        ),
        tf AS (
            SELECT p.document_id, q.g, max(q.weight) AS weight, sum({tf}) AS tf
            FROM q JOIN search_pg_postings p ON p.lexeme = q.lexeme
            GROUP BY p.document_id, q.g
        ),
        s AS (
            SELECT tf.document_id, array_agg(tf.g) AS gs,
                   sum(tf.weight * tf.tf * (:k1 + 1)
                       / (tf.tf + :k1 * (1 - :b + :b * m.dl / :avgdl))) AS bm25
            FROM tf JOIN m ON m.document_id = tf.document_id
            WHERE tf.tf > 0
            GROUP BY tf.document_id
        ),
        r AS (
            SELECT m.document_id, m.date_key, m.title_sort, {every} AS every,
                   coalesce(s.bm25, 0) + :coordination * ({count}) + {bonus} AS score
            FROM m LEFT JOIN s ON s.document_id = m.document_id
        )
        SELECT document_id, score, count(*) OVER () AS total,
               count(*) FILTER (WHERE every) OVER () AS every_word
        FROM r ORDER BY {order} LIMIT :limit OFFSET :offset
    """


def ranked_params(groups: list[Group], stats: Stats, r: Ranking) -> dict[str, Any]:
    return {
        **scored(groups, r),
        **{f"w_{f}": w for f, w in zip(FIELDS, weights(r), strict=True)},
        "k1": r.k1,
        "b": r.b,
        "avgdl": stats.avgdl(r),
        "coordination": r.coordination,
    }


async def feedback(
    session: AsyncSession,
    top: list[tuple[int, float]],
    asked: set[str],
    stats: Stats,
    r: Ranking,
) -> list[Group]:
    """Pseudo-relevance feedback for a question in many words: the lexemes that stand out
    in the best few matches (frequent there, rare in the library), as optional words
    weighted by how much they stand out. The same documents, a better order."""
    top = top[: r.feedback_docs]
    if len(top) < 2 or stats.documents < 2:
        return []
    best = top[0][1] or 1.0
    tf = " + ".join(f"p.{f}_tf * :w_{f}" for f in FIELDS)
    dl = " + ".join(f"d.{f}_len * :w_{f}" for f in FIELDS)
    rows = await sql(
        session,
        text(
            f"""
            WITH top AS (
                SELECT * FROM unnest(CAST(:ids AS int[]), CAST(:shares AS float8[]))
                    AS t(document_id, share)
            )
            SELECT p.lexeme, l.ndoc,
                   sum(top.share * ({tf}) / greatest({dl}, 1)) * ln(:n / l.ndoc) AS w
            FROM top
            JOIN search_pg_documents d ON d.document_id = top.document_id
            JOIN search_pg_postings p ON p.document_id = top.document_id
            JOIN search_pg_lexemes l ON l.lexeme = p.lexeme
            WHERE l.ndoc >= 2 AND length(p.lexeme) > 2 AND p.lexeme !~ '^[0-9]+$'
              AND NOT (p.lexeme = ANY(CAST(:skip AS text[])))
            GROUP BY p.lexeme, l.ndoc
            ORDER BY w DESC, p.lexeme LIMIT :k
            """
        ).bindparams(
            ids=[d for d, _ in top],
            shares=[s / best for _, s in top],
            n=float(stats.documents),
            skip=sorted(asked | ENGLISH_STOPWORDS),
            k=r.feedback_words,
            **{f"w_{f}": w for f, w in zip(FIELDS, weights(r), strict=True)},
        ),
    )
    chosen = rows.all()
    if not chosen or chosen[0][2] <= 0:
        return []
    top_weight = float(chosen[0][2])
    return [
        Group(
            lexemes=[lexeme],
            boost=r.feedback_weight * float(w) / top_weight,
            idf=idf(stats.documents, int(ndoc)),
        )
        for lexeme, ndoc, w in chosen
    ]
