"""A private collection's documents are invisible to anyone not a member, librarian or admin."""

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import scope, watch
from backend.access.watch import WATCH
from backend.collections import service as collections
from backend.db import autocommit
from backend.documents import service as documents
from backend.errors import NotFound, PermissionDenied
from backend.search import completion, scopes
from backend.search import service as search
from backend.users.models import Role, User
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst

SECRET_TEXT = b"The quokka ledger of the private archive.\n"


@pytest.fixture
async def library(db: AsyncSession, data_dir: Path) -> dict[str, object]:
    librarian = await make_user(db, Role.LIBRARIAN)
    admin = await make_user(db, Role.ADMIN)
    member = await make_user(db)
    outsider = await make_user(db)
    private = await make_collection(db, librarian, "Private archive", is_public=False)
    public = await make_collection(db, librarian, "Open shelf")
    assert private.id is not None
    await collections.add_member(
        session=db, actor=librarian, collection_id=private.id, email=member.email
    )
    doc, _ = await upload_bytes(db, librarian, private, SECRET_TEXT, "ledger.txt")
    await upload_bytes(db, librarian, public, b"An open quokka leaflet.\n", "leaflet.txt")
    await db.commit()
    await run_burst()
    return {
        "librarian": librarian,
        "admin": admin,
        "member": member,
        "outsider": outsider,
        "private": private,
        "doc": doc,
    }


def _who(library: dict[str, object], name: str) -> User | None:
    return None if name == "anonymous" else library[name]  # type: ignore[return-value]


@pytest.mark.parametrize("name", ["anonymous", "outsider"])
async def test_outsiders_see_nothing_of_a_private_collection(
    db: AsyncSession, library: dict[str, object], name: str
) -> None:
    actor = _who(library, name)
    doc, private = library["doc"], library["private"]
    listed = await collections.list_visible(session=db, actor=actor)
    assert [c.name for c in listed] == ["Open shelf"]
    with pytest.raises(NotFound):
        await collections.get_by_slug(session=db, actor=actor, slug=private.slug)  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        await documents.get(session=db, actor=actor, document_id=doc.id)  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        await documents.open_download(session=db, actor=actor, document_id=doc.id)  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        await documents.list_in_collection(session=db, actor=actor, collection_id=private.id)  # type: ignore[attr-defined]
    results = await search.search(session=db, actor=actor, query="quokka")
    assert results.total == 1 and results.hits[0].title == "leaflet"
    assert (await search.search(session=db, actor=actor, query="ledger")).total == 0
    # Not even a count: the facets know only the public collection.
    assert [(v.label, v.count) for v in results.facets["collection"]] == [("Open shelf", 1)]
    # Choosing the private collection as a filter (a crafted URL) finds nothing and names
    # nothing.
    crafted = await search.search(
        session=db,
        actor=actor,
        query="quokka",
        filters={"collection": [str(private.id)]},  # type: ignore[attr-defined]
    )
    assert crafted.total == 0 and crafted.hits == []
    assert all(v.label != "Private archive" for v in crafted.facets["collection"])


@pytest.mark.parametrize("name", ["member", "librarian", "admin"])
async def test_members_and_staff_see_the_private_collection(
    db: AsyncSession, library: dict[str, object], name: str
) -> None:
    actor = _who(library, name)
    doc = library["doc"]
    assert len(await collections.list_visible(session=db, actor=actor)) == 2
    found = await documents.get(session=db, actor=actor, document_id=doc.id)  # type: ignore[attr-defined]
    assert found.title == "ledger"
    results = await search.search(session=db, actor=actor, query="quokka")
    assert results.total == 2


async def test_making_a_collection_public_takes_effect_at_once(
    db: AsyncSession, library: dict[str, object]
) -> None:
    outsider = library["outsider"]
    assert (await search.search(session=db, actor=outsider, query="ledger")).total == 0  # type: ignore[arg-type]
    await db.exec(text("UPDATE collections SET is_public = true"))
    assert (await search.search(session=db, actor=outsider, query="ledger")).total == 1  # type: ignore[arg-type]


