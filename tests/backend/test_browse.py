"""Browse classifiers and the catalogue record, through the real pipeline and services."""

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.browse import service as browse
from backend.collections import service as collections
from backend.documents import metadata
from backend.documents.models import Document
from backend.errors import InvalidInput, NotFound
from backend.users.models import Role, User
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst

TITLES = {
    "zebra.txt": "The Zebra handbook",
    "salem.txt": "'Salem's Lot",
    "eclair.txt": "Éclairs and other pastries",
    "apple.txt": "apple growing",
    "vol10.txt": "Volume 10",
    "vol2.txt": "Volume 2",
}


async def _edit(db: AsyncSession, actor: User, doc_id: int, **fields: object) -> dict:  # type: ignore[type-arg]
    document = await db.get(Document, doc_id)
    assert document is not None
    record = await metadata.record_of(db, document)
    for name, value in fields.items():
        setattr(record, name, value)
    return await metadata.update(session=db, actor=actor, document_id=doc_id, record=record)


@pytest.fixture
async def shelf(db: AsyncSession, data_dir: Path) -> dict[str, object]:
    librarian = await make_user(db, Role.LIBRARIAN)
    member = await make_user(db)
    outsider = await make_user(db)
    public = await make_collection(db, librarian, "Open shelf")
    private = await make_collection(db, librarian, "Private archive", is_public=False)
    assert private.id is not None and public.id is not None
    await collections.add_member(
        session=db, actor=librarian, collection_id=private.id, email=member.email
    )
    docs = {}
    for name in TITLES:
        doc, _ = await upload_bytes(db, librarian, public, f"Text of {name}.\n".encode(), name)
        docs[name] = doc.id
    secret, _ = await upload_bytes(db, librarian, private, b"The quokka ledger.\n", "ledger.txt")
    await db.commit()
    await run_burst()
    science = await metadata.add_subject(session=db, actor=librarian, name="Science")
    physics = await metadata.add_subject(
        session=db, actor=librarian, name="Physics", parent_id=science.id
    )
    optics = await metadata.add_subject(
        session=db, actor=librarian, name="Optics", parent_id=physics.id
    )
    for name, title in TITLES.items():
        await _edit(db, librarian, docs[name], title=title)
    await _edit(
        db,
        librarian,
        docs["zebra.txt"],
        creators=["John Smith", "Ann Lee"],
        date_issued="1958-03",
        subject_ids=[optics.id, physics.id],
    )
    await _edit(db, librarian, docs["apple.txt"], creators=["Smith, John"], date_issued="1962")
    await _edit(
        db,
        librarian,
        secret.id,
        title="Quokka ledger",
        creators=["Quentin Secret"],
        date_issued="1955",
        subject_ids=[optics.id],
    )
    await db.commit()
    return {
        "librarian": librarian,
        "member": member,
        "outsider": outsider,
        "public": public,
        "private": private,
        "docs": docs,
        "secret": secret.id,
        "subjects": (science.id, physics.id, optics.id),
    }


async def _keys(db: AsyncSession, actor: User | None, classifier: str, **kw: object) -> dict:  # type: ignore[type-arg]
    page = await browse.keys(session=db, actor=actor, classifier=classifier, **kw)  # type: ignore[arg-type]
    return {k.label: k.count for k in page.keys}


async def _titles(db: AsyncSession, actor: User | None, classifier: str, key: str | None) -> list:  # type: ignore[type-arg]
    page = await browse.documents(session=db, actor=actor, classifier=classifier, key=key)
    return [d.title for d in page.documents]


async def test_titles_sort_without_articles_accents_or_case(
    db: AsyncSession, shelf: dict[str, object]
) -> None:
    assert await _titles(db, None, "title", None) == [
        "apple growing",
        "Éclairs and other pastries",
        "'Salem's Lot",
        "Volume 2",
        "Volume 10",
        "The Zebra handbook",
    ]
    assert await _keys(db, None, "title") == {"A": 1, "E": 1, "S": 1, "V": 2, "Z": 1}
    assert await _titles(db, None, "title", "V") == ["Volume 2", "Volume 10"]


async def test_authors_by_surname_with_their_documents(
    db: AsyncSession, shelf: dict[str, object]
) -> None:
    # "John Smith" and "Smith, John" are one author, filed under the surname.
    assert await _keys(db, None, "author") == {"Lee, Ann": 1, "Smith, John": 2}
    page = await browse.keys(session=db, actor=None, classifier="author")
    smith = next(k.key for k in page.keys if k.label == "Smith, John")
    assert await _titles(db, None, "author", smith) == ["apple growing", "The Zebra handbook"]


