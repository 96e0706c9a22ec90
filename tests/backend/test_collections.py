"""Collections: edit, members, cover, statistics, and deletion that never loses a
document by accident."""

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics.events import flush
from backend.browse import service as browse
from backend.collections import service as collections
from backend.db import session_scope
from backend.documents import service as documents
from backend.errors import Conflict, InvalidInput, NotFound
from backend.search import cache as search_cache
from backend.search import service as search
from backend.storage.service import get_store
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst


@pytest.fixture
async def setup(db: AsyncSession, data_dir: Path) -> dict[str, object]:
    curator = await make_user(db, Role.LIBRARIAN)
    other_librarian = await make_user(db, Role.LIBRARIAN)
    admin = await make_user(db, Role.ADMIN)
    patron = await make_user(db)
    shelf = await make_collection(db, curator, "Maritime charts")
    spare = await make_collection(db, curator, "Spare shelf")
    doc, version = await upload_bytes(db, curator, shelf, b"Soundings of the harbour.\n", "a.txt")
    await upload_bytes(db, curator, shelf, b"Tides and currents.\n", "b.txt")
    await db.commit()
    await run_burst()
    return {
        "curator": curator,
        "other": other_librarian,
        "admin": admin,
        "patron": patron,
        "shelf": shelf,
        "spare": spare,
        "doc": doc,
        "version": version,
    }


async def test_only_its_curators_and_admins_edit_a_collection(
    db: AsyncSession, setup: dict[str, object]
) -> None:
    shelf = setup["shelf"]
    with pytest.raises(NotFound):
        await collections.update(
            session=db,
            actor=setup["other"],
            collection_id=shelf.id,
            name="Mine",
            description="",
            is_public=True,  # type: ignore[arg-type, attr-defined]
        )
    with pytest.raises(NotFound):
        await collections.add_member(
            session=db,
            actor=setup["other"],
            collection_id=shelf.id,
            email="x@example.org",  # type: ignore[arg-type, attr-defined]
        )
    updated = await collections.update(
        session=db,
        actor=setup["admin"],
        collection_id=shelf.id,
        name="  Sea   charts ",
        description="Old maps.",
        is_public=True,  # type: ignore[arg-type, attr-defined]
    )
    assert updated.name == "Sea charts" and updated.slug == "maritime-charts"  # links stay
    with pytest.raises(InvalidInput):
        await collections.update(
            session=db,
            actor=setup["curator"],
            collection_id=shelf.id,
            name=" ",
            description="",
            is_public=True,  # type: ignore[arg-type, attr-defined]
        )


async def test_a_renamed_collection_is_found_by_its_new_name(
    db: AsyncSession, setup: dict[str, object]
) -> None:
    shelf = setup["shelf"]
    await collections.update(
        session=db,
        actor=setup["curator"],
        collection_id=shelf.id,
        name="Admiralty soundings",
        description="",
        is_public=True,  # type: ignore[arg-type, attr-defined]
    )
    await db.commit()
    await run_burst()
    found = await search.search(session=db, actor=None, query="collection:admiralty", record=False)
    assert found.total == 2


async def test_making_a_collection_private_hides_it_at_once(
    db: AsyncSession, setup: dict[str, object]
) -> None:
    shelf, patron = setup["shelf"], setup["patron"]
    await collections.update(
        session=db,
        actor=setup["curator"],
        collection_id=shelf.id,
        name=shelf.name,
        description="",
        is_public=False,  # type: ignore[arg-type, attr-defined]
    )
    await db.commit()
    found = await search.search(session=db, actor=patron, query="harbour", record=False)  # type: ignore[arg-type]
    assert found.total == 0
    keys = await browse.keys(session=db, actor=patron, classifier="title")  # type: ignore[arg-type]
    assert keys.keys == []
    with pytest.raises(NotFound):
        await collections.stats(session=db, actor=patron, collection_id=shelf.id)  # type: ignore[arg-type, attr-defined]


