"""Every file of the shared corpus ends ready or failed with a specific reason."""

from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents.models import DocumentVersion, IngestStatus
from backend.ingest.pipeline import DUPLICATE_REASON
from backend.search.engines import get_search_engine
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_file
from tests.worker import run_burst

# The corpus holds two byte-identical pairs; the later upload of each is a duplicate.
EXPECTED_DUPLICATES = {"source.odt", "smile.png"}
VAGUE = ("stopped unexpectedly", "The reader failed on this file", "crashed")
# Files the corpus manifest marks as damaged, bombs or unsupported formats.
EXPECTED_FAILURES = {
    "broken.png",
    "broken_data_stream.png",
    "decompression_bomb.gif",
    "truncated_image.png",
    "truncated_jpeg.jpg",
    "ultrahdr.jpg",
    "hopper.bmp",
    "hopper.psd",
    "test-card-lossless.jp2",
    "unreadablemetadata.pdf",
}
# Locked by a password: never published empty.
EXPECTED_PASSWORDS = {"libreoffice-writer-password.pdf"}


async def test_every_corpus_file_ends_ready_or_failed_with_a_reason(
    db: AsyncSession, corpus: Path, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    files = sorted(p for p in (corpus / "files").glob("*/*") if p.name != "manifest.tsv")
    assert len(files) == 88
    for path in files:
        await upload_file(db, librarian, collection, path)
    await db.commit()
    worker = await run_burst()
    assert worker.jobs_failed == 0

    versions = (await db.exec(select(DocumentVersion))).all()
    ready = sum(v.status == IngestStatus.READY for v in versions)
    # One ingest job per file, and (tests index at once) one indexer run per ready file.
    assert worker.jobs_complete == len(files) + ready
    assert await get_search_engine().count() == ready
    outcome = {}
    for v in versions:
        await db.refresh(v)
        outcome[v.filename] = (v.status, v.step, v.error)
    duplicates = {n for n, (s, _, _) in outcome.items() if s == IngestStatus.DUPLICATE}
    assert duplicates == EXPECTED_DUPLICATES
    for name, (status, _step, error) in outcome.items():
        if name in duplicates:
            assert error == DUPLICATE_REASON, (name, error)
            continue
        assert status in (
            IngestStatus.READY,
            IngestStatus.FAILED,
            IngestStatus.NEEDS_PASSWORD,
        ), (name, status)
        if status != IngestStatus.READY:
            assert error and not any(v in error for v in VAGUE), (name, error)
    failed = {n for n, (s, _, _) in outcome.items() if s == IngestStatus.FAILED}
    assert failed == EXPECTED_FAILURES
    locked = {n for n, (s, _, _) in outcome.items() if s == IngestStatus.NEEDS_PASSWORD}
    assert locked == EXPECTED_PASSWORDS
    ready = [v for v in versions if v.status == IngestStatus.READY]
    with_thumbnail = [v for v in ready if v.thumbnail_key]
    # Every ready document has a picture: its own, its first page, or its text drawn.
    assert len(with_thumbnail) == len(ready)
