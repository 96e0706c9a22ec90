"""Search: the query box's text, the chosen facets and sort, through the search engine.

The parser reads the text into a tree; the engine (tantivy by default) ranks, filters,
counts facets and highlights. Visibility is part of the engine's query: the collections
the actor may see are read from PostgreSQL on every search, so a collection made private
disappears from results at once. Snippets are segments, never HTML.
"""

import time
from dataclasses import replace

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import is_staff
from backend.access.scope import visible_collection_clause, visible_document
from backend.analytics import service as analytics
from backend.collections.models import Collection
from backend.languages import language_name
from backend.search import cache, completion
from backend.search.engine import FACETS, SORTS, EngineHit, EngineQuery, Sort, opening
from backend.search.engines import get_search_engine
from backend.search.query import parse
from backend.search.schemas import FacetValue, Hit, SearchResults
from backend.settings import get_settings
from backend.users.models import User

MAX_QUERY_CHARS = 500
MAX_PAGE = 1000
MAX_PAGE_SIZE = 1000  # for reports and benchmarks; the page uses the setting
TYPE_NAMES = {"pdf": "PDF", "docx": "Word", "odt": "OpenDocument", "epub": "EPUB", "html": "HTML"}


async def visible_collections(session: AsyncSession, actor: User | None) -> list[int] | None:
    """The ids of the collections the actor may see; None for staff, who see them all."""
    scope, _ = await _visible(session, actor)
    return scope


async def _visible(
    session: AsyncSession, actor: User | None
) -> tuple[list[int] | None, dict[int, str]]:
    """The visible collections' ids (None for staff) and their names, in one query."""
    if is_staff(actor):
        return None, {}
    conn = await session.connection()  # Core, not the ORM: this runs on every search
    rows = await conn.execute(
        select(Collection.id, Collection.name).where(visible_collection_clause(actor))
    )
    names = {i: n for i, n in rows.all() if i is not None}
    return list(names), names


