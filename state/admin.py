"""Admin pages: users and their roles."""

from typing import Any

import reflex as rx

from backend.errors import LibraryError
from backend.users import service as users
from state.session import acting


class UsersState(rx.State):
    users: list[dict[str, Any]] = []
    error: str = ""
    denied: bool = False

    async def _reload(self) -> None:
        async with acting(self) as (session, actor):
            rows = await users.list_users(session=session, actor=actor)
            await session.commit()
        self.users = [
            {
                "id": u.id,
                "email": u.email,
                "name": u.display_name,
                "role": u.role,
                "active": u.is_active,
                "created": u.created_at.strftime("%Y-%m-%d"),
            }
            for u in rows
        ]

    @rx.event
    async def load(self) -> None:
        self.error = ""
        try:
            await self._reload()
            self.denied = False
        except LibraryError as exc:
            self.denied = True
            self.users = []
            self.error = str(exc)

    @rx.event
    async def set_role(self, user_id: int, role: str) -> None:
        self.error = ""
        try:
            async with acting(self) as (session, actor):
                await users.set_role(session=session, actor=actor, user_id=user_id, role=role)
                await session.commit()
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)

    @rx.event
    async def set_active(self, user_id: int, active: bool) -> None:
        self.error = ""
        try:
            async with acting(self) as (session, actor):
                await users.set_active(session=session, actor=actor, user_id=user_id, active=active)
                await session.commit()
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)
