"""Feeds and maps for readers and crawlers: RSS 2.0 and Atom 1.0 feeds of any search and
of each collection's newest documents (feedgen), `sitemap.xml` (a sitemap index, then
parts of at most 50,000 addresses by document id, as the sitemaps protocol allows), and
`robots.txt` pointing to it. A feed shows what its caller may see: a feed reader, which
sends no token, the public collections."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal
from xml.sax.saxutils import escape

from fastapi import APIRouter, Path, Query, Request, Response
from feedgen.feed import FeedGenerator
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import scope
from backend.api.deps import Actor, DbSession
from backend.api.problems import documented
from backend.api.search import spend_search_budget
from backend.api.xmltext import clean
from backend.collections import service as collections
from backend.db import sql
from backend.documents import catalogue
from backend.documents import service as documents
from backend.ids import MAX_ID
from backend.search import saved as saved_searches
from backend.search import service as search_service
from backend.search.engine import FACETS, SORTS
from backend.settings import get_settings
from backend.users.models import User

router = APIRouter(tags=["feeds"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Kind = Literal["rss", "atom"]
MEDIA = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}
ITEMS = 50
SITEMAP_PART = 50_000  # the protocol's limit of addresses per file


def _site() -> str:
    return get_settings().public_url.rstrip("/")


async def _feed(
    session: AsyncSession,
    actor: User | None,
    *,
    kind: Kind,
    title: str,
    subtitle: str,
    page_url: str,
    self_url: str,
    document_ids: list[int],
    snippets: dict[int, str] | None = None,
) -> Response:
    found = await scope.visible_documents(session, actor, document_ids)
    ordered = [found[i] for i in document_ids if i in found]
    records = await catalogue.catalogued_many(session, ordered)
    feed = FeedGenerator()
    feed.load_extension("dc")
    feed.id(self_url)
    feed.title(clean(title))
    feed.subtitle(clean(subtitle or title))
    feed.link(href=page_url, rel="alternate")
    feed.link(href=self_url, rel="self")
    feed.language("en")
    feed.generator(clean(get_settings().library_name))
    newest = max((r.document.updated_at for r in records), default=datetime.now(UTC))
    feed.updated(newest)
    for record in reversed(records):  # feedgen puts each new entry first
        d = record.document
        entry = feed.add_entry()
        entry.id(record.stable_url)
        entry.guid(record.stable_url, permalink=True)
        entry.title(clean(d.title))
        entry.link(href=record.stable_url)
        entry.published(d.created_at)
        entry.updated(d.updated_at)
        summary = (snippets or {}).get(d.id or 0) or d.description or d.title
        entry.summary(clean(summary[:2000]))
        for name in record.creators:
            entry.author({"name": clean(name)})  # Atom's <author>
            entry.dc.dc_creator(clean(name))  # RSS has authors only as e-mail addresses
        for subject in record.subjects:
            entry.category(term=clean(subject.trail))
    body = feed.atom_str(pretty=True) if kind == "atom" else feed.rss_str(pretty=True)
    return Response(body, media_type=MEDIA[kind], headers={"Cache-Control": "no-store"})


@router.get(
    "/api/v1/feeds/search.{kind}",
    response_class=Response,
    responses={200: {"content": {"application/rss+xml": {}, "application/atom+xml": {}}}},
)
async def search_feed(
    kind: Kind,
    request: Request,
    session: DbSession,
    actor: Actor,
    q: Annotated[str, Query(max_length=1000)] = "",
    sort: Annotated[str, Query(pattern="^(" + "|".join(SORTS) + ")$")] = "date",
    collection: Annotated[list[str] | None, Query(max_length=50)] = None,
    author: Annotated[list[str] | None, Query(max_length=50)] = None,
    subject: Annotated[list[str] | None, Query(max_length=50)] = None,
    year: Annotated[list[str] | None, Query(max_length=50)] = None,
    type: Annotated[list[str] | None, Query(max_length=50)] = None,
    language: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> Response:
    """A search as a feed (by date, newest first, unless `sort` says otherwise): subscribe
    to be told of new documents that match. The search page's query language, filters."""
    if (refused := await spend_search_budget(request)) is not None:
        return refused
    given = {
        "collection": collection, "author": author, "subject": subject, "year": year,
        "type": type, "language": language,
    }  # fmt: skip
    filters = {f: v for f, v in given.items() if v and f in FACETS}
    results = await search_service.search(
        session=session,
        actor=actor,
        query=q,
        filters=filters,
        sort=sort,
        page_size=ITEMS,
        record=False,
    )
    query = str(request.url.query)
    words = q.strip() or "everything"
    return await _feed(
        session,
        actor,
        kind=kind,
        title=f"{get_settings().library_name}: {words}",
        subtitle=f"Documents matching {words}",
        page_url=f"{_site()}/search?{query}",
        self_url=f"{_site()}{request.url.path}?{query}",
        document_ids=[h.document_id for h in results.hits],
        snippets={h.document_id: "".join(s.text for s in h.snippet) for h in results.hits},
    )


