from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.analytics.models import AnalyticsEvent
from backend.search import service as search
from backend.search.engine import split_segments
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst


def test_snippets_are_segments_split_at_the_engine_spans_only() -> None:
    fragment = "a <b>bold</b>\n claim  here"
    parts = split_segments(fragment, [(fragment.index("claim"), fragment.index("claim") + 5)])
    assert [(p.text, p.hit) for p in parts] == [
        ("a <b>bold</b> ", False),
        ("claim", True),
        (" here", False),
    ]


async def test_markup_in_documents_stays_text_and_searches_are_recorded(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    body = b"Notes on the aerodynamic heating <img src=x onerror=alert(1)> of blunt bodies.\n"
    await upload_bytes(db, librarian, collection, body, "heating.txt")
    await queue.commit(db)
    await run_burst()
    results = await search.search(session=db, actor=None, query="heating -nonexistent")
    await db.commit()
    assert results.total == 1
    joined = "".join(s.text for s in results.hits[0].snippet)
    assert "<img src=x onerror=alert(1)>" in joined  # plain text segments, rendered as text
    assert [s.text for s in results.hits[0].snippet if s.hit] == ["heating"]
    event = (await db.exec(select(AnalyticsEvent).where(AnalyticsEvent.kind == "search"))).one()
    assert event.query == "heating -nonexistent" and event.result_count == 1


async def test_phrases_or_and_exclusion(db: AsyncSession, data_dir: Path) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    await upload_bytes(db, librarian, collection, b"supersonic flow over a wedge\n", "a.txt")
    await upload_bytes(db, librarian, collection, b"flow of supersonic jets\n", "b.txt")
    await queue.commit(db)
    await run_burst()

    async def titles(q: str) -> set[str]:
        return {h.title for h in (await search.search(session=db, actor=None, query=q)).hits}

    assert await titles('"supersonic flow"') == {"a"}
    assert await titles("supersonic -wedge") == {"b"}
    assert await titles("wedge OR jets") == {"a", "b"}
    assert await titles("   ") == set()
    assert await titles('"unbalanced ( quote') == set()  # never an error
