"""Inside one document: a page's text with a query's words marked, and the pages where
a query's words are, each with a few words around them.

Words match as search matches them: by their stem in the document's language (PostgreSQL's
Snowball configurations, `simple` for a language without one), a word typed with * by
its beginning; excluded words (-word, NOT) are not marked. The marks come from
`ts_headline`, which reads the page as `to_tsvector` does, so the words it marks are the
words that matched."""

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db import sql
from backend.documents.models import DocumentVersion
from backend.documents.service import PageText, _pictured, ready_version
from backend.search.engine import SNOWBALL_LANGUAGES
from backend.search.query import Phrase, Term, parse, positives
from backend.search.schemas import Segment
from backend.users.models import User

START, STOP = "\x02", "\x03"  # marks no extracted text keeps (they are removed first)
MARKED = f"HighlightAll=true, StartSel={START}, StopSel={STOP}"
AROUND = (
    f"MaxFragments=2, MinWords=6, MaxWords=16, StartSel={START}, StopSel={STOP}, "
    'FragmentDelimiter=" … "'
)
MAX_FOUND = 200  # pages listed for one search inside a document
# Characters of one page that are searched and marked: PostgreSQL refuses a tsvector over
# 1 MB, and a text file without page breaks is one page. A longer page is shown unmarked,
# and searched in its first MAX_MARKED characters.
MAX_MARKED = 300_000


@dataclass(frozen=True)
class MarkedPage(PageText):
    segments: list[Segment] | None = None  # the page's text, the query's words marked
    marked: int = 0  # how many words are marked


@dataclass(frozen=True)
class PageFound:
    page_no: int
    around: list[Segment]  # a few words around the matches


@dataclass(frozen=True)
class FoundInside:
    pages: list[PageFound]
    total: int  # pages with a match (more than listed when over MAX_FOUND)


def wanted_words(query: str) -> list[tuple[str, bool]]:
    """The words a query looks for, each with whether it is a prefix (word*); words it
    excludes are not among them."""
    seen: dict[tuple[str, bool], None] = {}
    for leaf in positives(parse(query).tree):
        if isinstance(leaf, Term):
            seen.setdefault((leaf.text, leaf.prefix), None)
        elif isinstance(leaf, Phrase):
            for w in leaf.words:
                seen.setdefault((w, False), None)
    return list(seen)


def ts_query(words: list[tuple[str, bool]]) -> str:
    """The words as a to_tsquery text: each a quoted lexeme (stemmed by the configuration),
    any of them."""

    def lexeme(word: str) -> str:
        return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"

    return " | ".join(lexeme(w) + (":*" if prefix else "") for w, prefix in words)


def config_for(version: DocumentVersion) -> str:
    return SNOWBALL_LANGUAGES.get((version.language or "").lower(), "simple")


def segments(marked: str) -> tuple[list[Segment], int]:
    """ts_headline's text split at its marks; and how many words it marked."""
    out: list[Segment] = []
    count = 0
    for i, part in enumerate(marked.split(START)):
        if i == 0:
            if part:
                out.append(Segment(part.replace(STOP, ""), False))
            continue
        hit, _, rest = part.partition(STOP)
        if hit:
            out.append(Segment(hit, True))
            count += 1
        if rest:
            out.append(Segment(rest, False))
    return out, count


PAGE = text(
    """
    SELECT p.page_no, (SELECT count(*) FROM document_pages c WHERE c.version_id = :v),
           CASE WHEN :tsq = '' OR length(p.text) > :cap THEN translate(p.text, :marks, '')
                ELSE ts_headline(CAST(:cfg AS regconfig), translate(p.text, :marks, ''),
                                 to_tsquery(CAST(:cfg AS regconfig), :tsq), :opts) END
    FROM document_pages p
    WHERE p.version_id = :v AND p.page_no = LEAST(GREATEST(:n, 1),
          (SELECT count(*) FROM document_pages c WHERE c.version_id = :v))
    """
)

FOUND = text(
    """
    WITH q AS (SELECT to_tsquery(CAST(:cfg AS regconfig), :tsq) AS q),
    hit AS (
        SELECT p.page_no, p.text FROM document_pages p, q
        WHERE p.version_id = :v
          AND to_tsvector(CAST(:cfg AS regconfig), left(p.text, :cap)) @@ q.q
    )
    SELECT hit.page_no, count(*) OVER (),
           ts_headline(CAST(:cfg AS regconfig), translate(left(hit.text, :cap), :marks, ''),
                       q.q, :opts)
    FROM hit, q ORDER BY hit.page_no LIMIT :limit
    """
)


async def marked_page(
    *, session: AsyncSession, actor: User | None, document_id: int, page_no: int, query: str
) -> MarkedPage:
    """One page's text (the nearest page there is), the query's words marked, if the actor
    may see the document."""
    version = await ready_version(session, actor, document_id)
    params = {
        "v": version.id,
        "n": page_no,
        "cfg": config_for(version),
        "tsq": ts_query(wanted_words(query)) if query.strip() else "",
        "marks": START + STOP,
        "opts": MARKED,
        "cap": MAX_MARKED,
    }
    row = (await sql(session, PAGE.bindparams(**params))).first()
    if row is None:
        return MarkedPage(page_no=1, page_count=0, text="", page_images=_pictured(version))
    shown, count = segments(row[2] or "")
    return MarkedPage(
        page_no=row[0],
        page_count=row[1],
        text="".join(s.text for s in shown),
        page_images=_pictured(version),
        segments=shown,
        marked=count,
    )


async def find_inside(
    *, session: AsyncSession, actor: User | None, document_id: int, query: str
) -> FoundInside:
    """The pages of the document where the query's words are, in page order, if the actor
    may see the document."""
    version = await ready_version(session, actor, document_id)
    words = wanted_words(query)
    if not words:
        return FoundInside([], 0)
    params = {
        "v": version.id,
        "cfg": config_for(version),
        "tsq": ts_query(words),
        "marks": START + STOP,
        "opts": AROUND,
        "limit": MAX_FOUND,
        "cap": MAX_MARKED,
    }
    rows = (await sql(session, FOUND.bindparams(**params))).all()
    pages = [PageFound(page_no=r[0], around=segments(r[2] or "")[0]) for r in rows]
    return FoundInside(pages, rows[0][1] if rows else 0)
