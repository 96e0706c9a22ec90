"""Every event handler of every state, called as every kind of outsider would call it.

The handlers are read from Reflex's own registry, so a handler added tomorrow is in the
matrix without anyone remembering to add it. Each is sent, through Reflex's event
processor and the app's middleware, by a tab of each actor on a private document's page,
a failed document's page and a private collection's page: with well-formed arguments
that name the private and unready things of the library, and with wrongly typed ones.
Then nothing that actor may not see may have reached the tab, and the library may not
have changed (self-service handlers change only the actor's own account).
"""

import inspect
import io
import types
import typing
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from reflex_base.registry import RegistrationContext
from reflex_base.utils.form import FORM_DATA_ENTRIES_KEY
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import db as backend_db
from backend.auth import service as auth
from backend.collections import service as collections
from backend.documents import metadata
from backend.documents.models import Document, DocumentVersion
from backend.models import metadata as tables
from backend.redis_client import get_redis
from backend.search import saved
from backend.users.models import Role, User
from state.guard import REFUSED, is_library_handler, signature_of
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.state.tabs import Tabs, wire
from tests.worker import run_burst

# Tables a handler may touch without changing the library: what was searched, viewed,
# clicked (analytics), the past-query counts behind autocomplete.
LOGGED = {"analytics_events", "search_queries"}
# Columns that change by merely acting (a session's last sight).
TOUCHED = {"last_seen_at"}
# Handlers that act on the actor's own account (log in, register, reset, sessions, their
# saved searches).
SELF_SERVICE_MODULES = ("state.auth", "state.account", "state.session", "state.saved")
# What a librarian may do to the library anywhere: found a collection.
STAFF_MAY = {"create"}
# Accounts of the world (self-service may add new ones after them).
WORLD_USERS = 8
ACCOUNT_TABLES = {
    "users",
    "user_sessions",
    "password_reset_tokens",
    "mail_outbox",
    "pending_registrations",
    "email_changes",
    "user_second_factors",
    "recovery_codes",
    "account_events",
    "saved_searches",
}


@dataclass
class World:
    ids: dict[str, int]
    slug: str
    users: dict[str, User]
    secrets: dict[str, list[str]]  # kind of thing -> strings that betray it
    forms: list[dict[str, Any]]


async def _world(db: AsyncSession) -> World:
    admin = await make_user(db, Role.ADMIN)
    admin.email = "root-admin@library.test"
    librarian = await make_user(db, Role.LIBRARIAN)
    librarian.display_name = "Ursula Uploader"
    member, patron, outsider, trusted = [await make_user(db) for _ in range(4)]
    other_librarian = await make_user(db, Role.LIBRARIAN)
    public = await make_collection(db, librarian, "Open shelf")
    private = await make_collection(db, librarian, "Private archive", is_public=False)
    circle = await make_collection(db, librarian, "Other circle", is_public=False)
    other = await make_collection(db, librarian, "Other shelf")
    for collection, user, role in (
        (private, member, "viewer"),
        (circle, outsider, "viewer"),
        (other, trusted, "curator"),
        (other, other_librarian, "curator"),
    ):
        await collections.add_member(
            session=db,
            actor=librarian,
            collection_id=collection.id,  # type: ignore[arg-type]
            email=user.email,
            role=role,
        )
    leaflet, leaflet_v = await upload_bytes(db, librarian, public, b"Birds of the shore\n", "a.txt")
    ledger, ledger_v = await upload_bytes(db, librarian, private, b"Quokka ledger text\n", "l.txt")
    failed, failed_v = await upload_bytes(db, librarian, public, b"Unready draft\n", "unready.pdf")
    await db.commit()
    await run_burst()
    secret = await metadata.add_subject(session=db, actor=librarian, name="Secret marsupials")
    document = await db.get(Document, ledger.id)
    assert document is not None
    record = await metadata.record_of(db, document)
    record.title, record.creators = "Quokka ledger", ["Quentin Keeper"]
    record.subject_ids = [secret.id]  # type: ignore[list-item]
    await metadata.update(session=db, actor=librarian, document_id=ledger.id, record=record)  # type: ignore[arg-type]
    await db.commit()
    await run_burst()
    for v in (leaflet_v, ledger_v, failed_v):
        await db.refresh(v)
    assert failed_v.status == "failed" and ledger_v.status == "ready"
    kept, _ = await saved.save(session=db, actor=admin, query="wombat watchlist")
    ids = {
        "saved": kept.id,
        "ledger": ledger.id,
        "failed": failed.id,
        "failed_version": failed_v.id,
        "ledger_version": ledger_v.id,
        "private": private.id,
        "public": public.id,
        "admin": admin.id,
        "member": member.id,
    }
    users = {
        "member": member,
        "patron": patron,
        "outsider": outsider,
        "trusted": trusted,
        "other_librarian": other_librarian,
    }
    secrets = {
        "private": ["Quokka", "quokka", "Quentin", "Secret marsupials", "Private archive"],
        "unready": ["Unready", "unready"],
        "staff": [leaflet_v.sha256, ledger_v.sha256, "Ursula Uploader", admin.email],
        "someone's saved search": ["wombat", saved.feed_key(kept)],
    }
    forms = [
        {  # every field any form of the app has, filled as an intruder would
            "name": "Hijacked",
            "description": "taken over",
            "visibility": "public",
            "email": member.email,
            "role": "curator",
            "confirm": "Quokka ledger",
            "documents": "delete",
            "move_to": str(other.id),
            "title": "Hijacked",
            "creators": "Mallory",
            "q": "ledger",
            "page": "1",
            "password": "wrong password",
            "password2": "wrong password",
        },
        {"confirm": "", "documents": "delete", "email": librarian.email, "role": "viewer"},
    ]
    await db.commit()
    return World(ids, private.slug, users, secrets, forms)


