"""Files the library no longer needs leave the store through an outbox table: written with
the change that freed them, drained by `delete_objects` and by a sweeper, so a lost queue
or a store that is away never leaves a file behind."""

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.collections import service as collections
from backend.documents import service as documents
from backend.documents.models import IngestStatus
from backend.ingest import pages as page_images
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.storage import cleanup
from backend.storage.models import ObjectDeletion
from backend.storage.s3 import S3ObjectStore
from backend.storage.service import get_store
from backend.users.models import Role
from jobs.tasks import delete_leftover_objects
from tests.factories import make_collection, make_user, stored_files, upload_bytes
from tests.jobs.files import text_pdf
from tests.proxy import Address, Proxy
from tests.worker import run_burst


async def _queued(db: AsyncSession) -> list[ObjectDeletion]:
    fresh = select(ObjectDeletion).order_by(ObjectDeletion.id)
    return list((await db.exec(fresh.execution_options(populate_existing=True))).all())


async def _sweep() -> int:
    return await delete_leftover_objects({"store": get_store()})


async def test_a_deleted_documents_files_go_though_the_queue_was_lost(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    pdf = text_pdf(["first page of the atlas", "second page of the atlas"])
    document, version = await upload_bytes(db, librarian, collection, pdf, "atlas.pdf")
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.READY, version.error
    assert document.id is not None
    # A reader opened the second page: its image was drawn then.
    await page_images.open_page_image(
        session=db, actor=librarian, document_id=document.id, page_no=2
    )
    # ... and the small picture of it, to jump by.
    await page_images.open_page_image(
        session=db, actor=librarian, document_id=document.id, page_no=2, small=True
    )
    files = stored_files(data_dir)
    # The original, two thumbnails, an image of each page and one small picture.
    assert len(files) == 6 and version.file_key in files and version.page_images == 1

    assert document.id is not None
    await documents.delete_document(session=db, actor=librarian, document_id=document.id)
    await db.commit()
    # Written with the deletion: every file, and the small picture page 1 could have had
    # (a missing object counts as deleted).
    queued = {row.key for row in await _queued(db)}
    assert queued == files | {f"pages/{version.id}/1-small.webp"}
    await get_redis().flushdb()  # Redis restarted without its data: the job is gone
    worker = await run_burst()
    assert worker.jobs_complete == 0 and stored_files(data_dir) == files

    assert await _sweep() == 7
    assert stored_files(data_dir) == set() and await _queued(db) == []


async def test_a_replaced_cover_goes_and_the_new_one_stays_until_its_collection_goes(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(picture, "PNG")
    assert collection.id is not None
    first = await collections.set_cover(
        session=db, actor=librarian, collection_id=collection.id, data=picture.getvalue()
    )
    old = first.cover_key
    await db.commit()
    second = await collections.set_cover(
        session=db, actor=librarian, collection_id=collection.id, data=picture.getvalue()
    )
    new = second.cover_key
    await db.commit()
    assert [row.key for row in await _queued(db)] == [old]
    await run_burst()
    assert stored_files(data_dir) == {new} and await _queued(db) == []
    # A deleted collection's cover goes with it.
    await collections.delete(session=db, actor=librarian, collection_id=collection.id)
    await db.commit()
    assert [row.key for row in await _queued(db)] == [new]
    await run_burst()
    assert stored_files(data_dir) == set() and await _queued(db) == []


async def test_a_missing_object_counts_as_deleted(db: AsyncSession, data_dir: Path) -> None:
    await cleanup.delete_later(session=db, keys=["originals/never-written", ""])
    await db.commit()
    assert len(await _queued(db)) == 1
    worker = await run_burst()
    assert worker.jobs_complete == 1 and await _queued(db) == []


@pytest.fixture
def s3_behind_a_proxy(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """The S3 server, reached through a proxy the test can cut: every store the app builds
    during the test goes through it."""
    endpoint = s3_url.split("endpoint=")[1].split("&")[0]
    moto_port = int(endpoint.rsplit(":", 1)[1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = Proxy(listen=Address(port=port), target=Address(port=moto_port)).start()
    monkeypatch.setattr(
        get_settings(), "storage_url", s3_url.replace(endpoint, f"http://127.0.0.1:{port}")
    )
    get_store.cache_clear()
    yield proxy
    get_store.cache_clear()
    proxy.stop()


async def test_a_store_that_is_away_keeps_its_keys_until_it_is_back(
    db: AsyncSession, s3_url: str, s3_behind_a_proxy: Proxy
) -> None:
    direct = S3ObjectStore(s3_url)  # the server itself, not through the proxy
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    one, v1 = await upload_bytes(db, librarian, collection, b"first words\n", "one.txt")
    two, v2 = await upload_bytes(db, librarian, collection, b"other words\n", "two.txt")
    await db.commit()
    keys = {v1.file_key, v2.file_key}
    assert one.id is not None and two.id is not None
    await documents.delete_documents(db, [one.id, two.id])
    await db.commit()

    s3_behind_a_proxy.cut()  # the store is away
    worker = await run_burst()
    # delete_objects ends well (with the ingest jobs of the deleted documents, and the
    # indexer): the outbox keeps what it could not do.
    assert worker.jobs_failed == 0 and worker.jobs_retried == 0
    rows = await _queued(db)
    assert {row.key for row in rows} == keys
    failed = [row for row in rows if row.attempts]
    assert len(failed) == 1 and failed[0].error  # the first failure stops the drain
    assert failed[0].next_attempt_at > failed[0].created_at
    assert all([await direct.exists(key) for key in keys])
    assert await _sweep() == 0  # the other one was still due; the store is still away ...
    rows = await _queued(db)
    assert len(rows) == 2 and all(row.attempts == 1 for row in rows)

    s3_behind_a_proxy.restore()  # ... and back
    await db.exec(text("UPDATE object_deletions SET next_attempt_at = now()"))  # time passes
    await db.commit()
    assert await _sweep() == 2
    assert await _queued(db) == [] and not any([await direct.exists(key) for key in keys])
    assert (await db.exec(select(func.count()).select_from(ObjectDeletion))).one() == 0