async def test_a_disabled_member_loses_access(db: AsyncSession, library: dict[str, object]) -> None:
    member = library["member"]
    member.is_active = False  # type: ignore[attr-defined]
    assert (await search.search(session=db, actor=member, query="ledger")).total == 0  # type: ignore[arg-type]


async def test_patrons_and_viewers_cannot_add_documents(
    db: AsyncSession, library: dict[str, object]
) -> None:
    private = library["private"]
    for name in ("member", "outsider"):
        with pytest.raises(NotFound):
            await scope.require_curated(
                db,
                _who(library, name),
                private.id,  # type: ignore[attr-defined]
            )
    with pytest.raises(PermissionDenied):
        await collections.create(session=db, actor=_who(library, "member"), name="Mine")


async def test_a_remembered_scope_is_checked_on_every_search(
    db: AsyncSession, library: dict[str, object]
) -> None:
    """Search remembers what each actor could see and checks it with the hits' rows: a
    collection made private, or a membership ended, is gone from the very next search."""
    member, private = library["member"], library["private"]

    async def found(actor: object, q: str = "quokka") -> tuple[int, list[str]]:
        results = await search.search(session=db, actor=actor, query=q, use_cache=False)  # type: ignore[arg-type]
        return results.total, sorted(v.label for v in results.facets["collection"])

    assert await found(None) == (1, ["Open shelf"])
    await db.exec(text("UPDATE collections SET is_public = false"))
    assert await found(None) == (0, [])  # not what the anonymous could see a moment ago
    await db.exec(text("UPDATE collections SET is_public = true"))
    assert (await found(None))[0] == 2
    await db.exec(text(f"UPDATE collections SET name = 'Restricted' WHERE id = {private.id}"))  # type: ignore[attr-defined]
    assert (await found(None))[1] == ["Open shelf", "Restricted"]  # labels follow
    await db.exec(text(f"UPDATE collections SET is_public = false WHERE id = {private.id}"))  # type: ignore[attr-defined]

    assert await found(member) == (2, ["Open shelf", "Restricted"])
    await collections.remove_member(
        session=db,
        actor=library["librarian"],  # type: ignore[arg-type]
        collection_id=private.id,  # type: ignore[attr-defined]
        user_id=member.id,  # type: ignore[attr-defined]
    )
    assert await found(member) == (1, ["Open shelf"])


