"""Record pages' heads written on the server (backend.web.heads), in front of a shell
served as Reflex serves its static pages (the real build is checked in
tests/e2e/test_document_page.py): who sees which title, and who gets a 404."""

import gzip
from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.collections import service as collections
from backend.documents import metadata
from backend.redis_client import get_redis
from backend.users.models import Role
from backend.web.heads import PageHeads
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.worker import run_burst

SHELL = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Document \xc2\xb7 Library"
    b"</title></head><body><div id='root'></div></body></html>"
)


async def shell(scope: Any, receive: Any, send: Any) -> None:
    """A static page server: the same shell for every page, gzipped when accepted, sent
    as a file by the server when it offers that (as granian does: pathsend)."""
    accepts = dict(scope["headers"]).get(b"accept-encoding", b"")
    if "http.response.pathsend" in (scope.get("extensions") or {}):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": "/nowhere"})
        return
    body, headers = SHELL, [(b"content-type", b"text/html; charset=utf-8")]
    if b"gzip" in accepts:
        body = gzip.compress(SHELL)
        headers.append((b"content-encoding", b"gzip"))
    headers += [(b"content-length", str(len(body)).encode()), (b"etag", b'"shell"')]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def client(cookie: str = "", pathsend: bool = True) -> httpx.AsyncClient:
    """The heads in front of the shell, from a server that offers pathsend (or not)."""
    heads = PageHeads(shell)

    async def server(scope: Any, receive: Any, send: Any) -> None:
        offered = {"http.response.pathsend": {}} if pathsend else {}
        await heads({**scope, "extensions": offered}, receive, send)

    transport = httpx.ASGITransport(app=server)
    cookies = {SESSION_COOKIE: cookie} if cookie else {}
    return httpx.AsyncClient(transport=transport, base_url="http://library.test", cookies=cookies)


async def test_heads_titles_and_404s_by_who_asks(db: AsyncSession, clean: None) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    member, stranger = await make_user(db), await make_user(db)
    shore = await make_collection(db, librarian, "Sea & shore")
    vault = await make_collection(db, librarian, "Vault", is_public=False)
    await collections.add_member(
        session=db,
        actor=librarian,
        collection_id=vault.id,
        email=member.email,  # type: ignore[arg-type]
    )
    public, _ = await upload_bytes(db, librarian, shore, b"Lamps.\n", "lamps.txt")
    hidden, _ = await upload_bytes(db, librarian, vault, b"Minutes.\n", "minutes.txt")
    await db.commit()
    await run_burst()
    record, _ = await metadata.editable(session=db, actor=librarian, document_id=public.id)  # type: ignore[arg-type]
    record.title, record.creators, record.date_issued = (
        'Lamps <"&> lenses',
        ["Stevenson, Alan"],
        "1850-06",
    )
    await metadata.update(session=db, actor=librarian, document_id=public.id, record=record)  # type: ignore[arg-type]
    await db.commit()

    async with client() as anonymous:
        page = await anonymous.get(f"/documents/{public.id}", headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200 and "content-encoding" not in page.headers
        assert page.text.count("<title>") == 1
        assert "<title>Lamps &lt;&quot;&amp;&gt; lenses · Library</title>" in page.text
        assert '<meta name="citation_author" content="Stevenson, Alan">' in page.text
        assert '<meta name="citation_publication_date" content="1850/06">' in page.text
        assert int(page.headers["content-length"]) == len(page.content)
        assert "etag" not in page.headers and page.headers["cache-control"] == "no-store"
        assert (await anonymous.get(f"/documents/{hidden.id}")).status_code == 404
        for junk in ("99999999999", "0", "abc", "%00"):
            assert (await anonymous.get(f"/documents/{junk}")).status_code == 404, junk
        assert (await anonymous.get("/collections/vault")).status_code == 404
        shelf = await anonymous.get("/collections/sea-shore")
        assert "<title>Sea &amp; shore · Library</title>" in shelf.text
    async with client(pathsend=False) as plain:  # anything else passes as it came
        other = await plain.get("/search", headers={"Accept-Encoding": "gzip"})
        assert other.headers["etag"] == '"shell"'

    for user, sees in ((member, True), (stranger, False)):
        login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
        await db.commit()
        async with client(login.token) as web:
            got = await web.get(f"/documents/{hidden.id}")
            assert got.status_code == (200 if sees else 404)
            assert ("<title>minutes · Library</title>" in got.text) is sees
            assert (await web.get("/collections/vault")).status_code == (200 if sees else 404)
