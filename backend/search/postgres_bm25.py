"""BM25 for the PostgreSQL engine, from its own tables (filled and kept by
backend/search/postgres_documents.py: postings with counts per field class, lengths per
field class, document frequencies, totals).

Every word of the query becomes a `Group`: the lexemes it may be indexed as (its stem in
each configuration in use, a prefix's completions, the near spellings of a word no
document has). A document's score for a group is BM25 over the whole record (the word's
count and the length summed over every field class) at the body's weight, plus BM25 in
each named field class (title, people, description; its own length against the field's
average length) times that field's weight, the best fully and the others by
`tie_breaker` (as tantivy scores its fields). The field weights, k1, b and the tie
breaker are read from `ranking.current("postgres")` at query time, not baked into the
stored counts, so the benchmark may change them without re-indexing.

Proximity (`proximity`, `proximity_slop`): word positions are only in each document's
tsvector, and reading them for every document found would cost more than the whole
search; so the best NEAR_DOCUMENTS documents are ordered again, each pair of neighbouring
words of the query within the slop (in order) adding proximity x BM25 of the pair (its
words' IDFs, one occurrence, the document's length), as tantivy's engine scores a sloppy
phrase. The documents after them keep their order (the bonus only raises a score). This
engine does not use `feedback_chars` (feedback reads postings, which cover the whole
document).
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
# What the facets count, carried in `m` when they are counted with the ranking.
FACET_COLUMNS = ", d.collection_id, d.authors, d.subjects, d.year, d.type, d.language"
MASK_BITS = 63  # the first groups of a query each have a bit of a bigint
NEAR_DOCUMENTS = 100  # the best documents proximity orders again
NEAR_FORMS = 2  # a word's forms (its stems, a prefix's completions) paired, at most
# A lexeme in a tsquery's text: 'it''s', and :* after a prefix.
_ONE_BIT = re.compile(r"\(\(s\.mask & (\d+)\) <> 0\)")  # a word's presence as one bit
_LEXEME = re.compile(r"'((?:[^'\\]|''|\\.)*)'(:\*)?")


@dataclass
class Group:
    """One word of the query as it is scored: the lexemes it may be indexed as."""

    tsquery: str = ""  # SQL for a tsquery holding the word's forms (empty: lexemes given)
    title_only: bool = False  # title:word counts only the title's occurrences
    boost: float = 1.0
    lexemes: list[str] = field(default_factory=list)
    idf: float = 0.0
    # The OR it is one alternative of ("e-mail": "e mail" or "email"): the same word
    # found by two alternatives ("Nam's": "nam" or "nams") counts once.
    alternatives: int | None = None


@dataclass
class Stats:
    documents: int = 0
    lengths: tuple[int, int, int, int] = (0, 0, 0, 0)  # words per field class, all documents


def weights(r: Ranking) -> tuple[float, float, float, float]:
    return (r.title, r.people, r.description, r.body)


def idf(documents: int, df: int) -> float:
    """BM25's inverse document frequency as Lucene and tantivy have it (never negative)."""
    return math.log(1 + (documents - df + 0.5) / (df + 0.5))


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
    seen: set[tuple[int, bool, tuple[str, ...]]] = set()
    for g in groups:
        g.lexemes = [w for w in g.lexemes if df.get(w)]
        # A word's forms are one word: the most frequent form stands for all of them.
        g.idf = idf(stats.documents, max(df[w] for w in g.lexemes)) if g.lexemes else 0.0
        if g.alternatives is not None:
            key = (g.alternatives, g.title_only, tuple(sorted(g.lexemes)))
            if key in seen:
                g.boost = 0.0  # still tells which documents have it, adds no score
            seen.add(key)
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