def clean_filters(filters: dict[str, list[str]] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, values in (filters or {}).items():
        if name in FACETS:
            kept = list(dict.fromkeys(v.strip()[:200] for v in values if v.strip()))[:20]
            if kept:
                out[name] = kept
    return out


async def search(
    *,
    session: AsyncSession,
    actor: User | None,
    query: str,
    page: int = 1,
    filters: dict[str, list[str]] | None = None,
    sort: str = "relevance",
    record: bool = True,
    page_size: int | None = None,
    use_cache: bool = True,
    typing: bool = False,
    client: str = "",
    snippets: bool = True,
) -> SearchResults:
    """Ranked documents matching `query` and `filters` that the actor may see.

    `typing`: a search made while the words are still being typed; it is recorded as such
    and does not count towards the frequent queries that autocomplete offers. `client`:
    the searcher's address, which tells visitors apart for those counts (never stored).
    `snippets`: False where only the order is wanted (bench/relevance)."""
    started = time.perf_counter()
    q = " ".join(query.split())[:MAX_QUERY_CHARS]
    size = min(max(1, page_size), MAX_PAGE_SIZE) if page_size else get_settings().search_page_size
    page = min(max(1, page), MAX_PAGE)
    chosen = clean_filters(filters)
    order: Sort = sort if sort in SORTS else "relevance"
    parsed = parse(q)
    empty = SearchResults(
        query=q, total=0, page=page, page_size=size, filters=chosen, sort=order, notes=parsed.notes
    )
    if parsed.tree is None and not chosen:
        return empty
    scope, names = await _visible(session, actor)
    gen = await cache.generation() if use_cache else None
    cache_key = None
    if gen is not None:
        cache_key = cache.key(
            gen,
            q=parsed.read_as,
            filters=chosen,
            sort=order,
            page=page,
            size=size,
            scope=cache.scope_key(scope),
            snippets=snippets,
        )
        cached = await cache.get(cache_key)
        if cached is not None:
            took = (time.perf_counter() - started) * 1000
            if record:
                await _record(
                    session, actor, q, cached.total, took, page, chosen, order, True, typing, client
                )
            return replace(cached, query=q, notes=parsed.notes, took_ms=took)
    found = await get_search_engine().search(
        EngineQuery(
            tree=parsed.tree,
            collections=scope,
            filters=chosen,
            sort=order,
            offset=(page - 1) * size,
            limit=size,
            snippets=snippets,
        )
    )
    hits = await _hits(session, found.hits)
    facets = await _facets(session, found.facets, chosen, scope, names)
    took = (time.perf_counter() - started) * 1000
    if record:
        await _record(
            session, actor, q, found.total, took, page, chosen, order, False, typing, client
        )
    results = replace(
        empty,
        total=found.total,
        every_word=found.every_word,
        hits=hits,
        took_ms=took,
        facets=facets,
        read_as=parsed.read_as,
        suggestion=found.suggestion if found.suggestion != parsed.read_as else None,
    )
    if cache_key is not None:
        await cache.put(cache_key, results)
    return results


async def _record(
    session: AsyncSession,
    actor: User | None,
    q: str,
    total: int,
    took: float,
    page: int,
    chosen: dict[str, list[str]],
    order: str,
    cached: bool,
    typing: bool,
    client: str,
) -> None:
    if not typing:
        await completion.count_search(
            session=session, actor=actor, client=client, query=q, found=total
        )
    await analytics.record(
        session=session,
        kind="search",
        actor=actor,
        query=q,
        result_count=total,
        duration_ms=took,
        data={"page": page, "filters": chosen, "sort": order, "cached": cached, "typing": typing},
    )


async def _hits(session: AsyncSession, found: list[EngineHit]) -> list[Hit]:
    if not found:
        return []
    conn = await session.connection()
    rows = await conn.execute(
        text(
            """
            SELECT d.id, d.title, c.name AS cname, c.slug AS cslug,
                   coalesce(v.thumbnail_key <> '', false) AS has_thumbnail,
                   coalesce(v.meta->>'description', '') AS description,
                   CASE WHEN d.id = ANY(:bare) THEN
                       coalesce((SELECT left(p.text, 400) FROM document_pages p
                                 WHERE p.version_id = v.id ORDER BY p.page_no LIMIT 1), '')
                   ELSE '' END AS head
            FROM documents d
            JOIN collections c ON c.id = d.collection_id
            LEFT JOIN document_versions v ON v.id = d.current_version_id
            WHERE d.id = ANY(:ids)
            """
        ).bindparams(
            ids=[h.document_id for h in found],
            bare=[h.document_id for h in found if not h.snippet],  # these need an opening
        )
    )
    by_id = {r.id: r for r in rows.all()}
    out = []
    for h in found:
        r = by_id.get(h.document_id)
        if r is None:  # deleted since the engine last heard of it
            continue
        out.append(
            Hit(
                document_id=r.id,
                title=r.title,
                collection_name=r.cname,
                collection_slug=r.cslug,
                page_no=h.page_no,
                snippet=h.snippet or opening([r.head], r.description),
                rank=h.score,
                has_thumbnail=bool(r.has_thumbnail),
            )
        )
    return out


async def _facets(
    session: AsyncSession,
    counts: dict[str, list[tuple[str, int]]],
    chosen: dict[str, list[str]],
    scope: list[int] | None,
    visible_names: dict[int, str],
) -> dict[str, list[FacetValue]]:
    names: dict[str, str] = {}
    ids = [int(v) for v, _ in counts.get("collection", []) if v.isdigit()]
    ids += [int(v) for v in chosen.get("collection", []) if v.isdigit()]
    if scope is not None:  # never name a collection the actor may not see
        ids = [i for i in ids if i in set(scope)]
    if ids:
        names = await _collection_names(session, ids, visible_names)
    out: dict[str, list[FacetValue]] = {}
    for facet in FACETS:
        values = counts.get(facet, [])
        selected = chosen.get(facet, [])
        listed = {v for v, _ in values}
        # A chosen value stays listed (with its count, or 0) so it can be unchosen.
        rows = [*values, *((v, 0) for v in selected if v not in listed)]
        out[facet] = [
            FacetValue(value=v, label=_label(facet, v, names), count=n, selected=v in selected)
            for v, n in rows
        ]
    return out


async def _collection_names(
    session: AsyncSession, ids: list[int], known: dict[int, str]
) -> dict[str, str]:
    """Names for facet labels: those read with the visible collections, else one query."""
    missing = [i for i in ids if i not in known]
    if missing:
        conn = await session.connection()
        stmt = select(Collection.id, Collection.name).where(col(Collection.id).in_(missing))
        known = {**known, **{i: n for i, n in (await conn.execute(stmt)).all() if i is not None}}
    return {str(i): known[i] for i in ids if i in known}


def _label(facet: str, value: str, names: dict[str, str]) -> str:
    if facet == "collection":
        return names.get(value, "(a collection)")
    if facet == "language":
        return language_name(value)
    if facet == "type":
        return TYPE_NAMES.get(value, value.capitalize())
    return value


async def record_click(
    *, session: AsyncSession, actor: User | None, query: str, document_id: int, rank: int
) -> bool:
    """Record that a search result was opened, and its rank; only for a document the actor
    may see (anything else is ignored)."""
    if rank < 1 or await visible_document(session, actor, document_id) is None:
        return False
    await analytics.record(
        session=session,
        kind="search_click",
        actor=actor,
        document_id=document_id,
        query=" ".join(query.split())[:MAX_QUERY_CHARS],
        data={"rank": rank},
    )
    return True