async def test_subject_tree_counts_each_document_once_per_branch(
    db: AsyncSession, shelf: dict[str, object]
) -> None:
    science, physics, optics = shelf["subjects"]  # type: ignore[misc]
    librarian = shelf["librarian"]
    top, _ = await browse.subject_children(session=db, actor=None, parent_id=None)
    # The Zebra handbook is under Optics and Physics: one document under Science.
    assert [(n.name, n.count, n.has_children) for n in top] == [("Science", 1, True)]
    staff_top, _ = await browse.subject_children(session=db, actor=librarian, parent_id=None)  # type: ignore[arg-type]
    assert [(n.name, n.count) for n in staff_top] == [("Science", 2)]  # the ledger too
    down, _ = await browse.subject_children(session=db, actor=None, parent_id=physics)
    assert [(n.name, n.count, n.has_children) for n in down] == [("Optics", 1, False)]
    assert [n for _, n in await browse.subject_trail(db, optics)] == [
        "Science",
        "Physics",
        "Optics",
    ]
    assert await _titles(db, None, "subject", str(science)) == ["The Zebra handbook"]


def test_year_keys_sort_by_value_before_the_common_era_too() -> None:
    years = [-1750, -755, -300, 0, 5, 800, 1950, 2024]
    keys = [browse.year_key(y) for y in years]
    assert sorted(keys) == keys
    assert browse.decade_of(browse.year_key(-755)) == browse.year_key(-760)
    assert browse.decade_years(browse.year_key(1950)) == (
        browse.year_key(1950),
        browse.year_key(1959),
    )


async def test_dates_by_decade_then_year(db: AsyncSession, shelf: dict[str, object]) -> None:
    assert await _keys(db, None, "decade") == {"1950s": 1, "1960s": 1}
    fifties = browse.decade_years(browse.year_key(1950))
    assert await _keys(db, None, "year", low=fifties[0], high=fifties[1]) == {"1958": 1}
    member = shelf["member"]
    assert await _keys(db, member, "decade") == {"1950s": 2, "1960s": 1}  # type: ignore[arg-type]
    in_fifties = await _keys(db, member, "year", low=fifties[0], high=fifties[1])  # type: ignore[arg-type]
    assert in_fifties == {"1955": 1, "1958": 1}
    assert await _keys(db, None, "type") == {"Text": 6}  # (the kind's name, backend.labels)
    assert await _keys(db, member, "type") == {"Text": 7}  # type: ignore[arg-type]


@pytest.mark.parametrize("who", ["anonymous", "outsider"])
async def test_a_private_collection_shows_nowhere_not_even_in_a_count(
    db: AsyncSession, shelf: dict[str, object], who: str
) -> None:
    actor = None if who == "anonymous" else shelf["outsider"]
    for classifier in browse.CLASSIFIERS:
        page = await browse.keys(session=db, actor=actor, classifier=classifier)  # type: ignore[arg-type]
        assert "Secret, Quentin" not in [k.label for k in page.keys]
        assert "1955" not in [k.label for k in page.keys]
    assert "Quokka ledger" not in await _titles(db, actor, "title", None)  # type: ignore[arg-type]
    private = shelf["private"]
    with pytest.raises(NotFound):
        await browse.keys(session=db, actor=actor, classifier="title", collection_id=private.id)  # type: ignore[arg-type, attr-defined]
    with pytest.raises(NotFound):
        await metadata.history(session=db, actor=actor, document_id=shelf["secret"])  # type: ignore[arg-type]
    # A member of the private collection sees it, in its own lists too.
    member = shelf["member"]
    mine = await _keys(db, member, "author", collection_id=private.id)  # type: ignore[arg-type, attr-defined]
    assert mine == {"Secret, Quentin": 1}


async def test_keyset_pages_walk_forward_and_back(
    db: AsyncSession, shelf: dict[str, object]
) -> None:
    seen: list[str] = []
    after = None
    pages = []
    while True:
        page = await browse.documents(
            session=db, actor=None, classifier="title", key=None, after=after, limit=2
        )
        pages.append(page)
        seen += [d.title for d in page.documents]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == await _titles(db, None, "title", None)
    assert [len(p.documents) for p in pages] == [2, 2, 2]
    assert pages[0].prev_before is None and pages[1].prev_before is not None
    back = await browse.documents(
        session=db, actor=None, classifier="title", key=None, before=pages[2].prev_before, limit=2
    )
    assert [d.title for d in back.documents] == [d.title for d in pages[1].documents]
    assert back.next_after is not None and back.prev_before is not None
    keys = await browse.keys(session=db, actor=None, classifier="title", limit=2)
    assert [k.key for k in keys.keys] == ["A", "E"] and keys.next_after == "E"
    rest = await browse.keys(session=db, actor=None, classifier="title", after="E", limit=2)
    assert [k.key for k in rest.keys] == ["S", "V"] and rest.next_after == "V"
    assert rest.prev_before == "S"
    before = await browse.keys(session=db, actor=None, classifier="title", before="S", limit=2)
    assert [k.key for k in before.keys] == ["A", "E"] and before.prev_before is None


