"""Virus scanning through a real clamd: infected files are quarantined, never published."""

from pathlib import Path

import pytest
from arq import Retry
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents import service as documents
from backend.documents.models import IngestStatus
from backend.errors import PermissionDenied
from backend.search import service as search
from backend.settings import get_settings
from backend.storage.service import get_store
from backend.users.models import Role
from jobs.tasks import MAX_TRANSIENT_TRIES, ingest_version
from tests.conftest import EICAR
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst


@pytest.fixture
def scanner(clamd_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(get_settings(), "clamd_url", clamd_url)
    return clamd_url


async def test_infected_file_is_quarantined_and_never_served(
    db: AsyncSession, data_dir: Path, scanner: str
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    document, version = await upload_bytes(db, librarian, collection, EICAR, "eicar.txt")
    clean_doc, clean = await upload_bytes(db, librarian, collection, b"harmless words\n", "ok.txt")
    await db.commit()
    await run_burst()
    await db.refresh(version)
    await db.refresh(clean)
    assert version.status == IngestStatus.QUARANTINED and version.step == "virus_scan"
    assert "Eicar-Test-Signature" in version.error
    assert clean.status == IngestStatus.READY and "not scanned" not in clean.warnings
    with pytest.raises(PermissionDenied, match="quarantined"):
        await documents.open_download(session=db, actor=librarian, document_id=document.id)
    assert (await search.search(session=db, actor=librarian, query="EICAR")).total == 0
    with pytest.raises(Exception, match="Only a failed file"):
        await documents.retry(session=db, actor=librarian, version_id=version.id)


async def test_without_a_scanner_the_policy_decides(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, allowed = await upload_bytes(db, librarian, collection, b"first words\n", "a.txt")
    await db.commit()
    await run_burst()
    await db.refresh(allowed)
    assert allowed.status == IngestStatus.READY
    assert allowed.warnings.startswith("not scanned for viruses")

    monkeypatch.setattr(get_settings(), "publish_unscanned", False)
    _, held = await upload_bytes(db, librarian, collection, b"second words\n", "b.txt")
    await db.commit()
    await run_burst()
    await db.refresh(held)
    assert held.status == IngestStatus.FAILED and held.step == "virus_scan"
    assert "No virus scanner is configured" in held.error


async def test_an_unreachable_scanner_means_waiting_then_giving_up(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(get_settings(), "clamd_url", f"unix://{tmp_path}/nothing.sock")
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    _, version = await upload_bytes(db, librarian, collection, b"words\n", "w.txt")
    await db.commit()
    ctx = {"store": get_store(), "job_try": 1}
    with pytest.raises(Retry):
        await ingest_version(ctx, version.id)
    await db.refresh(version)
    assert version.status == IngestStatus.PENDING
    assert version.error.startswith("Waiting to try again: the virus scanner cannot be reached")
    ctx["job_try"] = MAX_TRANSIENT_TRIES
    assert await ingest_version(ctx, version.id) == "failed"
    await db.refresh(version)
    assert version.status == IngestStatus.FAILED and "Gave up after" in version.error
