"""tantivy's engine keeps what it learns of the index per state of the index (its
generation): a search still reading an older state never leaves it for a newer one."""

from pathlib import Path

from backend.search.engine import EngineQuery
from backend.search.query import parse
from backend.search.tantivy_engine import TantivyEngine
from tests.backend.test_engines import _doc


async def test_a_search_on_an_older_state_leaves_nothing_for_the_newer_one(
    tmp_path: Path,
) -> None:
    engine = TantivyEngine(tmp_path / "search")
    engine.prepare()
    await engine.apply([_doc(1, "Wing flutter", "Heated aircraft wings.")], [])
    old, old_generation = engine._snapshot()
    # The first German document: the index now has German fields to search.
    await engine.apply(
        [_doc(2, "Notizen", "Die Flugzeuge und ihre Tragflächen.", language="de")], []
    )
    _, generation = engine._snapshot()  # the newer state, as the next search sees it
    # A slow search, still on the older state, asks for the languages and corrections.
    assert "de" not in engine._languages(old, old_generation)
    engine._corrections(old_generation)["flugzeuge"] = None
    found = await engine.search(EngineQuery(tree=parse("Flugzeuge").tree, collections=None))
    assert [h.document_id for h in found.hits] == [2]
    assert engine._snapshot()[1] == generation
    assert "flugzeuge" not in engine._corrections(generation)
