"""State handlers called directly, as a browser tab would: they authorize through services."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from reflex.state import State
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

import app.app  # noqa: F401  (registers every state)
from backend.api.routes import create_api
from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.collections.models import Collection
from backend.redis_client import get_redis
from backend.users.models import Role, User
from state.admin import UsersState
from state.auth import LoginState
from state.collections import CollectionsState, CollectionState
from state.documents import DocumentState
from state.session import SessionState
from tests.factories import (
    PASSWORD,
    log_in_tab,
    make_collection,
    make_user,
    open_in_tab,
    posted_form,
    upload_bytes,
)


def _substate(root: State, cls: type[Any]) -> Any:
    return root.get_substate(cls.get_full_name().split("."))


@pytest.fixture
async def tab(clean: None) -> AsyncIterator[State]:
    yield State(_reflex_internal_init=True)


async def _log_in(db: AsyncSession, tab: State, user: User) -> None:
    result = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    log_in_tab(tab, result.token)


async def test_patron_cannot_create_a_collection(db: AsyncSession, tab: State) -> None:
    patron = await make_user(db)
    await _log_in(db, tab, patron)
    state = _substate(tab, CollectionsState)
    await CollectionsState.create.fn(state, {"name": "Sneaky", "visibility": "public"})
    assert state.error == "Only a librarian or an admin can do that."
    assert (await db.exec(select(Collection))).all() == []


async def test_anonymous_cannot_create_a_collection(db: AsyncSession, tab: State) -> None:
    state = _substate(tab, CollectionsState)
    await CollectionsState.create.fn(state, {"name": "Sneaky"})
    assert state.error == "Please log in first."


async def test_patron_cannot_change_roles(db: AsyncSession, tab: State) -> None:
    patron = await make_user(db)
    await make_user(db, Role.ADMIN)
    await db.commit()
    await _log_in(db, tab, patron)
    state = _substate(tab, UsersState)
    await UsersState.load.fn(state)
    assert state.denied and state.users == []
    assert patron.id is not None
    await UsersState.set_role.fn(state, patron.id, "admin")
    assert state.error == "Only an admin can do that."
    await db.refresh(patron)
    assert patron.role == Role.PATRON


async def test_patron_cannot_add_members(db: AsyncSession, tab: State) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    collection = await make_collection(db, librarian, is_public=True)
    await db.commit()
    await _log_in(db, tab, patron)
    state = _substate(tab, CollectionState)
    state.collection_id = collection.id
    await CollectionState.add_member.fn(state, {"email": patron.email, "role": "curator"})
    assert state.member_error == "No such collection."


async def test_private_document_page_is_not_found_for_outsiders(
    db: AsyncSession, tab: State, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    collection = await make_collection(db, librarian, is_public=False)
    document, _ = await upload_bytes(db, librarian, collection, b"hidden\n", "h.txt")
    await db.commit()
    await _log_in(db, tab, patron)
    state = _substate(tab, DocumentState)
    open_in_tab(tab, f"/documents/{document.id}")
    await DocumentState.load.fn(state)
    assert state.not_found and state.title == ""
    # The same tab, logged in as the librarian, does see it (so the route above is read).
    await _log_in(db, tab, librarian)
    await DocumentState.load.fn(state)
    assert not state.not_found and state.title == "h"


async def test_login_handler_hands_the_session_to_the_cookie_route(
    db: AsyncSession, tab: State
) -> None:
    patron = await make_user(db)
    await db.commit()
    state = _substate(tab, LoginState)
    assert await LoginState.submit.fn(state, {"email": patron.email, "password": "wrong"}) is None
    assert state.error == "Email or password is incorrect." and not state.busy
    # While a password is being checked, a second press is not another check.
    state.busy = True
    assert await LoginState.submit.fn(state, {"email": patron.email, "password": PASSWORD}) is None
    state.busy = False
    open_in_tab(tab, "/login?next=/collections")
    spec = await LoginState.submit.fn(state, {"email": patron.email, "password": PASSWORD})
    assert state.error == "" and state.busy  # "Logging in…" until the page changes
    action, fields = posted_form(spec)
    assert action == "/api/v1/session" and fields["next"] == "/collections"
    # The browser posts the form; the route sets the cookie the next page load carries.
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:
        response = await client.post(action, data=fields, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 303 and response.headers["location"] == "/collections"
    token = response.cookies[SESSION_COOKIE]
    session_state = _substate(tab, SessionState)
    await SessionState.refresh_user.fn(session_state)
    assert session_state.user_id == 0
    log_in_tab(tab, token)
    await SessionState.refresh_user.fn(session_state)
    assert session_state.user_id == patron.id and session_state.user_email == patron.email
    assert "token" not in SessionState.get_fields()


async def test_a_next_page_elsewhere_is_refused(db: AsyncSession, tab: State) -> None:
    patron = await make_user(db)
    await db.commit()
    open_in_tab(tab, "/login?next=//evil.example/")
    state = _substate(tab, LoginState)
    spec = await LoginState.submit.fn(state, {"email": patron.email, "password": PASSWORD})
    assert posted_form(spec)[1]["next"] == "/"
