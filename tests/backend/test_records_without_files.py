"""A record without a file (a book on the shelf): catalogued by a curator, then browsed,
searched and shown like any document, to those who may see its collection."""

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.browse import service as browse
from backend.documents import catalogue, metadata
from backend.documents import service as documents
from backend.errors import InvalidInput, NotFound
from backend.search import service as search
from backend.users.models import Role
from tests.factories import make_collection, make_user
from tests.worker import run_burst


async def test_a_record_alone_is_browsed_searched_and_shown(
    db: AsyncSession, data_dir: object
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    shelf = await make_collection(db, librarian, "Reading room")
    assert shelf.id is not None
    record = metadata.Record(
        title="A history of lighthouse optics",
        creators=["Fresnel, Augustin"],
        date_issued="1822",
        description="Bound volume, shelf 12B.",
        language="fr",
    )
    with pytest.raises(NotFound):  # a patron catalogues nothing
        await metadata.catalogue_without_file(
            session=db, actor=patron, collection_id=shelf.id, record=record
        )
    with pytest.raises(InvalidInput, match="needs a title"):
        await metadata.catalogue_without_file(
            session=db, actor=librarian, collection_id=shelf.id, record=metadata.Record()
        )
    made = await metadata.catalogue_without_file(
        session=db, actor=librarian, collection_id=shelf.id, record=record
    )
    await db.commit()
    await run_burst()  # into the search engine
    assert made.id is not None and made.kind == "record" and made.current_version_id is None

    found = await search.search(session=db, actor=patron, query="lighthouse optics")
    assert [h.document_id for h in found.hits] == [made.id]
    assert found.hits[0].authors == ["Fresnel, Augustin"] and found.hits[0].year == 1822
    assert found.hits[0].kind == "record"
    kinds = {f.value: f.label for f in found.facets["type"]}
    assert kinds == {"record": "Record (no file)"}
    by_author = await search.search(session=db, actor=patron, query="author:fresnel")
    assert by_author.total == 1

    page = await browse.documents(session=db, actor=patron, classifier="title", key=None)
    assert made.id in [d.id for d in page.documents]
    shown = await documents.get(session=db, actor=patron, document_id=made.id)
    assert shown.title == "A history of lighthouse optics"
    assert shown.current is None and shown.versions == []
    record_of = await catalogue.catalogued(session=db, actor=patron, document_id=made.id)
    assert record_of.dublin_core().creator == ["Fresnel, Augustin"]
    assert "lighthouse" in catalogue.bibtex(record_of).lower()
    assert await search.similar(session=db, actor=patron, document_id=made.id) == []
    assert await catalogue.related(session=db, actor=patron, document_id=made.id) == []
    history = await metadata.history(session=db, actor=librarian, document_id=made.id)
    assert history and history[0].action == "catalogue"
