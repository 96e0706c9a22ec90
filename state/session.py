"""Who is logged in: the session token cookie, and a small DTO of the user for display.

The token is checked against the server-side session on every event through
`acting()`; the DTO only decides what the page shows.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import reflex as rx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.db import session_scope
from backend.settings import get_settings
from backend.users.models import User

_HTTPS = get_settings().public_url.startswith("https://")


class SessionState(rx.State):
    token: str = rx.Cookie(
        "",
        name=SESSION_COOKIE,
        path="/",
        same_site="strict",
        secure=_HTTPS,
        max_age=get_settings().session_absolute_hours * 3600,
    )
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
        async with session_scope() as session:
            user = await auth.user_for_token(session=session, token=self.token)
            await session.commit()
        if user is None and self.token:
            self.token = ""
        self._show(user)


@asynccontextmanager
async def acting_as(token: str) -> AsyncIterator[tuple[AsyncSession, User | None]]:
    """A unit of work and the user behind a session token (None when it is not valid)."""
    async with session_scope() as session:
        yield session, await auth.user_for_token(session=session, token=token)


@asynccontextmanager
async def acting(state: rx.State) -> AsyncIterator[tuple[AsyncSession, User | None]]:
    """A unit of work and the acting user of this browser tab's session."""
    token = (await state.get_state(SessionState)).token
    async with acting_as(token) as pair:
        yield pair