async def test_lists_stay_right_as_records_change_and_documents_go(
    db: AsyncSession, shelf: dict[str, object]
) -> None:
    librarian, docs = shelf["librarian"], shelf["docs"]
    await _edit(db, librarian, docs["apple.txt"], creators=["Ann Lee"], date_issued="")  # type: ignore[arg-type, index]
    assert await _keys(db, None, "author") == {"Lee, Ann": 2, "Smith, John": 1}
    assert await _keys(db, None, "decade") == {"1950s": 1}
    document = await db.get(Document, docs["zebra.txt"])  # type: ignore[index]
    await db.delete(document)
    await db.flush()
    assert await _keys(db, None, "author") == {"Lee, Ann": 1}
    assert await _keys(db, None, "title") == {"A": 1, "E": 1, "S": 1, "V": 2}
    top, _ = await browse.subject_children(session=db, actor=None, parent_id=None)
    assert top == []  # no document the public may see is under Science any more
    # The counts the trigger keeps equal counts made from scratch.
    kept = (
        await db.exec(
            text("SELECT facet, key, collection_id, n FROM browse_counts ORDER BY 1, 2, 3")
        )
    ).all()  # type: ignore[call-overload]
    await db.exec(text("SELECT browse_recount()"))  # type: ignore[call-overload]
    fresh = (
        await db.exec(
            text("SELECT facet, key, collection_id, n FROM browse_counts ORDER BY 1, 2, 3")
        )
    ).all()  # type: ignore[call-overload]
    assert kept == fresh


async def test_edits_are_validated_and_audited(db: AsyncSession, shelf: dict[str, object]) -> None:
    librarian, docs, outsider = shelf["librarian"], shelf["docs"], shelf["outsider"]
    doc_id = docs["vol2.txt"]  # type: ignore[index]
    with pytest.raises(metadata.InvalidRecord) as bad:
        await _edit(db, librarian, doc_id, title=" ", date_issued="March 1958", language="English")  # type: ignore[arg-type]
    assert set(bad.value.errors) == {"title", "date_issued", "language"}
    with pytest.raises(InvalidInput):
        await _edit(db, librarian, doc_id, subject_ids=[999_999])  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await _edit(db, outsider, doc_id, title="Mine now")  # type: ignore[arg-type]
    changes = await _edit(db, librarian, doc_id, title="Volume Two", publisher="  ACME   Press ")  # type: ignore[arg-type]
    assert changes == {"title": ["Volume 2", "Volume Two"], "publisher": ["", "ACME Press"]}
    assert await _edit(db, librarian, doc_id, title="Volume Two") == {}  # type: ignore[arg-type]
    entries = await metadata.history(session=db, actor=librarian, document_id=doc_id)  # type: ignore[arg-type]
    assert entries[0].changes == changes and entries[0].actor_id == librarian.id  # type: ignore[attr-defined]
    assert entries[0].action == "edit"
    assert [e.changes.get("title") for e in entries][1] == ["vol2", "Volume 2"]


async def test_documents_from_before_the_catalogue_get_their_record(
    db: AsyncSession, data_dir: Path
) -> None:
    from bench.common import bulk_load

    await bulk_load(
        [
            {
                "title": "Pride and prejudice",
                "text": "It is a truth universally acknowledged.",
                "authors": ["Jane Austen"],
                "subjects": ["Novels -- Regency"],
                "year": 1813,
                "language": "en",
            }
        ],
        "Old shelf",
    )
    assert await _keys(db, None, "author") == {}  # not catalogued yet: not listed
    assert await metadata.catalogue_existing() == 1
    assert await _keys(db, None, "author") == {"Austen, Jane": 1}
    assert await _keys(db, None, "decade") == {"1810s": 1}
    top, _ = await browse.subject_children(session=db, actor=None, parent_id=None)
    assert [(n.name, n.count, n.has_children) for n in top] == [("Novels", 1, True)]
    assert await metadata.catalogue_existing() == 0  # each document once


async def test_the_browse_lists_through_the_api(
    api: httpx.AsyncClient, shelf: dict[str, object]
) -> None:
    """The same lists in the REST API, paged by cursor, for what the caller may see."""
    authors = await api.get("/api/v1/browse/author")
    labels = [e["label"] for e in authors.json()["items"]]
    assert "Smith, John" in labels and "Secret, Quentin" not in labels
    smith = next(e for e in authors.json()["items"] if e["label"] == "Smith, John")
    assert smith["count"] == 2
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/browse/title/documents", params=params)).json()
        seen += [d["title"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[:2] == ["apple growing", "Éclairs and other pastries"]
    assert len(seen) == len(TITLES) and "Quokka ledger" not in seen
    under = await api.get("/api/v1/browse/author/documents", params={"key": smith["key"]})
    assert {d["title"] for d in under.json()["items"]} == {"apple growing", "The Zebra handbook"}
    assert (await api.get("/api/v1/browse/colour")).status_code == 404
    private = shelf["private"]
    assert (
        await api.get("/api/v1/browse/author", params={"collection": private.id})  # type: ignore[attr-defined]
    ).status_code == 404
    assert (await api.get("/api/v1/browse/title", params={"cursor": "junk"})).status_code == 400