# Which kinds of secret each actor may see: a member of the private collection and a
# librarian see its ready documents; unready documents and staff details are for the
# curators of their collection, and no actor here curates those.
ACTORS = {
    "anonymous": set(),
    "patron": set(),
    "outsider": set(),
    "member": {"private"},
    "trusted": set(),
    "other_librarian": {"private"},
}
PAGES = ["private document", "failed document", "private collection"]


def _page(world: World, page: str) -> str:
    return {
        "private document": f"/documents/{world.ids['ledger']}",
        "failed document": f"/documents/{world.ids['failed']}",
        "private collection": f"/collections/{world.slug}",
    }[page]


def _chunks(data: bytes, name: str) -> rx.UploadChunkIterator:
    """What the upload endpoint hands a chunked handler: here one small file."""
    from reflex_components_core.core._upload import UploadChunk

    chunks = rx.UploadChunkIterator(maxsize=8)
    chunks._chunks.append(  # type: ignore[attr-defined]
        UploadChunk(filename=name, offset=0, content_type="text/plain", data=data)
    )
    chunks._closed = True  # type: ignore[attr-defined]
    return chunks


def _files() -> list[Any]:
    return [rx.UploadFile(file=io.BytesIO(b"GIF89a\x01\x00\x01\x00"), path=Path("cover.gif"))]


def _good(hint: Any, world: World) -> list[Any]:
    """Well-formed values for a parameter: the private and unready things of the world."""
    origin = typing.get_origin(hint)
    if hint is int:
        kinds = ("ledger", "failed", "failed_version", "private", "admin", "saved")
        return [world.ids[k] for k in kinds]
    if hint is str:
        return ["admin", "new_version", "skip", "ledger", world.slug, "collection"]
    if hint is bool:
        return [True, False]
    if hint is rx.UploadChunkIterator:
        return [lambda: _chunks(b"sneaked in\n", "sneaky.txt")]
    if origin is list and typing.get_args(hint) and typing.get_args(hint)[0] is rx.UploadFile:
        return [_files]
    if origin is dict or hint is dict:
        # Forms also as the browser sends them: their [name, value] entries.
        wired = {FORM_DATA_ENTRIES_KEY: [[k, v] for k, v in world.forms[0].items()]}
        return [*world.forms, wired, {"progress": 0.5, "loaded": 5, "total": 10}]
    if origin is list:
        return [[{"name": "sneaky.txt", "size": 3}], []]
    return [None, "x"]


