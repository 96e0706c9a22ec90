"""Full-text search with PostgreSQL (this slice's engine; the search issue brings others).

Visibility is part of the SQL statement, never a filter applied to results afterwards.
Snippets come back as segments, never as HTML, so no document markup can reach a page.
"""

import time

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics import service as analytics
from backend.auth.permissions import is_staff
from backend.search.schemas import Hit, SearchResults, Segment
from backend.settings import get_settings
from backend.users.models import User

START, STOP = "\ue000", "\ue001"
HEADLINE_OPTIONS = (
    f'StartSel="{START}", StopSel="{STOP}", MaxWords=40, MinWords=15, '
    'MaxFragments=2, FragmentDelimiter=" … "'
)
MAX_QUERY_CHARS = 500

_VISIBLE = """
    (:staff OR c.is_public OR EXISTS (
        SELECT 1 FROM collection_members m WHERE m.collection_id = c.id AND m.user_id = :uid))
"""

_COUNT_SQL = f"""
    SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id
    WHERE d.search_vector @@ websearch_to_tsquery('english', unaccent(:q)) AND {_VISIBLE}
"""

_PAGE_SQL = f"""
    WITH q AS (SELECT websearch_to_tsquery('english', unaccent(:q)) AS tsq),
    top AS (
        SELECT d.id, d.title, d.current_version_id, c.name AS cname, c.slug AS cslug,
               ts_rank(d.search_vector, q.tsq) AS rank
        FROM documents d JOIN collections c ON c.id = d.collection_id, q
        WHERE d.search_vector @@ q.tsq AND {_VISIBLE}
        ORDER BY rank DESC, d.id
        LIMIT :limit OFFSET :offset
    )
    SELECT top.id, top.title, top.cname, top.cslug, top.rank, best.page_no,
           coalesce(best.snippet, first.snippet, '') AS snippet,
           coalesce((SELECT v.thumbnail_key <> '' FROM document_versions v
                     WHERE v.id = top.current_version_id), false) AS has_thumbnail
    FROM top, q
    LEFT JOIN LATERAL (
        SELECT p.page_no, ts_headline('english', p.text, q.tsq, :opts) AS snippet
        FROM document_pages p
        WHERE p.version_id = top.current_version_id
          AND to_tsvector('english', unaccent(p.text)) @@ q.tsq
        ORDER BY ts_rank(to_tsvector('english', unaccent(p.text)), q.tsq) DESC, p.page_no
        LIMIT 1
    ) best ON true
    LEFT JOIN LATERAL (
        SELECT left(p.text, 300) AS snippet FROM document_pages p
        WHERE p.version_id = top.current_version_id ORDER BY p.page_no LIMIT 1
    ) first ON true
    ORDER BY top.rank DESC, top.id
"""


def segments(snippet: str) -> list[Segment]:
    """Split a ts_headline result at its private-use markers."""
    out: list[Segment] = []
    rest = " ".join(snippet.split())
    while rest:
        start = rest.find(START)
        if start < 0:
            out.append(Segment(rest, False))
            break
        if start > 0:
            out.append(Segment(rest[:start], False))
        stop = rest.find(STOP, start)
        if stop < 0:
            stop = len(rest)
        out.append(Segment(rest[start + 1 : stop], True))
        rest = rest[stop + 1 :]
    return [s for s in out if s.text]


async def search(
    *, session: AsyncSession, actor: User | None, query: str, page: int = 1
) -> SearchResults:
    """Ranked documents matching `query` that the actor may see, with highlighted snippets."""
    started = time.perf_counter()
    q = " ".join(query.split())[:MAX_QUERY_CHARS]
    size = get_settings().search_page_size
    page = max(1, page)
    if not q:
        return SearchResults(query=q, total=0, page=page, page_size=size)
    params = {
        "q": q,
        "staff": is_staff(actor),
        "uid": actor.id if actor and actor.is_active else -1,
    }
    total = int((await session.exec(text(_COUNT_SQL).bindparams(**params))).scalar_one())
    hits: list[Hit] = []
    if total:
        rows = await session.exec(
            text(_PAGE_SQL).bindparams(
                **params, limit=size, offset=(page - 1) * size, opts=HEADLINE_OPTIONS
            )
        )
        hits = [
            Hit(
                document_id=r.id,
                title=r.title,
                collection_name=r.cname,
                collection_slug=r.cslug,
                page_no=r.page_no,
                snippet=segments(r.snippet),
                rank=float(r.rank),
                has_thumbnail=bool(r.has_thumbnail),
            )
            for r in rows.all()
        ]
    took = (time.perf_counter() - started) * 1000
    await analytics.record(
        session=session,
        kind="search",
        actor=actor,
        query=q,
        result_count=total,
        duration_ms=took,
        data={"page": page},
    )
    return SearchResults(query=q, total=total, page=page, page_size=size, hits=hits, took_ms=took)
