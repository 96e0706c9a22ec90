from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics.events import flush
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
    await db.commit()
    await run_burst()
    results = await search.search(session=db, actor=None, query="heating -nonexistent")
    await db.commit()
    assert results.total == 1
    joined = "".join(s.text for s in results.hits[0].snippet)
    assert "<img src=x onerror=alert(1)>" in joined  # plain text segments, rendered as text
    assert [s.text for s in results.hits[0].snippet if s.hit] == ["heating"]
    await flush()  # the event waits in Redis for the worker's flush
    event = (await db.exec(select(AnalyticsEvent).where(AnalyticsEvent.kind == "search"))).one()
    assert event.query == "heating -nonexistent" and event.result_count == 1


async def test_phrases_or_and_exclusion(db: AsyncSession, data_dir: Path) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    await upload_bytes(db, librarian, collection, b"supersonic flow over a wedge\n", "a.txt")
    await upload_bytes(db, librarian, collection, b"flow of supersonic jets\n", "b.txt")
    await db.commit()
    await run_burst()

    async def titles(q: str) -> set[str]:
        return {h.title for h in (await search.search(session=db, actor=None, query=q)).hits}

    assert await titles('"supersonic flow"') == {"a"}
    assert await titles("supersonic -wedge") == {"b"}
    assert await titles("wedge OR jets") == {"a", "b"}
    assert await titles("   ") == set()
    assert await titles('"unbalanced ( quote') == set()  # never an error


async def test_results_are_cached_per_scope_until_the_index_changes(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    shelf = await make_collection(db, librarian)
    closed = await make_collection(db, librarian, is_public=False)
    await upload_bytes(db, librarian, shelf, b"tidal mills of the estuary\n", "mills.txt")
    await upload_bytes(db, librarian, closed, b"tidal survey, restricted\n", "survey.txt")
    await db.commit()
    await run_burst()

    async def run(actor: object, q: str = "tidal") -> int:
        found = await search.search(session=db, actor=actor, query=q)  # type: ignore[arg-type]
        await db.commit()
        return found.total

    assert await run(patron) == 1
    assert await run(patron) == 1
    assert await run(librarian) == 2  # another scope: not served the patron's entry
    assert await run(patron, "  tidal ") == 1  # the same query once read
    await flush()
    events = (
        await db.exec(
            select(AnalyticsEvent)
            .where(AnalyticsEvent.kind == "search")
            .order_by(AnalyticsEvent.at)  # type: ignore[arg-type]
        )
    ).all()
    assert [e.data["cached"] for e in events] == [False, True, False, True]
    # A new document reaches the index: cached results are stale and not served.
    await upload_bytes(db, librarian, shelf, b"tidal power\n", "power.txt")
    await db.commit()
    await run_burst()
    assert await run(patron) == 2


async def test_an_opened_result_is_recorded_with_its_rank(db: AsyncSession, data_dir: Path) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    shelf = await make_collection(db, librarian)
    closed = await make_collection(db, librarian, is_public=False)
    doc, _ = await upload_bytes(db, librarian, shelf, b"estuary birds\n", "birds.txt")
    hidden, _ = await upload_bytes(db, librarian, closed, b"estuary plans\n", "plans.txt")
    await db.commit()
    await run_burst()  # a document is visible to patrons once it is processed
    assert await search.record_click(
        session=db, actor=patron, query=" estuary ", document_id=doc.id, rank=3
    )
    # A document the patron may not see, or a nonsense rank, is not recorded.
    assert not await search.record_click(
        session=db, actor=patron, query="estuary", document_id=hidden.id, rank=1
    )
    assert not await search.record_click(
        session=db, actor=patron, query="estuary", document_id=doc.id, rank=0
    )
    await db.commit()
    await flush()
    clicks = (
        await db.exec(select(AnalyticsEvent).where(AnalyticsEvent.kind == "search_click"))
    ).all()
    assert [(c.query, c.document_id, c.data["rank"], c.user_id) for c in clicks] == [
        ("estuary", doc.id, 3, patron.id)
    ]


async def test_a_word_being_typed_finds_marks_and_names_its_page(
    db: AsyncSession, data_dir: Path
) -> None:
    """Search as you type reads the last word as a prefix: "lighth" already finds
    "Lighthouses", marks it in the snippet and names its page; "did you mean" waits for
    the word to end. A word* typed in full does the same."""
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    pages = ["Tides and currents.", "Gulls over the harbour.", "Lighthouses of the north coast."]
    await upload_bytes(db, librarian, collection, "\f".join(pages).encode(), "coast.txt")
    await db.commit()
    await run_burst()
    for query, typing in (("lighth", True), ("lighth*", False), ("north lighth", True)):
        found = await search.search(session=db, actor=None, query=query, typing=typing)
        assert found.total == 1, query
        hit = found.hits[0]
        assert "Lighthouses" in [s.text for s in hit.snippet if s.hit], query
        assert hit.page_no == 3, query
    # Searched (not typed), "lighth" is a word, and the page offers the word it begins.
    assert (await search.search(session=db, actor=None, query="lighth")).suggestion == "lighthouses"
    # A finished word (a space after it) is searched as typed; a misspelt one is corrected.
    typed = await search.search(session=db, actor=None, query="harbuor ", typing=True)
    assert typed.suggestion == "harbour"
    partial = await search.search(session=db, actor=None, query="harbuo", typing=True)
    assert partial.suggestion is None
    await db.commit()


async def test_a_chinese_word_is_found_inside_a_sentence_of_an_uploaded_text(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    body = "新鲜甘草黄酮养分的提取方法。甘草是一种常用的中药材。\n".encode()
    await upload_bytes(db, librarian, collection, body, "甘草.txt")
    await upload_bytes(db, librarian, collection, "除草剂草甘膦的毒性。\n".encode(), "b.txt")
    await db.commit()
    await run_burst()
    results = await search.search(session=db, actor=None, query="黄酮")
    await db.commit()
    assert [h.title for h in results.hits] == ["甘草"]
    shown = results.hits[0].snippet
    assert [s.text for s in shown if s.hit] == ["黄酮"]  # one mark, not one per character
    assert "新鲜甘草黄酮养分的提取方法" in "".join(s.text for s in shown)
    assert (await search.search(session=db, actor=None, query="甘草")).total == 1
