"""The whole path on S3: upload, ingest with thumbnails, presigned download."""

from pathlib import Path

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.routes import create_api
from backend.auth import service as auth
from backend.documents.models import IngestStatus
from backend.redis_client import get_redis
from backend.storage.s3 import S3ObjectStore
from backend.storage.service import get_store
from backend.users.models import Role
from tests.factories import PASSWORD, make_collection, make_user, upload_file
from tests.worker import run_burst


async def test_ingest_and_download_through_s3(
    db: AsyncSession, corpus: Path, s3_store: str
) -> None:
    store = get_store()
    assert isinstance(store, S3ObjectStore)
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    pdf = corpus / "files" / "py-pdf-sample-files" / "crazyones-pdfa.pdf"
    document, version = await upload_file(db, librarian, collection, pdf)
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.READY, version.error
    assert await store.exists(version.file_key) and await store.exists(version.thumbnail_key)

    login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as api:
        headers = {"Authorization": f"Bearer {login.token}"}
        response = await api.get(f"/api/v1/documents/{document.id}/download", headers=headers)
        assert response.status_code == 307
        thumb = await api.get(f"/api/v1/documents/{document.id}/thumbnail", headers=headers)
        assert thumb.status_code == 200 and thumb.content[:4] == b"RIFF"
    async with httpx.AsyncClient() as plain:
        original = await plain.get(response.headers["location"])
    assert original.content == pdf.read_bytes()
    for key in (version.file_key, version.thumbnail_key, version.preview_key):
        await store.delete(key)


async def test_an_unreachable_store_means_waiting_and_retrying(
    db: AsyncSession, s3_url: str, data_dir: Path
) -> None:
    import pytest
    from arq import Retry

    from jobs.tasks import ingest_version
    from tests.factories import upload_bytes

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(db, librarian, collection, b"kept words\n", "k.txt")
    await db.commit()
    # The file went to the local store; the worker now looks for it on a server that is down.
    down = S3ObjectStore("s3://library/x?endpoint=http://127.0.0.1:9&region=us-east-1")
    with pytest.raises(Retry):
        await ingest_version({"store": down, "job_try": 1}, version.id)
    await db.refresh(version)
    assert version.status == IngestStatus.PENDING
    assert version.error.startswith("Waiting to try again: a service is unreachable")
    assert await ingest_version({"store": get_store(), "job_try": 2}, version.id) == "ready"