def _wrong(hint: Any) -> list[Any]:
    """Values of the wrong type or out of range for a parameter."""
    if hint is int:
        return ["x", 2**40, None, [1]]
    if hint is str:
        return [12345, None, {"a": 1}]
    if hint is bool:
        return ["maybe", None]
    return ["x", 12345]


def _materialize(value: Any) -> Any:
    return value() if isinstance(value, types.FunctionType) else value


def _calls(fn: Any, world: World) -> Iterator[tuple[str, dict[str, Any]]]:
    sig = signature_of(fn)
    hints = typing.get_type_hints(fn)
    params = list(inspect.signature(fn).parameters)[1:]
    if not params:
        yield "good", {}
        return
    goods = {p: _good(hints.get(p, Any), world) for p in params}
    for i in range(max(len(v) for v in goods.values())):
        yield "good", {p: _materialize(v[i % len(v)]) for p, v in goods.items()}
    base = {p: _materialize(v[0]) for p, v in goods.items()}
    for p in params:
        for bad in _wrong(hints.get(p, Any)):
            yield "wrong", {**base, p: bad}
    if sig.required:
        yield "wrong", {}
    yield "wrong", {**base, "unexpected": 1}


def _texts(value: Any) -> Iterator[str]:
    """Every string in an event's arguments (as it would come back, JSON-escaped)."""
    if isinstance(value, str) and len(value) > 2:
        yield value
        yield wire(value)[1:-1]
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def _handlers() -> list[tuple[str, Any]]:
    registry = RegistrationContext.get().event_handlers
    found = [
        (name, h.handler.fn) for name, h in registry.items() if is_library_handler(h.handler.fn)
    ]
    assert len(found) >= 50, "the app registers its states (app.app imported)"
    return sorted(found, key=lambda pair: pair[0])


async def _fingerprint(actor_id: int) -> dict[str, str]:
    """A digest of every table's rows (but logs and last-seen times), and under "others:"
    the digests of everyone else's account and sessions. One statement."""
    parts = []
    for table in tables.sorted_tables:
        if table.name in LOGGED:
            continue
        columns = [c.name for c in table.columns if c.name not in TOUCHED]
        row = f"concat_ws('|', {', '.join(f't.{c}::text' for c in columns)})"
        digest = f"md5(coalesce(string_agg({row}, '#' ORDER BY {row}), ''))"
        parts.append(f"SELECT '{table.name}', {digest} FROM {table.name} t")
        if table.name in ("users", "user_sessions", "saved_searches"):
            key = "id" if table.name == "users" else "user_id"
            parts.append(
                f"SELECT 'others:{table.name}', {digest} FROM {table.name} t "
                f"WHERE {key} <> {int(actor_id)} AND {key} <= {WORLD_USERS}"
            )
    async with backend_db.session_scope() as session:
        rows = await session.exec(text(" UNION ALL ".join(parts)))
        return {name: digest for name, digest in rows.all()}


async def _wal_position() -> str:
    """Where PostgreSQL's write-ahead log ends: every change to a table moves it (the
    library has no unlogged tables; `test_every_table_is_logged` says so)."""
    async with backend_db.session_scope() as session:
        return str((await session.exec(text("SELECT pg_current_wal_insert_lsn()"))).one()[0])  # type: ignore[call-overload]


async def test_every_table_is_logged(db: AsyncSession) -> None:
    """The matrix skips its digest when the write-ahead log did not move: true only while
    no table's changes bypass the log."""
    unlogged = await db.exec(  # type: ignore[call-overload]
        text("SELECT relname FROM pg_class WHERE relpersistence = 'u'")
    )
    assert unlogged.all() == []


async def _log_in(user: User | None) -> str:
    if user is None:
        return ""
    async with backend_db.session_scope() as session:
        result = await auth.login(
            session=session, redis=get_redis(), email=user.email, password=PASSWORD
        )
        await session.commit()
    return result.token


async def _still_valid(token: str) -> bool:
    async with backend_db.session_scope() as session:
        return await auth.user_for_token(session=session, token=token) is not None


