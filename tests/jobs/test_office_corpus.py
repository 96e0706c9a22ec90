"""Every file of the shared office corpus (119 real office, e-mail, text and PDF files
from another project's test suite) ends ready with its text, or in a state whose reason
is true and clear."""

import json
import os
from pathlib import Path

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents.models import DocumentPage, DocumentVersion
from backend.errors import InvalidInput
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_file
from tests.worker import run_burst

VAGUE = ("stopped unexpectedly", "The reader failed on this file", "crashed", "Traceback")


async def test_every_office_corpus_file_ends_ready_with_its_text_or_says_why(
    db: AsyncSession, corpus: Path, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    files = sorted((corpus / "office" / "unstructured").iterdir())
    assert len(files) == 119
    for path in files:
        if path.stat().st_size == 0:  # refused at the upload, with its reason
            with pytest.raises(InvalidInput, match=f"{path.name} is empty"):
                await upload_file(db, librarian, collection, path)
            continue
        await upload_file(db, librarian, collection, path)
    await db.commit()
    worker = await run_burst()
    assert worker.jobs_failed == 0
    outcome = {}
    for version in (await db.exec(select(DocumentVersion))).all():
        pages = (
            await db.exec(select(DocumentPage).where(DocumentPage.version_id == version.id))
        ).all()
        text = "\n".join(p.text for p in pages)
        outcome[version.filename] = (
            str(version.status),
            version.step,
            version.error,
            version.page_count,
            text[:300],
            bool(version.thumbnail_key),
        )
    if os.environ.get("OFFICE_CORPUS_DUMP"):
        Path(os.environ["OFFICE_CORPUS_DUMP"]).write_text(json.dumps(outcome, indent=1))