@router.get(
    "/api/v1/collections/{collection_id}/feed.{kind}",
    response_class=Response,
    responses={
        200: {"content": {"application/rss+xml": {}, "application/atom+xml": {}}},
        **documented(404),
    },
)
async def collection_feed(
    collection_id: Id, kind: Kind, request: Request, session: DbSession, actor: Actor
) -> Response:
    """A collection's newest documents as a feed."""
    found = await collections.get_public(session=session, actor=actor, collection_id=collection_id)
    rows = await documents.list_in_collection(
        session=session, actor=actor, collection_id=collection_id, limit=ITEMS
    )
    return await _feed(
        session,
        actor,
        kind=kind,
        title=f"{get_settings().library_name}: {found.name}",
        subtitle=found.description,
        page_url=f"{_site()}/collections/{found.slug}",
        self_url=f"{_site()}{request.url.path}",
        document_ids=[r.id for r in rows if r.status == "ready"],
    )


@router.get(
    "/api/v1/saved-searches/{saved_id}/feed.atom",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}, **documented(404)},
)
async def saved_search_feed(
    saved_id: Id,
    request: Request,
    session: DbSession,
    key: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """A saved search's new documents, newest first: those that became ready in the last
    30 days and match it as its owner may see them. The address (with its key) is on the
    owner's account page; a feed reader needs no token."""
    if (refused := await spend_search_budget(request)) is not None:
        return refused
    kept, owner = await saved_searches.for_feed(session=session, saved_id=saved_id, key=key)
    found = await saved_searches.feed_matches(session=session, saved=kept, owner=owner)
    return await _feed(
        session,
        owner,
        kind="atom",
        title=f"{get_settings().library_name}: {kept.name}",
        subtitle=f"New documents matching {saved_searches.describe(kept)}",
        page_url=f"{_site()}{saved_searches.page_address(kept)}",
        self_url=f"{_site()}{saved_searches.feed_path(kept)}",
        document_ids=[hit.document_id for hit, _ in found.hits],
        snippets={hit.document_id: "".join(s.text for s in hit.snippet) for hit, _ in found.hits},
    )


# --- for crawlers ------------------------------------------------------------------------

VISIBLE = (
    "FROM documents d JOIN collections c ON c.id = d.collection_id WHERE d.listed AND c.is_public"
)


def _xml(body: str) -> Response:
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + body,
        media_type="application/xml; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/sitemap.xml", include_in_schema=False)
async def sitemap_index(session: DbSession) -> Response:
    """The sitemap index: the collections' part, and a part per 50,000 document ids."""
    top = (await sql(session, text(f"SELECT max(d.id) {VISIBLE}"))).scalar_one() or 0
    parts = ["collections", *(f"documents-{n}" for n in range(top // SITEMAP_PART + 1))]
    if not top:
        parts = ["collections"]
    site = _site()
    items = "".join(
        f"<sitemap><loc>{escape(f'{site}/sitemaps/{p}.xml')}</loc></sitemap>" for p in parts
    )
    return _xml(
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'
    )


def _url(loc: str, when: datetime | None) -> str:
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else ""
    lastmod = f"<lastmod>{stamp}</lastmod>" if stamp else ""
    return f"<url><loc>{escape(loc)}</loc>{lastmod}</url>"


def _urlset(urls: Sequence[tuple[str, datetime | None]]) -> Response:
    items = "".join(_url(loc, when) for loc, when in urls)
    return _xml(f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>')


@router.get("/sitemaps/collections.xml", include_in_schema=False)
async def sitemap_collections(session: DbSession) -> Response:
    rows = await sql(session, text("SELECT slug FROM collections WHERE is_public ORDER BY id"))
    site = _site()
    urls: list[tuple[str, datetime | None]] = [(f"{site}/", None), (f"{site}/browse", None)]
    return _urlset(urls + [(f"{site}/collections/{r.slug}", None) for r in rows])


@router.get("/sitemaps/documents-{part}.xml", include_in_schema=False)
async def sitemap_documents(
    part: Annotated[int, Path(ge=0, le=MAX_ID // SITEMAP_PART)], session: DbSession
) -> Response:
    first = part * SITEMAP_PART + 1
    rows = await sql(
        session,
        text(
            f"SELECT d.id, d.updated_at {VISIBLE} AND d.id BETWEEN :first AND :last ORDER BY d.id"
        ).bindparams(first=first, last=first + SITEMAP_PART - 1),
    )
    site = _site()
    return _urlset([(f"{site}/documents/{r.id}", r.updated_at) for r in rows])


@router.get("/robots.txt", include_in_schema=False)
async def robots() -> Response:
    lines = ["User-agent: *", "Disallow: /api/", "Disallow: /account", "Disallow: /admin/"]
    lines.append(f"Sitemap: {_site()}/sitemap.xml")
    return Response("\n".join(lines) + "\n", media_type="text/plain; charset=utf-8")