async def test_members_and_the_last_curator(db: AsyncSession, setup: dict[str, object]) -> None:
    shelf, curator, patron = setup["shelf"], setup["curator"], setup["patron"]
    await collections.add_member(
        session=db,
        actor=curator,
        collection_id=shelf.id,
        email=patron.email,  # type: ignore[arg-type, attr-defined]
    )
    rows = await collections.members(session=db, actor=curator, collection_id=shelf.id)  # type: ignore[arg-type, attr-defined]
    assert {(u.email, m.role) for m, u in rows} == {
        (curator.email, "curator"),  # type: ignore[attr-defined]
        (patron.email, "viewer"),  # type: ignore[attr-defined]
    }
    with pytest.raises(Conflict):
        await collections.remove_member(
            session=db,
            actor=curator,
            collection_id=shelf.id,
            user_id=curator.id,  # type: ignore[arg-type, attr-defined]
        )
    await collections.remove_member(
        session=db,
        actor=curator,
        collection_id=shelf.id,
        user_id=patron.id,  # type: ignore[arg-type, attr-defined]
    )
    rows = await collections.members(session=db, actor=curator, collection_id=shelf.id)  # type: ignore[arg-type, attr-defined]
    assert [u.email for _, u in rows] == [curator.email]  # type: ignore[attr-defined]


async def test_statistics(db: AsyncSession, setup: dict[str, object]) -> None:
    shelf, doc = setup["shelf"], setup["doc"]
    await db.refresh(setup["version"])  # processed by the worker since
    await documents.get(session=db, actor=None, document_id=doc.id)  # type: ignore[attr-defined]
    # Downloads count once per person per document per hour: the same visitor's second
    # download does not count, another visitor's does.
    for address in ("198.51.100.7", "198.51.100.7", "2001:db8::1", "2001:db8::2"):
        await documents.open_download(session=db, actor=None, document_id=doc.id, client=address)  # type: ignore[attr-defined]
    await flush()  # (the worker's, every few seconds)
    numbers = await collections.stats(session=db, actor=None, collection_id=shelf.id)  # type: ignore[attr-defined]
    # (two IPv6 addresses of one /64 network are one visitor)
    assert (numbers.documents, numbers.pages, numbers.views, numbers.downloads) == (2, 2, 1, 2)
    assert numbers.total_bytes == len(b"Soundings of the harbour.\n") + len(
        b"Tides and currents.\n"
    )
    assert numbers.last_added is not None


async def test_a_cover_is_made_from_an_image_and_nothing_else(
    db: AsyncSession, setup: dict[str, object]
) -> None:
    shelf, curator = setup["shelf"], setup["curator"]
    picture = io.BytesIO()
    Image.new("RGB", (2000, 1000), "navy").save(picture, "PNG")
    with pytest.raises(InvalidInput):
        await collections.set_cover(
            session=db,
            actor=curator,
            collection_id=shelf.id,
            data=b"%PDF-1.4 not an image",  # type: ignore[arg-type, attr-defined]
        )
    updated = await collections.set_cover(
        session=db,
        actor=curator,
        collection_id=shelf.id,
        data=picture.getvalue(),  # type: ignore[arg-type, attr-defined]
    )
    key, public = await collections.open_cover(session=db, actor=None, collection_id=shelf.id)  # type: ignore[attr-defined]
    assert key == updated.cover_key and public
    stored = b"".join([chunk async for chunk in get_store().read(key)])
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == "WEBP" and img.size == (960, 480)
    listed = {c.name: c for c in await collections.list_visible(session=db, actor=None)}
    card = listed["Maritime charts"]
    assert card.cover_url == f"/api/v1/collections/{shelf.id}/cover?v={key[-12:]}"  # type: ignore[attr-defined]
    assert card.document_count == 2 and listed["Spare shelf"].cover_url == ""