@pytest.fixture
async def world(db: AsyncSession, data_dir: Path) -> AsyncIterator[World]:
    yield await _world(db)


@pytest.fixture
async def tabs() -> AsyncIterator[Tabs]:
    async with Tabs() as t:
        yield t


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("actor", list(ACTORS))
async def test_no_handler_shows_or_changes_what_its_actor_may_not(
    world: World, tabs: Tabs, data_dir: Path, actor: str, page: str
) -> None:
    user = world.users.get(actor)
    forbidden = [
        s for kind, found in world.secrets.items() if kind not in ACTORS[actor] for s in found
    ]
    tab = await tabs.open(_page(world, page), cookie=await _log_in(user))
    assert not tabs.errors, tabs.errors
    seen_so_far = 0
    objects = data_dir / "objects"
    stored_before = sorted(objects.rglob("*")) if objects.exists() else []
    problems: list[str] = []
    after: dict[str, str] | None = None
    for name, fn in _handlers():
        module = fn.__module__
        for kind, payload in _calls(fn, world):
            # (the last call's "after", unless the actor was logged in again since: the
            # fingerprints are most of the matrix's time)
            before = after or await _fingerprint(user.id if user and user.id else 0)
            mark = await _wal_position()
            await tabs.send(tab, name, payload)
            label = f"{fn.__qualname__}({', '.join(f'{k}={v!r}' for k, v in payload.items())})"
            new = "\n".join(tab.messages[seen_so_far:])
            seen_so_far = len(tab.messages)
            for typed in _texts(payload):  # what the actor sent may come back to them
                new = new.replace(typed, "")
            leaked = [s for s in forbidden if s in new]
            if leaked:
                problems.append(f"{label} sent {leaked} to {actor} on the {page} page")
            if tabs.errors:
                problems.append(f"{label} raised {tabs.errors!r}")
                tabs.errors.clear()
            if kind == "wrong" and REFUSED not in new:
                problems.append(f"{label} was not refused")
            # Nothing written (the write-ahead log did not move): nothing changed, and the
            # digest of every table need not be taken again.
            same = await _wal_position() == mark
            after = before if same else await _fingerprint(user.id if user and user.id else 0)
            changed = sorted(
                t for t in before if before[t] != after.get(t) and not t.startswith("others:")
            )
            self_service = module.startswith(SELF_SERVICE_MODULES) and set(changed) <= set(
                ACCOUNT_TABLES
            )
            others_kept = all(before[t] == after[t] for t in before if t.startswith("others:"))
            staff_may = actor == "other_librarian" and fn.__name__ in STAFF_MAY
            if changed and not staff_may and not (self_service and others_kept):
                problems.append(f"{label} by {actor} changed {changed}")
            if tab.cookie and not await _still_valid(tab.cookie):
                # The handler logged the actor out (logout, ending their own sessions):
                # log in again so the rest of the matrix still acts as them.
                tab = await tabs.open(_page(world, page), cookie=await _log_in(user))
                seen_so_far = 0
                after = None
    whole = await tabs.state(tab)
    problems += [f"the {page} tab's state holds {s!r} for {actor}" for s in forbidden if s in whole]
    stored_after = sorted(objects.rglob("*")) if objects.exists() else []
    if len(stored_after) != len(stored_before):
        problems.append(f"files were stored by {actor}: {set(stored_after) - set(stored_before)}")
    assert not problems, "\n".join(problems)


async def test_the_matrix_reaches_every_handler_with_its_arguments(world: World) -> None:
    """Every handler's parameters have values in the matrix (a new kind of parameter
    must be taught to it), and none takes *args or **kwargs."""
    for _name, fn in _handlers():
        calls = list(_calls(fn, world))
        assert any(kind == "good" for kind, _ in calls), fn.__qualname__
        for _, payload in calls:
            assert all(v is not None or True for v in payload.values())
        hints = typing.get_type_hints(fn)
        for p in list(inspect.signature(fn).parameters)[1:]:
            assert _good(hints.get(p, Any), world) != [None, "x"], (fn.__qualname__, p)
    assert DocumentVersion and Document  # the world uses real rows
