"""Duplicates by SHA-256, new versions, and restoring an older version."""

from pathlib import Path

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.collections import service as collections
from backend.documents import service as documents
from backend.documents.models import Document, DocumentVersion, IngestStatus
from backend.errors import NotFound
from backend.search import service as search
from backend.storage.service import get_store
from backend.users.models import Role
from tests.factories import _chunks, make_collection, make_user, upload_bytes
from tests.worker import run_burst


async def _titles(db: AsyncSession, query: str) -> list[str]:
    return [h.title for h in (await search.search(session=db, actor=None, query=query)).hits]


async def test_a_duplicate_waits_for_a_decision_then_is_skipped(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian, "Maps", is_public=False)
    original, _ = await upload_bytes(db, librarian, collection, b"river atlas\n", "atlas.txt")
    await db.commit()
    await run_burst()
    copy, version = await upload_bytes(db, librarian, collection, b"river atlas\n", "copy.txt")
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.DUPLICATE and version.duplicate_of_id == original.id
    # The uploader is told which document it repeats; a curator of a private collection
    # holding the same bytes is not told about a document it may not see.
    listed = await documents.list_in_collection(
        session=db, actor=librarian, collection_id=collection.id
    )
    assert [(d.error, d.duplicate_of_id) for d in listed if d.id == copy.id] == [
        (
            "Duplicate of “atlas” in Maps: skip it, or add it as a new version of that document.",
            original.id,
        )
    ]
    # A patron who curates one private collection (staff see every collection anyway).
    outsider = await make_user(db, Role.PATRON)
    hidden = await make_collection(db, librarian, "Closed", is_public=False)
    await collections.add_member(
        session=db, actor=librarian, collection_id=hidden.id, email=outsider.email, role="curator"
    )
    _, mirror = await upload_bytes(db, outsider, hidden, b"river atlas\n", "mirror.txt")
    await db.commit()
    await run_burst()
    await db.refresh(mirror)
    assert mirror.status == IngestStatus.DUPLICATE
    seen = await documents.list_in_collection(session=db, actor=outsider, collection_id=hidden.id)
    assert seen[0].duplicate_of_id is None
    assert "atlas" not in seen[0].error and "Maps" not in seen[0].error
    assert "a collection you cannot see" in seen[0].error
    assert await _titles(db, "river") == []  # private: anonymous search sees nothing

    key = version.file_key
    assert (
        await documents.resolve_duplicate(
            session=db, actor=librarian, version_id=version.id, action="skip"
        )
        is None
    )
    await db.commit()
    assert await db.get(Document, copy.id) is None
    await run_burst()  # its file goes through the deletion outbox, after the commit
    assert not await get_store().exists(key)


async def test_a_duplicate_becomes_a_new_version(db: AsyncSession, data_dir: Path) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    original, first = await upload_bytes(db, librarian, collection, b"tide tables\n", "tides.txt")
    await db.commit()
    await run_burst()
    copy, second = await upload_bytes(db, librarian, collection, b"tide tables\n", "tides2.txt")
    await db.commit()
    await run_burst()
    target = await documents.resolve_duplicate(
        session=db, actor=librarian, version_id=second.id, action="new_version"
    )
    await db.commit()
    assert target == original.id
    await run_burst()
    await db.refresh(second)
    assert second.status == IngestStatus.READY and second.document_id == original.id
    assert second.version_no == 2
    assert await db.get(Document, copy.id) is None
    await db.refresh(original)
    assert original.current_version_id == second.id


async def test_new_version_takes_over_search_and_restore_brings_the_old_back(
    db: AsyncSession, data_dir: Path
) -> None:
    from backend.storage.service import store_stream

    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    collection = await make_collection(db, librarian)
    document, first = await upload_bytes(db, librarian, collection, b"old walrus census\n", "c.txt")
    await db.commit()
    await run_burst()
    stored = await store_stream(get_store(), _chunks(b"new narwhal census\n"))
    with pytest.raises(NotFound):
        await documents.add_version(
            session=db, actor=patron, document_id=document.id, stored=stored, filename="c.txt"
        )
    second = await documents.add_version(
        session=db, actor=librarian, document_id=document.id, stored=stored, filename="c2.txt"
    )
    await db.commit()
    assert await _titles(db, "walrus") == ["c"]  # the old version serves until the new is ready
    await run_burst()
    assert await _titles(db, "narwhal") == ["c"] and await _titles(db, "walrus") == []

    with pytest.raises(NotFound):
        await documents.restore_version(
            session=db, actor=patron, document_id=document.id, version_id=first.id
        )
    await documents.restore_version(
        session=db, actor=librarian, document_id=document.id, version_id=first.id
    )
    await db.commit()
    await run_burst()  # the indexer takes the change from the outbox
    assert await _titles(db, "walrus") == ["c"] and await _titles(db, "narwhal") == []
    detail = await documents.get(session=db, actor=patron, document_id=document.id)
    assert [v.version_no for v in detail.versions] == [2, 1]
    assert detail.current is not None and detail.current.id == first.id
    versions = (await db.exec(select(DocumentVersion))).all()
    assert {v.filename for v in versions} == {"c.txt", "c2.txt"} and second.id
