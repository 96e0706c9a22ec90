"""Search: the query box's text, the chosen facets and sort, through the search engine.

The parser reads the text into a tree; the engine (tantivy by default) ranks, filters,
counts facets and highlights. Visibility is part of the engine's query: the collections
the actor may see. The process remembers them per audience (anonymous, each signed-in
member) and checks them on every search, in the statement that reads the hits' rows
(a fingerprint of ids, names and publicity); when they changed, the search runs again
with the new ones, so a collection made private disappears from results at once, and a
search costs one PostgreSQL round trip. In a web process, which hears of every change of
collections and memberships as it commits (backend.access.watch), a scope read since the
last change is trusted without the check: a page of the result cache then costs none.
Snippets are segments, never HTML.
"""

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import (
    ARRAY,
    Integer,
    Select,
    any_,
    bindparam,
    func,
    literal_column,
    text,
)
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import labels, metrics, tracing
from backend.access.scope import (
    audience,
    visible_collection_clause,
    visible_document,
    visible_documents,
)
from backend.analytics import events as analytics
from backend.collections.models import Collection
from backend.db import committed_rows
from backend.errors import NotFound, Unavailable
from backend.search import cache, completion, scopes
from backend.search.engine import FACETS, SORTS, EngineQuery, EngineResult, Sort, opening
from backend.search.engines import get_search_engine
from backend.search.query import open_ended, parse
from backend.search.schemas import FacetValue, Hit, SearchResults
from backend.search.scopes import Scope
from backend.settings import get_settings
from backend.users.models import User

MAX_QUERY_CHARS = 500
_KEY = re.compile(r"[0-9a-f]{32}")
MAX_PAGE = 1000
MAX_PAGE_SIZE = 1000  # for reports and benchmarks; the page uses the setting


def plain_query(query: str) -> str:
    """The words as searched: whitespace runs made one space, at most MAX_QUERY_CHARS."""
    return " ".join(query.split())[:MAX_QUERY_CHARS]


def search_address(
    query: str, filters: dict[str, list[str]] | None = None, sort: str = "relevance", page: int = 1
) -> str:
    """The search page's (relative) address that runs this search."""
    params: list[tuple[str, str | int]] = [("q", query)]
    for facet in FACETS:
        params.extend((facet, v) for v in (filters or {}).get(facet, []))
    if sort != "relevance":
        params.append(("sort", sort))
    if page > 1:
        params.append(("page", page))
    return "/search?" + urlencode(params)


