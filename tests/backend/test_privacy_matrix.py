"""A patron who is not a member sees nothing of a private collection anywhere: pages,
browse lists and their counts, search and its facets, autocomplete, thumbnails,
downloads, citations, exports, the API. Every surface is also checked for a member, so a
surface that showed nothing to anyone would fail here too."""

import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.routes import create_api
from backend.auth import service as auth
from backend.browse import service as browse
from backend.collections import service as collections
from backend.documents import bulk, catalogue, inside, metadata
from backend.documents import service as documents
from backend.documents.models import Document
from backend.errors import LibraryError
from backend.redis_client import get_redis
from backend.search import completion
from backend.search import service as search
from backend.users.models import Role, User
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.worker import run_burst

# Anything that shows one of these to an outsider shows the private collection.
SECRETS = ("Quokka", "quokka", "Secret", "1901", "Private archive", "marsupial")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, "PNG")
    return out.getvalue()


async def _edit(db: AsyncSession, actor: User, doc_id: int, **fields: object) -> None:
    document = await db.get(Document, doc_id)
    assert document is not None
    record = await metadata.record_of(db, document)
    for name, value in fields.items():
        setattr(record, name, value)
    await metadata.update(session=db, actor=actor, document_id=doc_id, record=record)


@pytest.fixture
async def world(db: AsyncSession, data_dir: Path) -> dict[str, object]:
    librarian = await make_user(db, Role.LIBRARIAN)
    member = await make_user(db)
    outsider = await make_user(db)
    public = await make_collection(db, librarian, "Open shelf")
    private = await make_collection(db, librarian, "Private archive", is_public=False)
    await collections.add_member(
        session=db,
        actor=librarian,
        collection_id=private.id,
        email=member.email,  # type: ignore[arg-type]
    )
    leaflet, _ = await upload_bytes(db, librarian, public, b"Birds of the shore.\n", "leaflet.txt")
    # Not ready: a file that fails processing (text named .pdf), and the leaflet's bytes
    # again, held as a duplicate until a curator decides. Only curators may see them.
    failed, _ = await upload_bytes(db, librarian, public, b"Unready draft\n", "unready-draft.pdf")
    twin, _ = await upload_bytes(
        db, librarian, public, b"Birds of the shore.\n", "doppelganger-notes.txt"
    )
    ledger, _ = await upload_bytes(db, librarian, private, b"Quokka ledger text.\n", "ledger.txt")
    picture, _ = await upload_bytes(db, librarian, private, _png(), "quokka.png")
    await db.commit()
    await run_burst()
    birds = await metadata.add_subject(session=db, actor=librarian, name="Birds")
    secret = await metadata.add_subject(
        session=db, actor=librarian, name="Secret marsupials", parent_id=birds.id
    )
    await _edit(
        db,
        librarian,
        leaflet.id,
        title="Open leaflet",
        creators=["Ann Public"],  # type: ignore[arg-type]
        subject_ids=[birds.id],
        date_issued="1990",
    )
    await _edit(
        db,
        librarian,
        ledger.id,
        title="Quokka ledger",
        creators=["Quentin Secret"],  # type: ignore[arg-type]
        subject_ids=[secret.id, birds.id],
        date_issued="1901",
    )
    await _edit(db, librarian, picture.id, title="Quokka portrait", date_issued="1901")  # type: ignore[arg-type]
    await collections.set_cover(
        session=db,
        actor=librarian,
        collection_id=private.id,
        data=_png(),  # type: ignore[arg-type]
    )
    await db.commit()
    await run_burst()  # search index up to date
    other_librarian = await make_user(db, Role.LIBRARIAN)
    tokens = {}
    for name, user in (("member", member), ("outsider", outsider), ("curator", librarian)):
        login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
        tokens[name] = login.token
    await db.commit()
    return {
        "member": member,
        "outsider": outsider,
        "public": public,
        "private": private,
        "leaflet": leaflet.id,
        "ledger": ledger.id,
        "picture": picture.id,
        "failed": failed.id,
        "twin": twin.id,
        "curator": librarian,
        "other_librarian": other_librarian,
        "tokens": tokens,
    }