async def test_a_search_reads_postgresql_once(db: AsyncSession, library: dict[str, object]) -> None:
    """The fixed cost of a search: after an actor's first search, one statement each (the
    hits' rows, with the check of what the actor may see and the facet's names)."""
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    # Every engine's statements: the search reads outside the test's session when it has
    # no transaction, on the process's engine (a new one since the worker's burst ended).
    engine = Engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for name in ("anonymous", "member", "librarian"):
            actor = _who(library, name)
            await search.search(
                session=db, actor=actor, query="quokka", record=False, use_cache=False
            )
            statements.clear()
            results = await search.search(
                session=db, actor=actor, query="quokka", record=False, use_cache=False
            )
            assert results.total == (1 if name == "anonymous" else 2)
            assert results.facets["collection"] and all(
                v.label != "(a collection)" for v in results.facets["collection"]
            )
            assert len(statements) == 1, (name, statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_results_found_after_a_wrong_guess_are_cached_under_the_scope_searched(
    db: AsyncSession, library: dict[str, object]
) -> None:
    """A guess found wrong is searched again; the page is cached under the scope it was
    searched with, never the guessed one, which another actor may have for real."""
    scopes.forget()
    assert (await search.search(session=db, actor=None, query="quokka")).total == 1
    await db.exec(text("UPDATE collections SET is_public = true"))
    # Guessed: the open shelf alone; found: both. Cached under both.
    assert (await search.search(session=db, actor=None, query="quokka")).total == 2
    await db.exec(text("UPDATE collections SET is_public = false WHERE name = 'Private archive'"))
    outsider = library["outsider"]  # first search: no guess, the open shelf's page
    assert (await search.search(session=db, actor=outsider, query="quokka")).total == 1  # type: ignore[arg-type]


async def _heard(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the listener never heard"
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def _statements() -> Iterator[list[str]]:
    """The statements every engine of this process sends meanwhile."""
    sent: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def _committed(sql: str) -> None:
    """A change committed on a connection of its own, as another process would make it."""
    async with autocommit() as conn:
        await conn.execute(text(sql))


async def test_a_cached_search_asks_postgresql_nothing_until_a_visibility_change_is_heard(
    db: AsyncSession, library: dict[str, object]
) -> None:
    """With the process listening (backend.access.watch, as a web server does), what an
    actor may see is read once and trusted until PostgreSQL announces a change of
    collections or memberships, whoever committed it: a cached page then costs no
    statement, and the search after the announcement sees the change."""
    member, private = library["member"], library["private"]
    private_id = private.id  # type: ignore[attr-defined]

    async def total(actor: object) -> int:
        found = await search.search(session=db, actor=actor, query="quokka")  # type: ignore[arg-type]
        await db.commit()  # (what it recorded, as the routes and pages do)
        return found.total

    async with WATCH.watching():
        await _heard(lambda: WATCH.listening)
        scopes.forget()
        assert await total(None) == 1  # read, marked, and the page cached
        with _statements() as sent:
            assert await total(None) == 1
        assert sent == []  # trusted: nothing asked
        # Autocomplete too: its answers cached, what may be seen trusted.
        offered = await completion.complete(session=db, actor=None, text_typed="quo")
        await db.commit()  # (each request its own session)
        with _statements() as sent:
            assert await completion.complete(session=db, actor=None, text_typed="quo") == offered
        assert sent == []

        epoch = WATCH.epoch
        await _committed("UPDATE collections SET is_public = true")
        await _heard(lambda: WATCH.epoch != epoch)
        assert await total(None) == 2
        assert await total(member) == 2

        epoch = WATCH.epoch
        await _committed(f"UPDATE collections SET is_public = false WHERE id = {private_id}")
        await _heard(lambda: WATCH.epoch != epoch)
        assert await total(None) == 1
        assert await total(member) == 2
        with _statements() as sent:
            assert await total(member) == 2
        assert sent == []

        epoch = WATCH.epoch
        await collections.remove_member(
            session=db,
            actor=library["librarian"],  # type: ignore[arg-type]
            collection_id=private_id,
            user_id=member.id,  # type: ignore[attr-defined]
        )
        await db.commit()
        await _heard(lambda: WATCH.epoch != epoch)
        assert await total(member) == 1

        # A search in a transaction that changed what may be seen checks it, trusted or not.
        assert await total(None) == 1
        await db.exec(text("UPDATE collections SET is_public = false"))
        assert (await search.search(session=db, actor=None, query="quokka")).total == 0
        await db.rollback()


async def test_nothing_is_trusted_while_the_listener_is_away(
    db: AsyncSession, library: dict[str, object]
) -> None:
    """A listener whose connection ends (a server restart, a network failure) may have
    missed a change: what was read before is checked again, and the listener connects
    again by itself. Without a listener, every search checks."""

    async def total() -> int:
        return (await search.search(session=db, actor=None, query="quokka")).total

    scopes.forget()
    assert await total() == 1
    with _statements() as sent:
        assert await total() == 1
    assert sent, "no listener, yet the remembered scope went unchecked"

    async with WATCH.watching():
        await _heard(lambda: WATCH.listening)
        scopes.forget()
        assert await total() == 1
        epoch = WATCH.epoch
        await _committed(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE application_name = '{watch.APPLICATION}'"
        )
        await _heard(lambda: WATCH.epoch != epoch)
        with _statements() as sent:
            assert await total() == 1
        assert sent, "a scope read before the listener lost its connection was trusted"
        await _heard(lambda: WATCH.listening)
        with _statements() as sent:
            assert await total() == 1
        assert sent, "a scope read while the listener was away was trusted"
        with _statements() as sent:
            assert await total() == 1
        assert sent == []  # read again with the listener back: trusted again