def clean_filters(filters: dict[str, list[str]] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, values in (filters or {}).items():
        if name in FACETS:
            kept = list(dict.fromkeys(v.strip()[:200] for v in values if v.strip()))[:20]
            if kept:
                out[name] = kept
    return out


def _count(*, cached: bool, typing: bool, ms: float) -> None:
    label = "yes" if cached else "no"
    metrics.SEARCHES.labels(label, "yes" if typing else "no").inc()
    metrics.SEARCH_SECONDS.labels(label).observe(ms / 1000)


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
    within: Sequence[int] | None = None,
) -> SearchResults:
    """Ranked documents matching `query` and `filters` that the actor may see.

    `typing`: a search made while the words are still being typed; it is recorded as such
    and does not count towards the frequent queries that autocomplete offers. `client`:
    the searcher's address, which tells visitors apart for those counts (never stored).
    `snippets`: False where only the order is wanted (bench/relevance). `within`: only
    these documents (a saved search's alert asks which new documents match); never
    cached."""
    started = time.perf_counter()
    q = plain_query(query)
    size = min(max(1, page_size), MAX_PAGE_SIZE) if page_size else get_settings().search_page_size
    page = min(max(1, page), MAX_PAGE)
    chosen = clean_filters(filters)
    order: Sort = sort if sort in SORTS else "relevance"
    # While typing, the word being typed is a prefix; "did you mean" waits for it to end.
    typed = open_ended(q) if typing and not query[-1:].isspace() else None
    parsed = parse(typed or q)
    empty = SearchResults(
        query=q, total=0, page=page, page_size=size, filters=chosen, sort=order, notes=parsed.notes
    )
    if parsed.tree is None and not chosen:
        return empty
    known = scopes.remembered(actor)
    scope = known or await scopes.read(session, actor)
    # A remembered scope is a guess until PostgreSQL confirms it, in the same statement
    # as the hits' rows (or, for a cached page, alone): a collection made private, or a
    # membership ended, never shows, and a search costs one round trip, not two. Unless
    # no change was notified since it was read (backend.access.watch): then a cached page
    # costs no round trip at all. (Not in a transaction that may have changed it.)
    guessed = known is not None and not scopes.trusted(session, known)

    def cache_key(scope: Scope) -> str:
        return cache.key(
            q=parsed.read_as,
            filters=chosen,
            sort=order,
            page=page,
            size=size,
            scope=cache.scope_key(scope.ids),
            snippets=snippets,
        )

    gen: str | None = None
    if use_cache and within is None:
        for _ in range(2):
            gen, cached = await cache.lookup(cache_key(scope))
            if cached is None or not guessed:
                break
            fresh, guessed = await scopes.read(session, actor), False
            if fresh.fingerprint == scope.fingerprint:
                break
            scope, cached = fresh, None  # and look again, under the right scope
        if cached is not None:
            took = (time.perf_counter() - started) * 1000
            _count(cached=True, typing=typing, ms=took)
            key = ""
            if record:
                key = await _record(
                    scope, actor, q, cached.total, took, page, chosen, order, True, typing, client
                )
            return replace(cached, query=q, notes=parsed.notes, took_ms=took, search_key=key)
    while True:
        engine = get_search_engine()
        asked = EngineQuery(
            tree=parsed.tree,
            collections=scope.ids,
            filters=chosen,
            sort=order,
            offset=(page - 1) * size,
            limit=size,
            snippets=snippets,
            within=None if within is None else list(within),
        )
        with tracing.span("search.engine", **{"library.search.engine": engine.name}):
            found = await engine.search(asked)
            if typed and found.total == 0:
                # No word begins as the one being typed does: perhaps it is misspelt. Read
                # as typed, near spellings count too ("ligthous" finds "lighthouse").
                found = await engine.search(replace(asked, tree=parse(q).tree))
        mark = scopes.mark_for(session) if guessed else None
        rows = await _rows(session, actor, found, chosen, scope, check=guessed)
        if not guessed or rows.fingerprint == scope.fingerprint:
            if guessed and mark is not None:  # confirmed: trusted from now on
                scopes.remember(actor, replace(scope, mark=mark))
            break
        scope, guessed = await scopes.read(session, actor), False  # it changed: search again
    hits, facets = rows.hits, _facets(found.facets, chosen, rows.labels)
    took = (time.perf_counter() - started) * 1000
    _count(cached=False, typing=typing, ms=took)
    key = ""
    if record:
        key = await _record(
            scope, actor, q, found.total, took, page, chosen, order, False, typing, client
        )
    results = replace(
        empty,
        total=found.total,
        every_word=found.every_word,
        hits=hits,
        took_ms=took,
        facets=facets,
        read_as=parsed.read_as,
        suggestion=found.suggestion if found.suggestion != parsed.read_as and not typed else None,
    )
    if gen is not None:  # (under the scope searched, not the one guessed)
        await cache.put(cache_key(scope), gen, results)
    return replace(results, search_key=key)  # (each search its own, never cached)


async def _record(
    scope: Scope,
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
) -> str:
    """Count the search for autocomplete and record its event; returns the event's key.
    `scope`: what the actor may see, as checked by the search."""
    if not typing:
        completion.count_search(
            actor=actor, client=client, query=q, found=total, only_public=scope.only_public
        )
    key = await analytics.record(
        kind="search",
        actor=actor,
        query=q,
        result_count=total,
        duration_ms=took,
        data={"page": page, "filters": chosen, "sort": order, "cached": cached, "typing": typing},
        client=client,
    )
    return key.hex


@dataclass
class _Rows:
    hits: list[Hit]
    labels: dict[str, str]  # collection id -> name, for the collection facet
    fingerprint: str | None  # of the actor's visible collections now, when checked