def ranked_sql(
    where: str,
    order: str,
    key: str | None,
    had: list[str],
    first: bool,
    feedback: bool,
    facets: list[str] | None = None,
    coordination: bool = True,
    present: tuple[bool, ...] = (True,) * len(FIELDS),
    near: bool = False,
) -> str:
    """Every document matching `where` with its score, a page of them in `order`, their
    number (total) and how many have every wanted word (every_word). `key`: the column
    `order` sorts on besides the score (date_key, title_sort), carried along. `facets`:
    statements counting facet values over `m` (the documents found), whose rows come
    back as JSON beside the first hit: one pass over the documents for both. `coordination`:
    whether the bonus is on; `present`: which field classes some document has.

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
    a little more than one with a single form. Per posting and field, BM25 is written
    w·tf/(tf+K) with K = k1·(1 − b + b·len/avglen) made once per document (idf and k1+1
    are in w).
    """
    # A word that is one bit of the mask (most are) is counted with the others in one
    # bit_count; phrases, OR groups and the words past the mask's bits one by one.
    one = {h: int(m.group(1)) for h in had if (m := _ONE_BIT.fullmatch(h))}
    one = {h: b for h, b in one.items() if b & (b - 1) == 0}
    bits = sum(set(one.values()))
    others = [f"coalesce({h}, false)" for h in had if h not in one]
    every = " AND ".join(([f"(s.mask & {bits}) = {bits}"] if bits else []) + others) or "false"
    count = " + ".join(
        ([f"bit_count(CAST(s.mask & {bits} AS bit(64)))"] if bits else [])
        + [f"{h}::int" for h in others]
    )
    count = f":coordination * ({count})" if coordination and count else "0"
    bonus = f"CASE WHEN {every} THEN {EVERY_WORD_BONUS} ELSE 0 END" if first else "0"
    dl = " + ".join(f"d.{f}_len * :w_{f}" for f in FIELDS)
    weighted = " + ".join(f"p.{f}_tf * :w_{f}" for f in FIELDS)
    # Field classes no document has (no descriptions, say) are left out of the sums.
    used = [(f, c) for f, c, n in zip(FIELDS, "abcd", present, strict=True) if n] or [("body", "d")]
    # The whole record is one text (its length and the word's count over every field
    # class), scored with the body's weight; a named field (title, people, description)
    # adds its weight's worth of its own BM25, the best one fully, the others by :tie.
    whole_len = " + ".join(f"d.{f}_len" for f, _ in used)
    ks = ", ".join(
        [f":k1 * (1 - :b + :b * d.{f}_len / :avg_{f}) AS k_{f}" for f, _ in used if f != "body"]
        + [f":k1 * (1 - :b + :b * ({whole_len}) / :avg_whole) AS k_whole"]
    )
    tf = "(" + " + ".join(f"p.{f}_tf" for f, _ in used) + ")"
    whole = f"(q.d * {tf} / ({tf} + m.k_whole))"
    named = [f"(q.{c} * p.{f}_tf / (p.{f}_tf + m.k_{f}))" for f, c in used if f != "body"]

    def best_of(xs: list[str]) -> str:
        best = "greatest(" + ", ".join(xs) + ")"
        return f"({best} + :tie * ({' + '.join(xs)} - {best}))" if len(xs) > 1 else xs[0]

    score = f"({whole} + {best_of(named)})" if named else whole
    # In the big union each part is a column, made once per posting, and the best-field
    # sum is taken over the columns (SQL would work each part out twice).
    parts = ", ".join(f"{x} AS x{i}" for i, x in enumerate([whole, *named]))
    no_parts = ", ".join(f"0::float8 AS x{i}" for i in range(1 + len(named)))
    xs = [f"u.x{i}" for i in range(1, 1 + len(named))]
    united = f"(u.x0 + {best_of(xs)})" if xs else "u.x0"
    gs = (
        ", array_agg(u.g) FILTER (WHERE u.bit = 0 AND u.g IS NOT NULL) AS gs"
        if "s.gs" in every
        else ""
    )
    # Only what is needed is carried: every column widens the rows hashed per posting.
    carry, carried, kept = (
        (f", d.{key}", f", max(u.{key}) AS {key}", f", s.{key}") if key else ("", "", "")
    )
    lengths = f", {dl} AS dl" if feedback else ""
    statement = f"""
        WITH m AS MATERIALIZED (
            SELECT d.document_id{carry}{lengths}, {ks}{FACET_COLUMNS if facets else ""}
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
            SELECT u.document_id{carried}, bit_or(u.bit) AS mask{gs},
                   sum(u.weight * {united}) AS bm25
            FROM (
                SELECT m.document_id{carry.replace("d.", "m.")}, 0::bigint AS bit,
                       NULL::int AS g, 0::float8 AS weight, {no_parts}
                FROM m
                UNION ALL
                SELECT p.document_id{", NULL" if key else ""}, q.bit, q.g, q.weight, {parts}
                FROM q JOIN search_pg_postings p ON p.lexeme = q.lexeme
                JOIN m ON m.document_id = p.document_id
            ) u
            GROUP BY u.document_id
        ),
        r AS (
            SELECT s.document_id{kept}, {every} AS every,
                   s.bm25 + {count} + {bonus} AS score
            FROM s
        )
    """
    if feedback:  # (relevance only: no key to carry)
        statement += f""",
        top AS MATERIALIZED (
            SELECT r.document_id,
                   power(greatest(r.score, 0) / nullif(max(r.score) OVER (), 0), :fb_focus)
                       AS share
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
            SELECT p.document_id, sum(q.weight * {score}) AS extra
            FROM fq q JOIN search_pg_postings p ON p.lexeme = q.lexeme
            JOIN m ON m.document_id = p.document_id
            GROUP BY p.document_id
        ),
        ranked AS (
            SELECT u.document_id, bool_or(u.every) AS every, sum(u.score) AS score
            FROM (
                SELECT document_id, every, score FROM r
                UNION ALL
                SELECT document_id, NULL, extra FROM f
            ) u
            GROUP BY u.document_id
        )
        """
    src = "ranked" if feedback else "r"
    if near:  # (relevance only, like feedback)
        statement += f""",
        near_top AS MATERIALIZED (
            SELECT document_id FROM {src} ORDER BY score DESC, document_id LIMIT :near_docs
        ),
        near AS MATERIALIZED (
            SELECT t.document_id, sum(n.weight / (1 + m.k_whole)) AS extra
            FROM near_top t JOIN m ON m.document_id = t.document_id
            JOIN search_pg_documents d ON d.document_id = t.document_id
            JOIN unnest(CAST(:near_q AS tsquery[]), CAST(:near_w AS float8[])) AS n(q, weight)
              ON d.tsv @@ n.q
            GROUP BY t.document_id
        ),
        final AS (
            SELECT u.document_id, bool_or(u.every) AS every, sum(u.score) AS score
            FROM (
                SELECT document_id, every, score FROM {src}
                UNION ALL
                SELECT document_id, NULL, extra FROM near
            ) u
            GROUP BY u.document_id
        )
        """
        src = "final"
    counted = (
        "(SELECT json_agg(json_build_array(facet, v, n)) FROM ("
        + " UNION ALL ".join(facets)
        + ") f)"
        if facets
        else "NULL"
    )
    return (
        statement
        + f"""
        SELECT page.*,
               CASE WHEN row_number() OVER (ORDER BY {order}) = 1 THEN {counted} END AS facets
        FROM (
            SELECT document_id, score{f", {key}" if key else ""}, count(*) OVER () AS total,
                   count(*) FILTER (WHERE every) OVER () AS every_word
            FROM {src} ORDER BY {order} LIMIT :limit OFFSET :offset
        ) page
        ORDER BY {order}
        """
    )