async def _quiet(make: Callable[[], Awaitable[object]]) -> object:
    """What a surface shows, or None when it refuses (NotFound and the like)."""
    try:
        return await make()
    except LibraryError:
        return None


def _keys(page: browse.KeyPage) -> str:
    return " ".join(f"{k.label}={k.count}" for k in page.keys)


async def _surface(name: str, db: AsyncSession, w: dict[str, object], actor: User | None) -> str:
    private, ledger, picture = w["private"], w["ledger"], w["picture"]
    pid = private.id  # type: ignore[attr-defined]
    s = {"session": db, "actor": actor}
    if name == "collections list":
        return " ".join(c.name for c in await collections.list_visible(**s))  # type: ignore[arg-type]
    if name == "collection page":
        found = await _quiet(lambda: collections.get_by_slug(**s, slug=private.slug))  # type: ignore[attr-defined, arg-type]
        return found.name if found else ""  # type: ignore[attr-defined]
    if name == "collection statistics":
        return str(await _quiet(lambda: collections.stats(**s, collection_id=pid)) or "")  # type: ignore[arg-type]
    if name == "collection cover":
        return str(await _quiet(lambda: collections.open_cover(**s, collection_id=pid)) or "")  # type: ignore[arg-type]
    if name == "browse lists and counts":
        out = []
        for classifier in browse.CLASSIFIERS:
            out.append(_keys(await browse.keys(**s, classifier=classifier)))  # type: ignore[arg-type]
        titles = await browse.documents(**s, classifier="title", key=None)  # type: ignore[arg-type]
        out += [d.title for d in titles.documents]
        top, _ = await browse.subject_children(**s, parent_id=None)  # type: ignore[arg-type]
        out += [f"{n.name}={n.count}" for n in top]
        for n in top:
            below, _ = await browse.subject_children(**s, parent_id=n.id)  # type: ignore[arg-type]
            out += [f"{m.name}={m.count}" for m in below]
        in_one = await _quiet(lambda: browse.keys(**s, classifier="title", collection_id=pid))  # type: ignore[arg-type]
        out.append(_keys(in_one) if in_one else "")  # type: ignore[arg-type]
        return " ".join(out)
    if name == "search and facets":
        found = await search.search(**s, query="quokka OR birds OR ledger", record=False)  # type: ignore[arg-type]
        out = [h.title for h in found.hits] + [str(found.total)]
        for values in found.facets.values():
            out += [f"{v.label}={v.count}" for v in values]
        return " ".join(out)
    if name == "autocomplete":
        got = [c.label for c in await completion.complete(**s, text_typed="quok")]  # type: ignore[arg-type]
        got += [c.label for c in await completion.complete(**s, text_typed="Quentin")]  # type: ignore[arg-type]
        return " ".join(got)
    if name == "document page":
        found = await _quiet(lambda: documents.get(**s, document_id=ledger))  # type: ignore[arg-type]
        return found.title if found else ""  # type: ignore[attr-defined]
    if name == "catalogue record and citations":
        found = await _quiet(lambda: catalogue.catalogued(**s, document_id=ledger))  # type: ignore[arg-type]
        return catalogue.bibtex(found) if found else ""  # type: ignore[arg-type]
    if name == "related documents":
        related = await catalogue.related(**s, document_id=w["leaflet"])  # type: ignore[arg-type]
        return " ".join(r.title for r in related)
    if name == "page text":
        found = await _quiet(lambda: documents.page_text(**s, document_id=ledger))  # type: ignore[arg-type]
        return found.text if found else ""  # type: ignore[attr-defined]
    if name == "page text with the query marked":
        found = await _quiet(
            lambda: inside.marked_page(**s, document_id=ledger, page_no=1, query="quokka")  # type: ignore[arg-type]
        )
        return found.text if found else ""  # type: ignore[attr-defined]
    if name == "search inside the document":
        found = await _quiet(lambda: inside.find_inside(**s, document_id=ledger, query="ledger"))  # type: ignore[arg-type]
        return "".join(seg.text for p in found.pages for seg in p.around) if found else ""  # type: ignore[attr-defined]
    if name == "thumbnail":
        return str(await _quiet(lambda: documents.open_thumbnail(**s, document_id=picture)) or "")  # type: ignore[arg-type]
    if name == "download":
        found = await _quiet(lambda: documents.open_download(**s, document_id=ledger))  # type: ignore[arg-type]
        return found.filename.replace("ledger", "Quokka ledger") if found else ""  # type: ignore[attr-defined]
    if name == "audit log":
        found = await _quiet(lambda: metadata.history(**s, document_id=ledger))  # type: ignore[arg-type]
        return str([e.changes for e in found]) if found else ""  # type: ignore[attr-defined]
    if name == "CSV export":
        return str(await _quiet(lambda: bulk.export_csv(**s, collection_id=pid)) or "")  # type: ignore[arg-type]
    raise AssertionError(name)