async def test_deleting_a_collection_that_holds_documents_asks_what_becomes_of_them(
    db: AsyncSession, setup: dict[str, object]
) -> None:
    shelf, spare, curator = setup["shelf"], setup["spare"], setup["curator"]
    with pytest.raises(Conflict, match="still holds 2 documents"):
        await collections.delete(session=db, actor=curator, collection_id=shelf.id)  # type: ignore[arg-type, attr-defined]
    with pytest.raises(InvalidInput):
        await collections.delete(
            session=db,
            actor=curator,
            collection_id=shelf.id,
            documents="move",  # type: ignore[arg-type, attr-defined]
        )
    moved = await collections.delete(
        session=db,
        actor=curator,
        collection_id=shelf.id,
        documents="move",
        move_to=spare.id,  # type: ignore[arg-type, attr-defined]
    )
    assert moved == 2
    await db.commit()
    await run_burst()
    titles = await browse.keys(session=db, actor=None, classifier="type", collection_id=spare.id)  # type: ignore[attr-defined]
    assert [(k.key, k.count) for k in titles.keys] == [("text", 2)]
    found = await search.search(session=db, actor=None, query="harbour", record=False)
    assert found.total == 1 and found.hits[0].collection_name == "Spare shelf"
    audit = (
        await db.exec(
            text("SELECT action, changes FROM audit_log WHERE action = 'collection_deleted'")
        )
    ).one()  # type: ignore[call-overload]
    assert audit.changes["documents"] == [2, "move"]


async def test_deleting_with_its_documents_removes_their_files_too(
    db: AsyncSession, setup: dict[str, object]
) -> None:
    shelf, curator, version = setup["shelf"], setup["curator"], setup["version"]
    key = version.file_key  # type: ignore[attr-defined]
    deleted = await collections.delete(
        session=db,
        actor=curator,
        collection_id=shelf.id,
        documents="delete",  # type: ignore[arg-type, attr-defined]
    )
    assert deleted == 2
    await db.commit()
    await run_burst()
    assert not await get_store().exists(key)
    found = await search.search(session=db, actor=curator, query="harbour", record=False)  # type: ignore[arg-type]
    assert found.total == 0
    left = (await db.exec(text("SELECT count(*) FROM documents"))).one()  # type: ignore[call-overload]
    assert left[0] == 0


async def test_a_curator_deletes_one_document_and_its_files(
    db: AsyncSession, setup: dict[str, object]
) -> None:
    curator, patron, doc, version = (
        setup["curator"],
        setup["patron"],
        setup["doc"],
        setup["version"],
    )
    with pytest.raises(NotFound):
        await documents.delete_document(session=db, actor=patron, document_id=doc.id)  # type: ignore[arg-type, attr-defined]
    slug = await documents.delete_document(session=db, actor=curator, document_id=doc.id)  # type: ignore[arg-type, attr-defined]
    assert slug == "maritime-charts"
    await db.commit()
    await run_burst()
    assert not await get_store().exists(version.file_key)  # type: ignore[attr-defined]
    assert (await search.search(session=db, actor=None, query="harbour", record=False)).total == 0
    keys = await browse.keys(session=db, actor=None, classifier="type")
    assert [(k.key, k.count) for k in keys.keys] == [("text", 1)]
    audit = (
        await db.exec(
            text("SELECT action, changes FROM audit_log WHERE action = 'document_deleted'")
        )
    ).one()  # type: ignore[call-overload]
    assert audit.changes == {"title": ["a", None]}


async def test_the_collections_counts_are_counted_once_until_the_index_changes(
    db: AsyncSession, setup: dict[str, object]
) -> None:
    """Every home page shows them; counting reads the whole documents table."""

    async def shown() -> int:
        async with session_scope() as fresh:  # (as a request does)
            listed = await collections.list_visible(session=fresh, actor=None)
        return {c.name: c.document_count for c in listed}["Maritime charts"]

    assert await shown() == 2
    unlisted = setup["doc"].id  # type: ignore[attr-defined]
    await db.execute(text("UPDATE documents SET listed = false WHERE id = :d"), {"d": unlisted})
    await db.commit()
    assert await shown() == 2  # kept: the index has not changed
    await search_cache.index_changed()  # what the indexer does after each batch
    assert await shown() == 1
