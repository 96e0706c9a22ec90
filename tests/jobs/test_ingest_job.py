"""The ingest job run by a real arq worker in burst mode, then searched for."""

from pathlib import Path

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.documents.models import DocumentPage, DocumentVersion, IngestStatus
from backend.search import service as search
from backend.storage.service import get_store
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes, upload_file
from tests.worker import run_burst


async def test_pdf_is_extracted_indexed_and_found(
    db: AsyncSession, corpus: Path, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    pdf = corpus / "files" / "py-pdf-sample-files" / "pdflatex-4-pages.pdf"
    document, version = await upload_file(db, librarian, collection, pdf)
    await db.commit()

    worker = await run_burst()
    assert worker.jobs_complete == 2 and worker.jobs_failed == 0  # ingest, then the indexer

    await db.refresh(version)
    assert version.status == IngestStatus.READY, version.error
    assert version.mime_type == "application/pdf" and version.page_count == 4
    pages = (await db.exec(select(DocumentPage).where(DocumentPage.version_id == version.id))).all()
    assert len(pages) == 4

    patron = await make_user(db)
    results = await search.search(session=db, actor=patron, query="Huardest gefburn")
    assert results.total == 1 and results.hits[0].document_id == document.id
    hit = results.hits[0]
    assert hit.page_no in {1, 2, 3, 4}  # the same text stands on every page
    assert {s.text for s in hit.snippet if s.hit} == {"Huardest", "gefburn"}


async def test_running_the_job_twice_is_harmless(db: AsyncSession, data_dir: Path) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(db, librarian, collection, b"zebra crossing\n", "zebra.txt")
    await db.commit()
    await run_burst()
    # Enqueue again under a fresh job id: the ready version is left alone.
    await queue.enqueue(queue.Job("ingest_version", (version.id,), f"again:{version.id}"))
    worker = await run_burst()
    assert worker.jobs_complete == 1
    await db.refresh(version)
    assert version.status == IngestStatus.READY


@pytest.mark.parametrize(
    ("data", "filename", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "picture.png", "not accepted"),
        (b"%PDF-1.4\n%broken", "notes.txt", "does not match the extension"),
        (b"plain words only\n", "paper.pdf", "does not match the extension"),
    ],
)
async def test_refused_types_fail_with_a_reason(
    db: AsyncSession, data_dir: Path, data: bytes, filename: str, reason: str
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(db, librarian, collection, data, filename)
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.FAILED
    assert version.step == "sniff" and reason in version.error


async def test_a_damaged_pdf_fails_with_a_reason(db: AsyncSession, data_dir: Path) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(
        db, librarian, collection, b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "broken.pdf"
    )
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.FAILED and version.step == "extract"
    assert "cannot be read" in version.error


async def test_sweeper_requeues_versions_whose_enqueue_was_lost(
    db: AsyncSession, data_dir: Path
) -> None:
    from datetime import timedelta

    from jobs.tasks import requeue_stale_ingests

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(db, librarian, collection, b"lost words\n", "lost.txt")
    db.info.pop("deferred_jobs")  # as if Redis had been down at commit time
    version.created_at = version.created_at - timedelta(minutes=5)
    db.add(version)
    await db.commit()
    assert await requeue_stale_ingests({}) == 1
    await run_burst()
    fresh = (await db.exec(select(DocumentVersion).where(DocumentVersion.id == version.id))).one()
    await db.refresh(fresh)
    assert fresh.status == IngestStatus.READY


async def test_retry_only_where_sending_again_may_end_otherwise(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure that came from the moment (here: no virus scanner while unscanned files
    may not be published) is retried once the cause is gone; one that comes from the file
    (a text file named .pdf) is not offered Retry, and retrying it is refused."""
    from backend.documents import service as documents
    from backend.errors import InvalidInput, NotFound
    from backend.settings import get_settings

    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    collection = await make_collection(db, librarian)
    assert collection.id is not None
    monkeypatch.setattr(get_settings(), "clamd_url", "")
    monkeypatch.setattr(get_settings(), "publish_unscanned", False)
    _, waits = await upload_bytes(db, librarian, collection, b"plain words\n", "words.txt")
    _, wrong = await upload_bytes(db, librarian, collection, b"plain words too\n", "words.pdf")
    await db.commit()
    await run_burst()
    await db.refresh(waits)
    await db.refresh(wrong)
    assert waits.status == wrong.status == IngestStatus.FAILED
    assert waits.id is not None and wrong.id is not None
    assert waits.retryable and not wrong.retryable
    listed = await documents.list_in_collection(
        session=db, actor=librarian, collection_id=collection.id
    )
    assert {d.filename: d.retryable for d in listed} == {"words.txt": True, "words.pdf": False}
    with pytest.raises(InvalidInput, match="because of what it is"):
        await documents.retry(session=db, actor=librarian, version_id=wrong.id)
    with pytest.raises(NotFound):
        await documents.retry(session=db, actor=patron, version_id=waits.id)
    # The cause goes away (unscanned files may now be published); the librarian retries.
    monkeypatch.setattr(get_settings(), "publish_unscanned", True)
    await documents.retry(session=db, actor=librarian, version_id=waits.id)
    await db.commit()
    worker = await run_burst()
    assert worker.jobs_complete == 2  # the retry, then the indexer
    await db.refresh(waits)
    assert waits.status == IngestStatus.READY and waits.attempts == 1
    with pytest.raises(InvalidInput, match="Only a failed file"):
        await documents.retry(session=db, actor=librarian, version_id=waits.id)


async def test_sweeper_rescues_a_version_whose_worker_died(
    db: AsyncSession, data_dir: Path
) -> None:
    from datetime import timedelta

    from jobs.tasks import requeue_stale_ingests

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(db, librarian, collection, b"orphaned words\n", "o.txt")
    db.info.pop("deferred_jobs")
    # As if a worker had been killed in the middle of extraction, long ago.
    version.status, version.step = IngestStatus.PROCESSING.value, "extract"
    version.step_at = version.created_at - timedelta(minutes=30)
    db.add(version)
    await db.commit()
    assert await requeue_stale_ingests({}) == 1
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.READY


@pytest.mark.parametrize("remote", [False, True], ids=["local", "s3"])
async def test_a_pdfs_first_page_is_drawn_at_ingest_and_the_others_when_opened(
    db: AsyncSession, data_dir: Path, remote: bool, request: pytest.FixtureRequest
) -> None:
    """On the local store or S3 (where the PDF is fetched once and kept on this machine
    for the next pages a reader opens)."""
    import io

    from PIL import Image, ImageDraw

    from backend.documents import service as documents
    from backend.documents.service import page_image_key
    from backend.errors import NotFound
    from backend.ingest import pages as page_images
    from backend.ingest.pages import WINDOW
    from backend.storage.service import get_store

    if remote:
        request.getfixturevalue("s3_store")
    pages = []
    for n in range(1, 8):
        page = Image.new("RGB", (600, 800), "white")
        ImageDraw.Draw(page).rectangle((50, 50, 50 + 60 * n, 150), fill="black")
        pages.append(page)
    pdf = io.BytesIO()
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:])
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    document, version = await upload_bytes(db, librarian, collection, pdf.getvalue(), "7.pdf")
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.READY, version.error
    assert version.id is not None
    assert version.page_images == 1 and version.pdf_key == version.file_key
    store = get_store()
    stored = [await store.exists(page_image_key(version.id, n)) for n in range(1, 8)]
    assert stored == [True] + [False] * 6  # only the first page drawn at ingest
    text = await documents.page_text(session=db, actor=None, document_id=document.id)
    assert text.page_images == 7  # every page can be shown

    async def image(n: int, small: bool = False) -> Image.Image:
        served = await page_images.open_page_image(
            session=db, actor=None, document_id=document.id, page_no=n, small=small
        )
        assert served.public  # ready, in a public collection: it may be cached
        data = b"".join([chunk async for chunk in store.read(served.key)])
        return Image.open(io.BytesIO(data))

    # The small picture of a page (to jump by) is made from its image, and kept.
    with await image(1, small=True) as small:
        assert small.format == "WEBP" and small.width == page_images.SMALL_WIDTH
    assert await store.exists(page_image_key(version.id, 1, small=True))
    # Opening page 3 draws it and the next pages a reader turns to, and keeps them.
    with await image(3) as third:
        assert third.format == "WEBP" and third.width == 900
        # It is page 3 of this PDF: its bar is 50 + 3 * 60 points long, drawn 1.5x.
        dark = [x for x in range(third.width) if third.getpixel((x, 150))[0] < 128]
        assert abs(max(dark) - 1.5 * (50 + 3 * 60)) < 6
    stored = [await store.exists(page_image_key(version.id, n)) for n in range(1, 8)]
    assert stored == [True, False] + [True] * WINDOW + [False] * (5 - WINDOW)
    # A small picture of a page not drawn yet has it drawn first.
    assert not await store.exists(page_image_key(version.id, 7))
    with await image(7, small=True) as small:
        dark = [x for x in range(small.width) if small.getpixel((x, 20))[0] < 128]
        assert abs(max(dark) - (50 + 7 * 60) * 120 / 600) < 4  # page 7's bar, at 120 px
    for n in range(1, 8):
        with await image(n) as each:
            assert each.width == 900
    if remote:  # the PDF was fetched from S3 once, and kept here for the later pages
        assert len(list((data_dir / "cache" / "objects").iterdir())) == 1
    assert all([await store.exists(page_image_key(version.id, n)) for n in range(1, 8)])
    for page_no in (0, 8):
        with pytest.raises(NotFound):
            await page_images.open_page_image(
                session=db, actor=None, document_id=document.id, page_no=page_no
            )
    # Deleting the document deletes every page image, drawn at ingest or later.
    await documents.delete_documents(db, [document.id])
    await db.commit()
    await run_burst()
    assert not any([await store.exists(page_image_key(version.id, n)) for n in range(1, 8)])
    for n in (1, 7):
        assert not await store.exists(page_image_key(version.id, n, small=True))


async def test_readers_opening_neighbouring_pages_at_once_all_get_them(
    db: AsyncSession, data_dir: Path
) -> None:
    """Two pages opened at once (the viewer's pictures of nearby pages) draw overlapping
    runs of pages: the one stored second is the same image, not an error."""
    import asyncio
    import io

    from PIL import Image

    from backend.db import session_scope
    from backend.documents.service import page_image_key
    from backend.ingest import pages as page_images
    from backend.storage.service import get_store

    pages = [Image.new("RGB", (300, 400), (40 * n, 0, 0)) for n in range(1, 8)]
    pdf = io.BytesIO()
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:])
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    document, version = await upload_bytes(db, librarian, collection, pdf.getvalue(), "7.pdf")
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.READY, version.error

    async def open_page(n: int) -> str:
        async with session_scope() as session:
            served = await page_images.open_page_image(
                session=session, actor=None, document_id=document.id, page_no=n
            )
            return served.key

    keys = await asyncio.gather(*(open_page(n) for n in (2, 3, 4, 5, 6)))
    assert keys == [page_image_key(version.id, n) for n in (2, 3, 4, 5, 6)]  # type: ignore[arg-type]
    store = get_store()
    assert all([await store.exists(k) for k in keys])


async def test_the_sweeper_leaves_a_version_that_a_live_run_holds(
    db: AsyncSession, data_dir: Path
) -> None:
    """A long extraction keeps its step for minutes: its version is sent again only once
    no run holds it (PostgreSQL drops a dead worker's lock with its connection)."""
    from datetime import timedelta

    from backend.ingest import pipeline
    from jobs.tasks import requeue_stale_ingests

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(db, librarian, collection, b"slow words\n", "slow.txt")
    db.info.pop("deferred_jobs")
    version.status, version.step = IngestStatus.PROCESSING.value, "extract"
    version.step_at = version.created_at - timedelta(minutes=3)
    db.add(version)
    await db.commit()
    assert version.id is not None
    async with pipeline._claimed(version.id) as mine:  # a run in another worker
        assert mine
        assert await requeue_stale_ingests({}) == 0
        async with pipeline._claimed(version.id) as also_mine:
            assert not also_mine  # a second run leaves it to the first
        assert await pipeline.run(version.id, store=get_store()) == "running"
    assert await requeue_stale_ingests({}) == 1  # that worker died: its version is sent again
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.READY


async def test_a_run_gives_its_version_back_however_it_ends(
    db: AsyncSession, data_dir: Path
) -> None:
    """Claims are held on pooled connections: a run that is cancelled, or whose connection
    is lost, leaves its version free for another worker (another connection: such locks
    are reentrant within one), and the next run claims on a working connection."""
    import asyncio

    from sqlalchemy import text

    from backend.ingest import pipeline

    holding = asyncio.Event()

    async def run(version_id: int, *, wait: float) -> None:
        async with pipeline._claimed(version_id) as mine:
            assert mine
            holding.set()
            await asyncio.sleep(wait)

    async def free(version_id: int) -> bool:
        found = await pipeline.abandoned(db, [version_id]) == [version_id]
        await db.rollback()  # (the check's own lock ends with its transaction)
        return found

    # Cancelled while it holds the lock.
    task = asyncio.create_task(run(424242, wait=60))
    await holding.wait()
    assert not await free(424242)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await free(424242)

    # Its connection killed under it: giving the lock back fails, and is not needed.
    holding.clear()
    task = asyncio.create_task(run(424243, wait=0.5))
    await holding.wait()
    killed = await db.exec(  # type: ignore[call-overload]
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid = :ns AND objid = :id"
        ).bindparams(ns=pipeline.LOCK_NAMESPACE, id=424243)
    )
    assert killed.scalars().all() == [True]
    await db.rollback()
    await task
    assert await free(424243)
    await run(424244, wait=0)  # the pool gives a working connection again


async def test_a_version_waiting_to_try_again_is_sent_again_only_after_its_wait(
    db: AsyncSession, data_dir: Path
) -> None:
    from datetime import timedelta

    from jobs.tasks import WAITING_AFTER, requeue_stale_ingests

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(db, librarian, collection, b"patient words\n", "p.txt")
    db.info.pop("deferred_jobs")
    # The scanner was away an hour after the upload; arq will try again in a few minutes.
    version.created_at = version.created_at - timedelta(hours=1)
    version.error = "Waiting to try again: the scanner is unreachable."
    version.step_at = version.created_at + timedelta(minutes=59)
    db.add(version)
    await db.commit()
    assert await requeue_stale_ingests({}) == 0
    assert version.step_at is not None
    version.step_at = version.step_at - WAITING_AFTER  # its job was lost meanwhile
    db.add(version)
    await db.commit()
    assert await requeue_stale_ingests({}) == 1


async def test_a_version_deleted_while_it_is_processed_ends_quietly(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A librarian deletes a document while its file is in the pipeline: the run ends
    "gone", with no error and nothing written for it."""
    import asyncio

    from backend.documents import service as documents
    from backend.ingest import pipeline
    from backend.settings import get_settings

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    document, version = await upload_bytes(db, librarian, collection, b"short lived\n", "a.txt")
    await db.commit()
    monkeypatch.setenv("INGEST_TEST_DELAY_SECONDS", "2")
    get_settings.cache_clear()
    try:
        running = asyncio.create_task(pipeline.run(version.id, store=get_store()))
        await asyncio.sleep(1)  # in the extraction step's wait
        assert document.id is not None
        await documents.delete_document(session=db, actor=librarian, document_id=document.id)
        await db.commit()
        assert await running == "gone"
    finally:
        monkeypatch.delenv("INGEST_TEST_DELAY_SECONDS")
        get_settings.cache_clear()
    pages = await db.exec(select(DocumentPage).where(DocumentPage.version_id == version.id))
    assert pages.all() == []


async def test_formats_libmagic_misnames_are_read(
    db: AsyncSession, corpus: Path, data_dir: Path
) -> None:
    """A PDF with stray bytes before its header, a DOCX whose parts come in an odd order,
    and a truncated DOCX: the first two end ready with their text; the last is said to be
    damaged (not "a ZIP archive is not accepted")."""
    import io
    import zipfile

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    pdf = (corpus / "files" / "py-pdf-sample-files" / "pdflatex-4-pages.pdf").read_bytes()
    _, stray = await upload_bytes(db, librarian, collection, b"\r\n\0junk\n" + pdf, "stray.pdf")
    source = corpus / "office" / "unstructured" / "docx-hdrftr.docx"
    with zipfile.ZipFile(source) as z:
        parts = [(n, z.read(n)) for n in z.namelist()]
    odd = io.BytesIO()
    with zipfile.ZipFile(odd, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in reversed(parts):  # [Content_Types].xml last
            z.writestr(name, data)
    _, reordered = await upload_bytes(db, librarian, collection, odd.getvalue(), "odd.docx")
    whole = source.read_bytes()
    _, cut = await upload_bytes(db, librarian, collection, whole[: len(whole) // 2], "cut.docx")
    await db.commit()
    await run_burst()
    for version in (stray, reordered, cut):
        await db.refresh(version)
    assert stray.status == IngestStatus.READY and stray.page_count == 4, stray.error
    assert reordered.status == IngestStatus.READY, reordered.error
    pages = (
        await db.exec(select(DocumentPage).where(DocumentPage.version_id == reordered.id))
    ).all()
    assert "".join(p.text for p in pages).strip()
    assert cut.status == IngestStatus.FAILED and cut.step == "sniff"
    assert "looks like a DOCX document but is damaged" in cut.error


async def test_an_email_with_an_attachment_is_catalogued_and_found(
    db: AsyncSession, corpus: Path, data_dir: Path
) -> None:
    from email.message import EmailMessage

    from backend.documents.models import Document

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    message = EmailMessage()
    message["From"] = "Harbour Office <office@harbour.example>"
    message["To"] = "library@example.org"
    message["Date"] = "Tue, 03 Mar 2026 09:15:00 +0100"
    message["Subject"] = "Tide tables for the spring"
    message.set_content("Dear librarians, the tables are attached.\n")
    pdf = corpus / "files" / "py-pdf-sample-files" / "pdflatex-4-pages.pdf"
    message.add_attachment(pdf.read_bytes(), "application", "pdf", filename="tides.pdf")
    document, version = await upload_bytes(db, librarian, collection, bytes(message), "m.eml")
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.READY, version.error
    assert version.mime_type == "message/rfc822" and version.page_count == 5
    document = await db.get(Document, document.id, populate_existing=True)  # type: ignore[assignment]
    assert document.title == "Tide tables for the spring"
    assert document.date_issued == "2026-03-03"
    patron = await make_user(db)
    found = await search.search(session=db, actor=patron, query="gefburn")  # in the PDF
    assert [h.document_id for h in found.hits] == [document.id]
    assert found.hits[0].page_no in {2, 3, 4, 5}
    found = await search.search(session=db, actor=patron, query="Harbour Office")
    assert [h.document_id for h in found.hits] == [document.id]


async def test_files_locked_by_a_password_are_never_published_empty(
    db: AsyncSession, corpus: Path, data_dir: Path
) -> None:
    from backend.documents import service as documents
    from backend.errors import NotFound

    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    locked = [
        corpus / "files" / "py-pdf-sample-files" / "libreoffice-writer-password.pdf",
        corpus / "office" / "unstructured" / "password_protected.xlsx",
    ]
    uploaded = [await upload_file(db, librarian, collection, path) for path in locked]
    await db.commit()
    await run_burst()
    patron = await make_user(db)
    for (document, version), what, step in zip(
        uploaded, ("PDF", "Office file"), ("extract", "sniff"), strict=True
    ):
        await db.refresh(version)
        assert version.status == IngestStatus.NEEDS_PASSWORD, (version.status, version.error)
        assert version.step == step
        assert version.error.startswith(f"The {what} is protected by a password")
        assert "Upload a copy saved without the password as a new version." in version.error
        with pytest.raises(NotFound):
            await documents.get(session=db, actor=patron, document_id=document.id)
        seen = await documents.get(session=db, actor=librarian, document_id=document.id)
        assert seen is not None


async def test_marked_words_are_boxed_on_the_page_image_for_those_who_may_see_it(
    db: AsyncSession, data_dir: Path, clean: None
) -> None:
    """A private document's word places are told only to its members; they are read from
    the PDF's text layer, or by OCR on a scanned page, once per version, page and words
    (kept in Redis)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    from backend.errors import NotFound
    from backend.ingest import pages
    from backend.redis_client import get_redis
    from tests.jobs.files import text_pdf

    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db, Role.PATRON)
    shelf = await make_collection(db, librarian, is_public=False)
    lines = ["the lamp was lit", "the lamp went out"]
    document, version = await upload_bytes(db, librarian, shelf, text_pdf(lines), "lamps.pdf")
    scan = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(scan).text(
        (50, 50), "The lamp was lit", fill="black", font=ImageFont.load_default(size=40)
    )
    pdf = io.BytesIO()
    scan.save(pdf, "PDF")
    scanned, read = await upload_bytes(db, librarian, shelf, pdf.getvalue(), "scan.pdf")
    await db.commit()
    await run_burst()
    for each in (version, read):
        await db.refresh(each)
        assert each.status == IngestStatus.READY, each.error
    ocr = await db.exec(select(DocumentPage.text).where(DocumentPage.version_id == read.id))
    assert "lamp" in ocr.one()  # the scan's words were read by OCR: it has text, no layer

    async def boxes(actor: object, doc: int, page_no: int, words: list[str]) -> list:
        return await pages.word_boxes(
            session=db, actor=actor, document_id=doc, page_no=page_no, words=words
        )  # type: ignore[arg-type]

    first = await boxes(librarian, document.id, 2, ["lamp", "out", " "])
    assert len(first) == 2 and all(0 < b.left < b.right < 1 for b in first)
    assert await get_redis().keys(f"boxes:{version.id}:2:*")  # kept for the next reader
    assert await boxes(librarian, document.id, 2, ["out", "lamp"]) == first  # any order
    assert await boxes(librarian, document.id, 2, []) == []
    # A scan has no text layer: its page, drawn as its image is, is read by OCR for them.
    (scanned_box,) = await boxes(librarian, scanned.id, 1, ["LAMP", "absent"])
    assert 0.15 < scanned_box.left < 0.3 and 0.04 < scanned_box.top < 0.12, scanned_box
    assert scanned_box.right - scanned_box.left < 0.2
    for outsider in (patron, None):
        with pytest.raises(NotFound):
            await boxes(outsider, document.id, 2, ["lamp"])
    with pytest.raises(NotFound):
        await boxes(librarian, document.id, 3, ["lamp"])  # a page it does not have