SURFACES = [
    "collections list",
    "collection page",
    "collection statistics",
    "collection cover",
    "browse lists and counts",
    "search and facets",
    "autocomplete",
    "document page",
    "catalogue record and citations",
    "related documents",
    "page text",
    "page text with the query marked",
    "search inside the document",
    "thumbnail",
    "download",
    "audit log",
    "CSV export",
]
# What a member sees of the private collection on each surface (the control).
SEEN_BY_MEMBER = {
    "collections list": "Private archive",
    "collection page": "Private archive",
    "collection statistics": "documents=2",
    "collection cover": "covers/",
    "browse lists and counts": "Secret marsupials=1",
    "search and facets": "Quokka ledger",
    "autocomplete": "Quokka",
    "document page": "Quokka ledger",
    "catalogue record and citations": "Quokka ledger",
    "related documents": "Quokka ledger",
    "page text": "Quokka ledger text",
    "page text with the query marked": "Quokka ledger text",
    "search inside the document": "Quokka ledger text",
    "thumbnail": "thumbnails/",
    "download": "Quokka ledger",
    "audit log": "Quokka ledger",  # (seen by the curator: the audit log is staff-only)
    "CSV export": "Quokka ledger",
}


@pytest.mark.parametrize("surface", SURFACES)
async def test_outsiders_see_nothing_members_see_it(
    db: AsyncSession, world: dict[str, object], surface: str
) -> None:
    control = world["curator"] if surface == "audit log" else world["member"]
    seen = await _surface(surface, db, world, control)  # type: ignore[arg-type]
    assert SEEN_BY_MEMBER[surface] in seen
    for who in (None, world["outsider"]):
        shown = await _surface(surface, db, world, who)  # type: ignore[arg-type]
        leaked = [s for s in SECRETS if s in shown]
        assert not leaked, (
            f"{surface} shows {leaked} to {'anonymous' if who is None else 'an outsider'}: {shown}"
        )
    if surface == "browse lists and counts":
        # Not even a count: the shared subject and type count the public document only.
        shown = await _surface(surface, db, world, None)
        assert "Birds=1" in shown and "Text=1" in shown  # (a kind by its name, backend.labels)
        assert "Birds=2" not in shown and "Text=2" not in shown


# Documents that are not ready, and the staff details of any document, are for the
# curators of its collection: not the collection's viewers, not other librarians.
UNREADY_SECRETS = ("Unready", "unready", "doppelganger", "Doppelganger")
STAFF_FIELDS = ("sha256", "uploaded_by", "status", "step", "error", "warnings")


