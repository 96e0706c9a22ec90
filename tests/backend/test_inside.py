"""Inside one document: a page's text with the query's words marked (by stem, in the
document's language), and the pages where the words are."""

from pathlib import Path

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents import inside
from backend.documents.models import DocumentVersion
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst

PAGES = [
    "The keepers lit the lamps at dusk.",
    "Storms broke the lenses; the keeper's log says so.\nNothing else of note.",
    "A quiet page about gardens.",
    "Lamp oil, lamp wicks and a storm lantern. It's odd text.",
]


async def _document(db: AsyncSession, text: str, name: str) -> int:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    document, version = await upload_bytes(db, librarian, collection, text.encode(), name)
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == "ready", version.error
    return int(document.id)  # type: ignore[arg-type]


async def test_marks_words_by_stem_and_finds_the_pages(db: AsyncSession, data_dir: Path) -> None:
    # A form feed separates pages of a text file.
    doc = await _document(db, "\f".join(PAGES), "keepers.txt")
    page = await inside.marked_page(
        session=db, actor=None, document_id=doc, page_no=2, query='storm "lenses" -garden'
    )
    assert page.page_no == 2 and page.page_count == 4
    assert [s.text for s in page.segments or [] if s.hit] == ["Storms", "lenses"]
    assert page.text == PAGES[1] and page.marked == 2  # nothing lost around the marks
    # Past the last page: the last page. No query: the text, nothing marked.
    last = await inside.marked_page(session=db, actor=None, document_id=doc, page_no=99, query="")
    assert last.page_no == 4 and last.marked == 0 and "odd" in last.text
    # A prefix, an apostrophe, an excluded word that is not marked.
    found = await inside.find_inside(
        session=db, actor=None, document_id=doc, query="lam* keeper's NOT gardens"
    )
    assert [p.page_no for p in found.pages] == [1, 2, 4] and found.total == 3
    marked = {s.text.lower() for p in found.pages for s in p.around if s.hit}
    assert {"lamps", "lamp", "keeper"} <= marked and "gardens" not in marked
    # An excluded word is not looked for; a query of stop words finds nothing.
    garden = await inside.find_inside(session=db, actor=None, document_id=doc, query="garden -lamp")
    assert [p.page_no for p in garden.pages] == [3]
    stop = await inside.find_inside(session=db, actor=None, document_id=doc, query="the")
    assert stop.total == 0


async def test_words_match_in_the_documents_language(db: AsyncSession, data_dir: Path) -> None:
    text = (
        "Les gardiens allumaient les phares chaque soir, et le phare de l'île brillait "
        "jusqu'à l'aube. Les gardiens vivaient seuls sur les rochers battus par la mer."
    )
    doc = await _document(db, text, "phares.txt")
    version = (await db.exec(DocumentVersion.__table__.select())).all()  # type: ignore[attr-defined]
    assert any(v.language == "fr" for v in version)
    page = await inside.marked_page(
        session=db, actor=None, document_id=doc, page_no=1, query="phare"
    )
    assert [s.text for s in page.segments or [] if s.hit] == ["phares", "phare"]


async def test_a_page_too_long_to_mark_is_shown_whole_and_searched_in_its_start(
    db: AsyncSession, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL refuses a tsvector over 1 MB (a text file with no page breaks is one
    page): past MAX_MARKED characters a page is shown unmarked, whole, and searched in its
    first MAX_MARKED characters, never an error."""
    doc = await _document(db, "\f".join(PAGES), "long.txt")
    monkeypatch.setattr(inside, "MAX_MARKED", 40)
    page = await inside.marked_page(
        session=db, actor=None, document_id=doc, page_no=2, query="storms"
    )
    assert page.marked == 0 and page.text == PAGES[1]
    found = await inside.find_inside(session=db, actor=None, document_id=doc, query="storms")
    assert [p.page_no for p in found.pages] == [2, 4]  # ("storm lantern" on page 4)
    beyond = await inside.find_inside(session=db, actor=None, document_id=doc, query="note")
    assert beyond.total == 0  # ("of note." lies past the first 40 characters of page 2)