HIT_ROWS = """
    SELECT d.id, d.title, c.name AS cname, c.slug AS cslug, d.year, d.kind,
           ARRAY(SELECT p.name FROM document_people p
                 WHERE p.document_id = d.id AND p.role = 'creator'
                 ORDER BY p.position LIMIT 3) AS authors,
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


async def _rows(
    session: AsyncSession,
    actor: User | None,
    found: EngineResult,
    chosen: dict[str, list[str]],
    scope: Scope,
    *,
    check: bool,
) -> _Rows:
    """In one statement: the hits' rows, the names of the collections in the collection
    facet (staff, who see them all; anyone else's are in their scope) and, when `check`,
    the fingerprint of the collections the actor may see now."""
    label_ids = _label_ids(found.facets, chosen, scope)
    named = scope.ids is None and bool(label_ids)
    stmt = _rows_statement(actor, check=check, named=named)
    params = {
        "ids": [h.document_id for h in found.hits],
        "bare": [h.document_id for h in found.hits if not h.snippet],  # these need an opening
        "label_ids": label_ids,
    }
    # (db.committed_rows: Core, not the ORM, outside any transaction: on every search)
    row: Any = (await committed_rows(session, stmt, params))[0]
    by_id = {r["id"]: r for r in row[0] or []}
    hits = []
    for h in found.hits:
        r = by_id.get(h.document_id)
        if r is None:  # deleted since the engine last heard of it
            continue
        hits.append(
            Hit(
                document_id=r["id"],
                title=r["title"],
                collection_name=r["cname"],
                collection_slug=r["cslug"],
                page_no=h.page_no,
                snippet=h.snippet or opening([r["head"]], r["description"]),
                rank=h.score,
                has_thumbnail=bool(r["has_thumbnail"]),
                authors=list(r["authors"] or []),
                year=r["year"],
                kind=r["kind"] or "",
            )
        )
    if scope.ids is None:
        names = dict(row[-1] or {}) if named else {}
    else:
        names = {str(i): scope.names[i] for i in label_ids}
    return _Rows(hits, names, row[1] if check else None)


def _rows_statement(actor: User | None, *, check: bool, named: bool) -> Select[Any]:
    """_rows' statement (values: ids, bare, label_ids)."""

    def build() -> Select[Any]:
        hit_rows = text(HIT_ROWS).columns().subquery("h")
        columns: list[Any] = [
            select(func.json_agg(literal_column("h"))).select_from(hit_rows).scalar_subquery()
        ]
        if check:
            visible = select(scopes.fingerprint()).where(visible_collection_clause(actor))
            columns.append(visible.scalar_subquery())
        if named:
            label_ids = bindparam("label_ids", type_=ARRAY(Integer))
            columns.append(
                select(func.json_object_agg(Collection.id, Collection.name))
                .where(col(Collection.id) == any_(label_ids))
                .scalar_subquery()
            )
        return select(*columns)

    return scopes.statement(("rows", audience(actor), check, named), build)


def _label_ids(
    counts: dict[str, list[tuple[str, int]]], chosen: dict[str, list[str]], scope: Scope
) -> list[int]:
    """The collections the facet names: never one the actor may not see."""
    ids = [int(v) for v, _ in counts.get("collection", []) if v.isdigit()]
    ids += [int(v) for v in chosen.get("collection", []) if v.isdigit()]
    if scope.ids is not None:
        ids = [i for i in ids if i in scope.names]
    return list(dict.fromkeys(ids))


def _facets(
    counts: dict[str, list[tuple[str, int]]], chosen: dict[str, list[str]], names: dict[str, str]
) -> dict[str, list[FacetValue]]:
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


def _label(facet: str, value: str, names: dict[str, str]) -> str:
    if facet == "collection":
        return names.get(value, "(a collection)")
    return labels.facet(facet, value)


async def record_click(
    *,
    session: AsyncSession,
    actor: User | None,
    query: str,
    document_id: int,
    rank: int,
    search_key: str = "",
) -> bool:
    """Record that a search result was opened, and its rank; only for a document the actor
    may see (anything else is ignored). `search_key`: the search's (SearchResults'), which
    tells the click-through rate and the rank of each search's first click."""
    found = await visible_document(session, actor, document_id) if rank >= 1 else None
    if found is None:
        return False
    await analytics.record(
        kind="search_click",
        actor=actor,
        document_id=document_id,
        collection_id=found[1].id,
        query=plain_query(query),
        data={"rank": rank, "search": search_key} if _KEY.fullmatch(search_key) else {"rank": rank},
    )
    return True


async def similar(
    *,
    session: AsyncSession,
    actor: User | None,
    document_id: int,
    limit: int = 6,
    leave_out: Sequence[int] = (),
) -> list[tuple[int, str]]:
    """ "More like this" for a document the actor may see: (id, title) of the documents
    that share its significant words, by the search engine's own term statistics, that
    the actor may see; not those in `leave_out` (already shown as related). Nothing when
    the engine is away or cannot say (the page keeps its related documents)."""
    if await visible_document(session, actor, document_id) is None:
        raise NotFound("No such document.")
    scope = await scopes.current(session, actor)
    try:
        with tracing.span("search.similar"):
            ids = await get_search_engine().similar(document_id, scope.ids, limit + len(leave_out))
    except Unavailable:
        return []
    found = await visible_documents(session, actor, ids)
    kept = [i for i in ids if i in found and i not in leave_out]
    return [(i, found[i][0].title) for i in kept[:limit]]
