"""The head of a record's page, written on the server: search engines, Google Scholar and
link previews read the HTML as sent, without running its scripts.

Reflex serves every document page (and every collection page) as the same static shell
titled "Document · Library"; its content arrives over the websocket. For `GET
/documents/{id}` and `GET /collections/{slug}`, this layer asks the library what the
visitor (by the session cookie, or nobody) may see there, and rewrites the shell's head:

- the real `<title>`, a description, the canonical address, Open Graph title;
- for a document, Highwire Press tags (`citation_title`, `citation_author`,
  `citation_publication_date`, `citation_publisher`, `citation_language`,
  `citation_keywords`, `citation_pdf_url` when the file is a PDF), as Google Scholar's
  inclusion guidelines ask;
- for a collection, its Atom and RSS feeds as alternates;
- a 404 status when there is no such record, or the visitor may not see it (the page
  itself says so once it loads).

Framework-free ASGI: any other request passes untouched; the lookup is one read.
"""

import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.collections import service as collections
from backend.db import session_scope
from backend.documents import catalogue
from backend.errors import NotFound
from backend.ids import MAX_ID
from backend.settings import get_settings

log = logging.getLogger(__name__)

DOCUMENT = re.compile(r"^/documents/([^/]{1,200})/?$")
COLLECTION = re.compile(r"^/collections/([^/]{1,200})/?$")
TITLE = re.compile(rb"<title>.*?</title>", re.S)
MAX_SHELL = 2 << 20  # a page shell larger than this is passed on as it is


@dataclass
class Head:
    title: str
    description: str = ""
    canonical: str = ""
    meta: list[tuple[str, str]] = field(default_factory=list)  # (name, content)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (rel, type, href)

    def html(self) -> bytes:
        e = html.escape
        parts = [f"<title>{e(self.title)}</title>"]
        if self.description:
            parts.append(f'<meta name="description" content="{e(self.description)}">')
        parts.append(f'<meta property="og:title" content="{e(self.title)}">')
        if self.canonical:
            parts.append(f'<link rel="canonical" href="{e(self.canonical)}">')
        parts += [f'<meta name="{e(n)}" content="{e(c)}">' for n, c in self.meta]
        parts += [f'<link rel="{e(r)}" type="{e(t)}" href="{e(h)}">' for r, t, h in self.links]
        return "".join(parts).encode()


NOT_FOUND = Head(title="")  # a marker: the record does not exist for this visitor
Describe = Callable[[str, str], Awaitable[Head | None]]


def _site() -> str:
    return get_settings().public_url.rstrip("/")


def _scholar_date(value: str) -> str:
    """Highwire's date: 2009/12/31, 2009/12 or 2009."""
    return value.replace("-", "/")


async def describe(path: str, token: str) -> Head | None:
    """The head of the record page at `path` for the holder of `token`; NOT_FOUND when
    there is none for them; None when `path` is not a record page."""
    name = get_settings().library_name
    document, collection = DOCUMENT.match(path), COLLECTION.match(path)
    if document is None and collection is None:
        return None
    async with session_scope() as session:
        actor = await auth.user_for_token(session=session, token=token) if token else None
        try:
            if document is not None:
                given = document.group(1)
                if not given.isdigit() or not 1 <= int(given) <= MAX_ID:
                    return NOT_FOUND
                number = int(given)
                found = await catalogue.catalogued(session=session, actor=actor, document_id=number)
                await session.commit()
                return _document_head(found, name)
            assert collection is not None
            shelf = await collections.get_by_slug(
                session=session, actor=actor, slug=collection.group(1)
            )
            await session.commit()
        except NotFound:
            return NOT_FOUND
    url = f"{_site()}/collections/{shelf.slug}"
    feeds = f"{_site()}/api/v1/collections/{shelf.id}/feed"
    return Head(
        title=f"{shelf.name} · {name}",
        description=" ".join(shelf.description.split())[:300],
        canonical=url,
        links=[
            ("alternate", "application/atom+xml", f"{feeds}.atom"),
            ("alternate", "application/rss+xml", f"{feeds}.rss"),
        ],
    )


def _document_head(found: catalogue.Catalogued, name: str) -> Head:
    d = found.document
    meta = [("citation_title", d.title)]
    meta += [("citation_author", person) for person in found.creators]
    if d.date_issued:
        meta.append(("citation_publication_date", _scholar_date(d.date_issued)))
    if d.publisher:
        meta.append(("citation_publisher", d.publisher))
    if d.language:
        meta.append(("citation_language", d.language))
    if found.subjects:
        meta.append(("citation_keywords", "; ".join(s.name for s in found.subjects)))
    if found.mime_type == "application/pdf":
        meta.append(("citation_pdf_url", f"{_site()}/api/v1/documents/{d.id}/download"))
    meta.append(("citation_abstract_html_url", found.stable_url))
    return Head(
        title=f"{d.title} · {name}",
        description=" ".join((d.description or "").split())[:300],
        canonical=found.stable_url,
        meta=meta,
    )


def rewrite(page: bytes, head: Head) -> bytes:
    """The shell with its title replaced by the head (or the head put first in <head>)."""
    tags = head.html()
    if TITLE.search(page):
        return TITLE.sub(lambda _: tags, page, count=1)
    return page.replace(b"<head>", b"<head>" + tags, 1)


class PageHeads:
    def __init__(self, app: ASGIApp, describe: Describe = describe) -> None:
        self.app = app
        self.describe = describe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if DOCUMENT.match(path) is None and COLLECTION.match(path) is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE, "")
        try:
            head = await self.describe(path, token)
        except Exception:  # the page still works without its head
            log.exception("could not describe %s", path)
            head = None
        if head is None:
            await self.app(scope, receive, send)
            return
        # The shell uncompressed, to rewrite it (it is a few kilobytes), and as body
        # messages: not handed to the server as a file to send (granian's pathsend).
        raw = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]
        extensions = {
            k: v
            for k, v in (scope.get("extensions") or {}).items()
            if k not in ("http.response.pathsend", "http.response.zerocopysend")
        }
        inner = {**scope, "headers": raw, "extensions": extensions}
        await self.app(inner, receive, _Rewriting(send, head))


class _Rewriting:
    """A `send` that holds an HTML answer, rewrites its head, and sends it whole."""

    def __init__(self, send: Send, head: Head) -> None:
        self.send, self.head = send, head
        self.start: Message | None = None
        self.body = bytearray()
        self.passing = False

    async def __call__(self, message: Message) -> None:
        if self.passing:
            await self.send(message)
            return
        if message["type"] == "http.response.start":
            kind = Headers(raw=message.get("headers", [])).get("content-type", "")
            if message["status"] != 200 or not kind.startswith("text/html"):
                self.passing = True
                await self.send(message)
                return
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.body += message.get("body", b"")
        if len(self.body) > MAX_SHELL:
            self.passing = True
            await self.send(self.start)
            await self.send({**message, "body": bytes(self.body)})
            return
        if message.get("more_body", False):
            return
        await self._finish()

    async def _finish(self) -> None:
        assert self.start is not None
        missing = self.head is NOT_FOUND
        page = bytes(self.body) if missing else rewrite(bytes(self.body), self.head)
        # The page now differs by record and visitor: no validator or cache of the shell's.
        dropped = (b"content-length", b"etag", b"last-modified", b"cache-control")
        headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() not in dropped]
        headers += [(b"content-length", str(len(page)).encode()), (b"cache-control", b"no-store")]
        status = 404 if missing else 200
        await self.send({**self.start, "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": page})
