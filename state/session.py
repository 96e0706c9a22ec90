"""Who is logged in, read on the server from the session cookie of the websocket handshake.

The session token lives only in an HttpOnly cookie that the server sets
(backend.api.session); no script can read it and no state var holds it. Reflex keeps the
handshake's request headers in `router.headers` on the server and leaves the cookie out of
what it sends to the browser. Every event checks the token against the server-side
session through `acting()`; the small DTO in SessionState only decides what pages show.
"""

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import reflex as rx
from reflex.state import BaseState
from reflex_base.event import EventSpec
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.db import read_scope, session_scope
from backend.users.models import User

T = TypeVar("T")


def request_cookie(state: BaseState, name: str) -> str:
    """A cookie of the request that opened this tab's websocket ("" when absent)."""
    # Split by hand: SimpleCookie silently drops every cookie after one it cannot parse,
    # and other apps on the same host may set such cookies.
    for part in state.router.headers.cookie.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip().strip('"')
    return ""


def session_token(state: BaseState) -> str:
    """The session token of this tab (in a background handler, read it inside `async with
    self`)."""
    return request_cookie(state, SESSION_COOKIE)


def form_text(form: object, name: str) -> str:
    """A text field of a submitted form; anything else a client sends counts as empty."""
    value = form.get(name, "") if isinstance(form, dict) else ""
    return value if isinstance(value, str) else ""


def client_ip(state: rx.State) -> str:
    # Reflex resolves X-Forwarded-For only through `trusted_proxy_hops`, so it cannot be spoofed.
    return state.router.session.client_ip


def post_navigation(url: str, fields: dict[str, str]) -> EventSpec:
    """Leave the page by submitting a small POST form: a full navigation (a new page load
    and websocket), which lets the server's response set or clear HttpOnly cookies."""
    script = (
        "(() => { const f = document.createElement('form'); f.method = 'POST'; "
        f"f.action = {json.dumps(url)}; "
        f"for (const [k, v] of Object.entries({json.dumps(fields)})) {{ "
        "const i = document.createElement('input'); i.type = 'hidden'; i.name = k; "
        "i.value = v; f.appendChild(i); } document.body.appendChild(f); f.submit(); })()"
    )
    return rx.call_script(script)


class SessionState(rx.State):
    user_id: int = 0
    user_name: str = ""
    user_email: str = ""
    user_role: str = ""

    @rx.var
    def logged_in(self) -> bool:
        return self.user_id > 0

    @rx.var
    def is_staff(self) -> bool:
        return self.user_role in ("admin", "librarian")

    @rx.var
    def is_admin(self) -> bool:
        return self.user_role == "admin"

    def _show(self, user: User | None) -> None:
        self.user_id = (user.id or 0) if user else 0
        self.user_name = user.display_name if user else ""
        self.user_email = user.email if user else ""
        self.user_role = user.role if user else ""

    @rx.event
    async def refresh_user(self) -> None:
        """Re-read who is logged in from the server-side session (on every page load)."""
        async with acting(self) as (session, user):
            await session.commit()
        self._show(user)


@asynccontextmanager
async def acting_as(token: str) -> AsyncIterator[tuple[AsyncSession, User | None]]:
    """A unit of work and the user behind a session token (None when it is not valid)."""
    async with session_scope() as session:
        yield session, await auth.user_for_token(session=session, token=token)


@asynccontextmanager
async def acting(state: rx.State) -> AsyncIterator[tuple[AsyncSession, User | None]]:
    """A unit of work and the acting user of this browser tab's session cookie."""
    async with acting_as(session_token(state)) as pair:
        yield pair


@asynccontextmanager
async def reading_as(token: str) -> AsyncIterator[tuple[AsyncSession, User | None]]:
    """The user behind a session token, checked on the primary as for every event, and a
    unit of work for reads that may be a moment stale (backend.db.read_scope: on the
    replica when it has this reader's own last change). Read-only: a write in it fails."""
    async with acting_as(token) as (session, user):
        await session.commit()  # (the session's last use may have been noted)
    async with read_scope() as reads:
        yield reads, user


@asynccontextmanager
async def reading(state: rx.State) -> AsyncIterator[tuple[AsyncSession, User | None]]:
    """`reading_as` this browser tab's session: the document page, browse lists, search
    results, the dashboards."""
    async with reading_as(session_token(state)) as pair:
        yield pair


async def perform(state: rx.State, use_case: Callable[..., Awaitable[T]], **args: Any) -> T:
    """Run a backend use case as this tab's user in one unit of work, and commit it (which
    sends the jobs it queued). A refusal (LibraryError) reaches the handler to show."""
    async with acting(state) as (session, actor):
        result = await use_case(session=session, actor=actor, **args)
        await session.commit()
    return result
