"""Uploads through the REST API: the body streamed into the same pipeline as the drop
zones, under the same size limit and the upload rate budget, refused before a byte is
read for anyone who may not upload there, and nothing stored by an upload that fails."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.routes import create_api
from backend.auth import service as auth
from backend.redis_client import get_redis
from backend.search import service as search
from backend.settings import get_settings
from backend.users.models import Role, User
from backend.web.gateway import wrap
from backend.web.guard import RequestGuard
from tests.factories import PASSWORD, make_collection, make_user
from tests.worker import run_burst


async def _bearer(db: AsyncSession, user: User) -> dict[str, str]:
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    return {"Authorization": f"Bearer {login.token}"}


def _objects(data_dir: Path) -> list[Path]:
    root = data_dir / "objects"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _guarded_client(**settings: Any) -> httpx.AsyncClient:
    """The API behind the request guard and the gateway, as app/app.py stacks them."""
    configured = get_settings().model_copy(update=settings)
    guarded = RequestGuard(
        create_api(),
        upload_path="/_upload",
        upload_cap=configured.upload_request_cap,
        other_cap=configured.max_other_request_bytes,
        file_cap=configured.max_upload_bytes,
        is_upload_handler=lambda name: False,
    )
    app = wrap(guarded, configured, upload_path="/_upload")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.8", 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://library.test")


async def test_a_file_streamed_to_the_api_goes_through_the_pipeline(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path, corpus: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Shelf")
    await db.commit()
    staff = await _bearer(db, librarian)
    pdf = (corpus / "files" / "py-pdf-sample-files" / "pdflatex-4-pages.pdf").read_bytes()
    sent = await api.post(
        f"/api/v1/collections/{shelf.id}/documents",
        params={"filename": "four pages.pdf", "title": "Four pages"},
        content=_chunks(pdf),  # chunked: no Content-Length
        headers={**staff, "Content-Type": "application/pdf"},
    )
    assert sent.status_code == 202, sent.text
    body = sent.json()
    assert body["status"] == "pending" and sent.headers["location"] == body["status_url"]
    await run_burst()
    document = (await api.get(body["status_url"], headers=staff)).json()
    assert document["title"] == "Four pages"
    [version] = document["versions"]
    assert (version["status"], version["page_count"], version["filename"]) == (
        "ready",
        4,
        "four pages.pdf",
    )
    import hashlib

    assert version["sha256"] == hashlib.sha256(pdf).hexdigest()
    found = await search.search(session=db, actor=None, query="Huardest gefburn")
    assert [h.document_id for h in found.hits] == [body["document_id"]]

    # The same file again: the pipeline's duplicate check, as for the drop zones.
    again = await api.post(
        f"/api/v1/collections/{shelf.id}/documents",
        params={"filename": "copy.pdf"},
        content=pdf,
        headers=staff,
    )
    assert again.status_code == 202
    await run_burst()
    copy = (await api.get(again.json()["status_url"], headers=staff)).json()
    assert copy["versions"][0]["status"] == "duplicate"

    # A new version of the first document.
    newer = await api.post(
        f"/api/v1/documents/{body['document_id']}/versions",
        params={"filename": "four pages v2.txt"},
        content=b"A second edition.\n",
        headers=staff,
    )
    assert newer.status_code == 202 and newer.json()["version_no"] == 2
    await run_burst()
    document = (await api.get(body["status_url"], headers=staff)).json()
    assert document["current_version_id"] == newer.json()["version_id"]


async def test_no_upload_from_anyone_who_may_not_and_nothing_left_behind(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    other = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    shelf = await make_collection(db, librarian, "Shelf")
    await db.commit()
    before = _objects(data_dir)
    url = f"/api/v1/collections/{shelf.id}/documents"
    for headers in ({}, await _bearer(db, patron), await _bearer(db, other)):
        refused = await api.post(url, params={"filename": "a.txt"}, content=b"x", headers=headers)
        assert refused.status_code == 404, refused.text
    staff = await _bearer(db, librarian)
    empty = await api.post(url, params={"filename": "a.txt"}, content=b"", headers=staff)
    assert empty.status_code == 422 and "a.txt is empty" in empty.json()["detail"]
    no_name = await api.post(url, content=b"some text", headers=staff)
    assert no_name.status_code == 400
    assert _objects(data_dir) == before


async def test_the_upload_limit_and_the_request_caps(
    db: AsyncSession, data_dir: Path, clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Shelf")
    await db.commit()
    staff = await _bearer(db, librarian)
    url = f"/api/v1/collections/{shelf.id}/documents"
    limit = 3 * 1024 * 1024  # larger than any other request may be (2 MB)
    monkeypatch.setattr(get_settings(), "max_upload_bytes", limit)
    before = _objects(data_dir)
    async with _guarded_client(max_upload_bytes=limit) as client:
        fits = await client.post(
            url, params={"filename": "big.txt"}, content=b"word " * (limit // 5), headers=staff
        )
        assert fits.status_code == 202, fits.text
        declared = await client.post(
            url, params={"filename": "huge.txt"}, content=b"w" * (limit + 1), headers=staff
        )
        assert declared.status_code == 413
        streamed = await client.post(
            url,
            params={"filename": "huge.txt"},
            content=_chunks(b"w" * (limit + 100_000)),
            headers=staff,
        )
        assert streamed.status_code == 413
        # Any other request keeps the small cap.
        other = await client.patch(
            f"/api/v1/collections/{shelf.id}", content=b" " * limit, headers=staff
        )
        assert other.status_code == 413
    assert len(_objects(data_dir)) == len(before) + 1  # the one that fitted, only


async def test_api_uploads_spend_the_upload_budget(
    db: AsyncSession, clean: None, rate_limits: Any
) -> None:
    rate_limits(upload="2/minute")
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Shelf")
    await db.commit()
    staff = await _bearer(db, librarian)
    url = f"/api/v1/collections/{shelf.id}/documents"
    async with _guarded_client() as client:
        answers = [
            await client.post(url, params={"filename": f"{n}.txt"}, content=b"t", headers=staff)
            for n in range(3)
        ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[2].headers["retry-after"]) >= 1


async def test_a_full_disk_is_said_and_leaves_nothing_behind(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    """The local store on a real 1 MB file system (tmpfs, mounted for the test)."""
    import subprocess

    from sqlalchemy import text

    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Shelf")
    await db.commit()
    staff = await _bearer(db, librarian)
    objects = data_dir / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(objects)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        url = f"/api/v1/collections/{shelf.id}/documents"
        full = await api.post(
            url,
            params={"filename": "atlas.txt"},
            content=_chunks(b"word " * (600 * 1024)),  # 3 MB, streamed
            headers=staff,
        )
        assert full.status_code == 507, full.text
        assert "file store is full" in full.json()["detail"]
        # Nothing half-written is left (its hidden .part file too), no row names it.
        assert [p for p in objects.rglob("*") if p.is_file()] == []
        count = (await db.exec(text("SELECT count(*) FROM document_versions"))).one()
        assert count[0] == 0
        # And the room it took is free again: a file that fits is kept.
        fits = await api.post(
            url, params={"filename": "note.txt"}, content=b"a short note\n", headers=staff
        )
        assert fits.status_code == 202, fits.text
    finally:
        subprocess.run(["umount", str(objects)], check=False)
