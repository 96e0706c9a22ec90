"""One set of human labels (backend.labels): the same name for a kind, a format and a
language in the search facets, the browse lists (page and API) and the document page."""

from pathlib import Path

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import labels
from backend.browse import service as browse
from backend.documents import metadata
from backend.search import service as search
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst


def test_codes_become_names_and_unknown_ones_stay_themselves() -> None:
    assert [labels.kind(k) for k in ("pdf", "docx", "email", "rtf")] == [
        "PDF",
        "Word",
        "E-mail",
        "RTF",
    ]
    assert labels.kind("new_kind") == "New kind"
    assert labels.file_format("application/pdf") == "PDF document"
    assert labels.file_format("text/plain; charset=utf-8") == "Plain text"
    assert labels.file_format("application/x-7z-compressed") == "7Z file"
    assert labels.file_format("x-unheard/of") == "x-unheard/of"
    # Any ISO 639 code has its name, not only the languages the library detects.
    assert [labels.language(c) for c in ("en", "fr", "sw", "haw")] == [
        "English",
        "French",
        "Swahili",
        "Hawaiian",
    ]
    assert [labels.language(c) for c in ("", "xx", "not a code")] == ["", "xx", "not a code"]


async def test_facets_and_browse_lists_say_the_same(
    db: AsyncSession, api: httpx.AsyncClient, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Shelf")
    document, _ = await upload_bytes(db, librarian, shelf, b"Les marees du golfe.\n", "m.txt")
    await db.commit()
    await run_burst()
    assert document.id is not None
    record, _ = await metadata.editable(session=db, actor=librarian, document_id=document.id)
    record.language = "fr"
    await metadata.update(session=db, actor=librarian, document_id=document.id, record=record)
    await db.commit()
    await run_burst()
    found = await search.search(session=db, actor=None, query="marees", use_cache=False)
    facet = {f: [v.label for v in found.facets[f]] for f in ("type", "language")}
    assert facet == {"type": ["Text"], "language": ["French"]}
    for classifier, label in (("type", "Text"), ("language", "French")):
        page = await browse.keys(session=db, actor=None, classifier=classifier)
        assert [k.label for k in page.keys] == [label]
        listed = (await api.get(f"/api/v1/browse/{classifier}")).json()
        assert [e["label"] for e in listed["items"]] == [label]
