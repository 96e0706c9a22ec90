"""A change made through a page reaches search through the jobs its commit sends, not
through a cron passing by: the burst worker here runs queued jobs only, no crons."""

from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import service as auth
from backend.redis_client import get_redis
from backend.search import service as search
from backend.users.models import Role
from state.documents import DocumentState
from state.record import RecordState
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.state.tabs import Tabs, event_name
from tests.worker import run_burst


async def _titles(db: AsyncSession, words: str) -> list[str]:
    found = await search.search(session=db, actor=None, query=words, record=False, use_cache=False)
    return [h.title for h in found.hits]


async def test_a_record_saved_on_its_page_is_searchable_without_the_cron(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Open shelf")
    document, _ = await upload_bytes(db, librarian, shelf, b"walrus census\n", "census.txt")
    await db.commit()
    await run_burst()
    login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    async with Tabs() as tabs:
        tab = await tabs.open(f"/documents/{document.id}", cookie=login.token)
        await tabs.send(tab, event_name(RecordState.start_editing), {})
        form = {"title": "Narwhal atlas", "date_issued": "1901", "creators": "Ann Explorer"}
        await tabs.send(tab, event_name(RecordState.save), {"form": form})
        assert not tabs.errors, tabs.errors
        assert "Saved: title" in tab.sent()
    await run_burst()  # only what the save's commit queued
    assert await _titles(db, "narwhal") == ["Narwhal atlas"]


async def test_a_version_made_current_on_its_page_is_searchable_without_the_cron(
    db: AsyncSession, data_dir: Path
) -> None:
    from backend.documents import service as documents
    from backend.storage.service import get_store, store_stream

    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Open shelf")
    document, first = await upload_bytes(db, librarian, shelf, b"old walrus census\n", "c.txt")
    await db.commit()
    await run_burst()

    async def chunks():  # type: ignore[no-untyped-def]
        yield b"new narwhal census\n"

    stored = await store_stream(get_store(), chunks())
    await documents.add_version(
        session=db, actor=librarian, document_id=document.id, stored=stored, filename="c2.txt"
    )  # type: ignore[arg-type]
    await db.commit()
    await run_burst()
    assert await _titles(db, "walrus") == []
    login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    async with Tabs() as tabs:
        tab = await tabs.open(f"/documents/{document.id}", cookie=login.token)
        await tabs.send(tab, event_name(DocumentState.restore), {"version_id": first.id})
        assert not tabs.errors, tabs.errors
        assert "current again" in tab.sent()
    await run_burst()
    assert await _titles(db, "walrus") == ["c"]