def _lexeme(word: str) -> str:
    """A lexeme as a tsquery operand, taken as it is."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def near_params(groups: list[Group], pairs: list[tuple[int, int]], r: Ranking) -> dict[str, Any]:
    """For `ranked_sql(near=True)`: a tsquery per pair of neighbouring words (the first
    within `proximity_slop` positions before the second) and its weight."""
    queries, weights = [], []
    for a, b in pairs:
        ga, gb = groups[a], groups[b]
        if not ga.lexemes or not gb.lexemes or not (ga.boost and gb.boost):
            continue
        forms = [
            f"{_lexeme(x)} <{n}> {_lexeme(y)}"
            for x in ga.lexemes[:NEAR_FORMS]
            for y in gb.lexemes[:NEAR_FORMS]
            for n in range(1, r.proximity_slop + 2)
        ]
        queries.append(" | ".join(forms))
        weights.append(r.proximity * (ga.idf + gb.idf) * (r.k1 + 1))
    return {"near_q": queries, "near_w": weights, "near_docs": NEAR_DOCUMENTS}


def ranked_params(
    groups: list[Group], stats: Stats, r: Ranking, asked: set[str] | None = None
) -> dict[str, Any]:
    """The parameters of `ranked_sql` (with `asked`, the lexemes feedback must not add)."""
    names = ("g", "bit", "lexeme", "weight", "a", "b", "c", "d")
    # One row per lexeme and field weights: a word asked several times (a long question
    # repeats its topic) is read from the postings once, its weights added up and its
    # groups' bits joined (the score is the same sum). A group past the mask's bits keeps
    # a row of its own (its number tells that a document has it).
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for i, g in enumerate(groups):
        # title:word is the title's BM25 alone, at the whole record's weight.
        w = weights(r) if not g.title_only else (r.body, 0.0, 0.0, 0.0)
        bit = 1 << i if i < MASK_BITS else 0
        for lexeme in g.lexemes:
            weight = g.idf * g.boost * (r.k1 + 1)
            key = (lexeme, *w) if bit else (i, lexeme)
            if key in merged:
                merged[key][1] |= bit
                merged[key][3] += weight
            else:
                merged[key] = [i, bit, lexeme, weight, *w]
    rows: dict[str, list[Any]] = {
        k: [row[n] for row in merged.values()] for n, k in enumerate(names)
    }
    params: dict[str, Any] = {
        **{f"q_{k}": v for k, v in rows.items()},
        **{f"w_{f}": w for f, w in zip(FIELDS, weights(r), strict=True)},
        "k1": r.k1,
        "b": r.b,
        "tie": r.tie_breaker,
        **{
            f"avg_{f}": max(n / max(stats.documents, 1), 1.0)
            for f, n in zip(FIELDS, stats.lengths, strict=True)
        },
        "avg_whole": max(sum(stats.lengths) / max(stats.documents, 1), 1.0),
        "coordination": r.coordination,
        "n": float(stats.documents),
    }
    if asked is not None:
        params |= {
            "fb_docs": r.feedback_docs,
            "fb_words": r.feedback_words,
            "fb_weight": r.feedback_weight,
            "fb_focus": r.feedback_focus,
            "fb_skip": sorted(asked | ENGLISH_STOPWORDS),
        }
    return params