async def _unready(name: str, db: AsyncSession, w: dict[str, object], actor: User | None) -> str:
    s = {"session": db, "actor": actor}
    shown = []
    for doc_id in (w["failed"], w["twin"]):
        if name == "document page":
            found = await _quiet(lambda: documents.get(**s, document_id=doc_id))  # type: ignore[arg-type]  # noqa: B023
            shown.append(found.title if found else "")  # type: ignore[attr-defined]
        elif name == "catalogue record and citations":
            found = await _quiet(lambda: catalogue.catalogued(**s, document_id=doc_id))  # type: ignore[arg-type]  # noqa: B023
            shown.append(catalogue.ris(found) if found else "")  # type: ignore[arg-type]
        elif name == "download":
            found = await _quiet(lambda: documents.open_download(**s, document_id=doc_id))  # type: ignore[arg-type]  # noqa: B023
            shown.append(found.filename if found else "")  # type: ignore[attr-defined]
        elif name == "curation":
            done = await _quiet(lambda: documents.curates(**s, document_id=doc_id))  # type: ignore[arg-type]  # noqa: B023
            shown.append("unready curated" if done else "")
        elif name == "collection list":
            rows = await documents.list_in_collection(**s, collection_id=w["public"].id)  # type: ignore[arg-type, attr-defined]
            shown.append(" ".join(r.title for r in rows))
        elif name == "CSV export":
            shown.append(
                str(await _quiet(lambda: bulk.export_csv(**s, collection_id=w["public"].id)))  # type: ignore[arg-type, attr-defined]
            )
        else:
            raise AssertionError(name)
    return " ".join(shown)


@pytest.mark.parametrize(
    "surface",
    [
        "document page",
        "catalogue record and citations",
        "download",
        "curation",
        "collection list",
        "CSV export",
    ],
)
async def test_unready_documents_are_for_their_curators_only(
    db: AsyncSession, world: dict[str, object], surface: str
) -> None:
    assert "nready" in await _unready(surface, db, world, world["curator"])  # type: ignore[arg-type]
    for who in (None, world["member"], world["outsider"], world["other_librarian"]):
        shown = await _unready(surface, db, world, who)  # type: ignore[arg-type]
        leaked = [s for s in UNREADY_SECRETS if s in shown]
        assert not leaked, f"{surface} shows {leaked} to {who}: {shown}"


async def test_staff_details_reach_the_curators_only(
    db: AsyncSession, world: dict[str, object]
) -> None:
    leaflet = world["leaflet"]
    seen = await documents.get(session=db, actor=world["curator"], document_id=leaflet)  # type: ignore[arg-type]
    assert seen.can_curate and seen.staff and all(v.sha256 for v in seen.staff.values())
    for who in (None, world["member"], world["outsider"], world["other_librarian"]):
        shown = await documents.get(session=db, actor=who, document_id=leaflet)  # type: ignore[arg-type]
        assert not shown.can_curate and shown.staff == {}
        for v in shown.versions:
            assert not set(STAFF_FIELDS) & set(vars(v)), v
        with pytest.raises(LibraryError):
            await metadata.history(session=db, actor=who, document_id=leaflet)  # type: ignore[arg-type]


async def test_the_api_answers_outsiders_not_found(
    db: AsyncSession, world: dict[str, object]
) -> None:
    private, ledger, picture = world["private"], world["ledger"], world["picture"]
    urls = [
        f"/api/v1/documents/{ledger}/download",
        f"/api/v1/documents/{picture}/thumbnail",
        f"/api/v1/documents/{ledger}/record",
        f"/api/v1/documents/{ledger}/citation.bib",
        f"/api/v1/documents/{ledger}/citation.ris",
        f"/api/v1/collections/{private.id}/cover",  # type: ignore[attr-defined]
        f"/api/v1/collections/{private.id}/export.csv",  # type: ignore[attr-defined]
    ]
    tokens = world["tokens"]
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:
        for url in urls:
            member = await client.get(url, headers={"Authorization": f"Bearer {tokens['member']}"})  # type: ignore[index]
            assert member.status_code == 200, url
            for headers in ({}, {"Authorization": f"Bearer {tokens['outsider']}"}):  # type: ignore[index]
                response = await client.get(url, headers=headers)
                assert response.status_code == 404, url
                assert not any(s in response.text for s in SECRETS), url
