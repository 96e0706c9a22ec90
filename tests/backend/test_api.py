"""The REST API through its ASGI app: health, and downloads byte for byte."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.routes import create_api
from backend.auth import service as auth
from backend.redis_client import get_redis
from backend.storage.disposition import content_disposition
from backend.users.models import Role
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes


@pytest.fixture
async def client(clean: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as c:
        yield c


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_download_is_byte_for_byte_with_safe_headers(
    client: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    data = bytes(range(256)) * 5000 + b"tail"
    document, _ = await upload_bytes(db, librarian, collection, data, 'Résumé "final".txt')
    await db.commit()
    url = f"/api/v1/documents/{document.id}/download"
    # Not processed (and so not scanned) yet: only its curators may fetch it.
    assert (await client.get(url)).status_code == 404
    login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    response = await client.get(url, headers={"Authorization": f"Bearer {login.token}"})
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.txt" in disposition


async def test_private_download_needs_a_member_session(
    client: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    outsider = await make_user(db)
    collection = await make_collection(db, librarian, is_public=False)
    document, _ = await upload_bytes(db, librarian, collection, b"secret words\n", "s.txt")
    await db.commit()
    url = f"/api/v1/documents/{document.id}/download"
    assert (await client.get(url)).status_code == 404
    outsider_login = await auth.login(
        session=db, redis=get_redis(), email=outsider.email, password=PASSWORD
    )
    staff_login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    client.cookies.set("library_session", outsider_login.token)
    denied = await client.get(url)
    assert denied.status_code == 404 and denied.json()["detail"] == "Not found."
    assert denied.headers["content-type"] == "application/problem+json"
    client.cookies.clear()
    allowed = await client.get(url, headers={"Authorization": f"Bearer {staff_login.token}"})
    assert allowed.status_code == 200 and allowed.content == b"secret words\n"


def test_content_disposition_never_breaks_the_header() -> None:
    header = content_disposition('a";\r\nSet-Cookie: x=1.pdf')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="a___')


async def test_thumbnails_follow_the_document_visibility(
    client: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    import io

    from PIL import Image

    from tests.worker import run_burst

    librarian = await make_user(db, Role.LIBRARIAN)

    def png(colour: str) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (640, 480), colour).save(buffer, "PNG")
        return buffer.getvalue()

    public = await make_collection(db, librarian)
    private = await make_collection(db, librarian, is_public=False)
    shown, _ = await upload_bytes(db, librarian, public, png("teal"), "teal.png")
    hidden, _ = await upload_bytes(db, librarian, private, png("plum"), "secret.png")
    await db.commit()
    await run_burst()
    small = await client.get(f"/api/v1/documents/{shown.id}/thumbnail")
    assert small.status_code == 200 and small.headers["content-type"] == "image/webp"
    assert small.headers["x-content-type-options"] == "nosniff"
    large = await client.get(f"/api/v1/documents/{shown.id}/thumbnail?size=large")
    assert len(large.content) > 0 and large.content != small.content
    assert (await client.get(f"/api/v1/documents/{hidden.id}/thumbnail")).status_code == 404


async def test_a_record_has_an_etag_and_an_unchanged_one_is_a_304(
    client: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    from backend.documents.models import Document

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    document, _ = await upload_bytes(db, librarian, collection, b"tide tables\n", "tides.txt")
    await db.commit()
    login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    h = {"Authorization": f"Bearer {login.token}"}
    url = f"/api/v1/documents/{document.id}/record"
    first = await client.get(url, headers=h)
    etag = first.headers["etag"]
    assert first.status_code == 200 and first.json()["dublin_core"]["title"] == ["tides"]
    same = await client.get(url, headers={**h, "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    weak = await client.get(url, headers={**h, "If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    # Changed, the record has another ETag, and the old one gets the whole record.
    row = await db.get(Document, document.id)
    assert row is not None
    row.title = "Tide tables of 1911"
    db.add(row)
    await db.commit()
    changed = await client.get(url, headers={**h, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["dublin_core"]["title"] == ["Tide tables of 1911"]
    # Someone who may not see it gets the 404, whatever they send.
    assert (await client.get(url, headers={"If-None-Match": "*"})).status_code == 404
