"""A user's own account page: open sessions they can end."""

from typing import Any

import reflex as rx

from backend.auth import service as auth
from backend.auth.tokens import token_hash
from backend.errors import LibraryError
from state.session import SessionState, acting


class AccountState(rx.State):
    sessions: list[dict[str, Any]] = []
    error: str = ""

    async def _reload(self) -> None:
        current = token_hash((await self.get_state(SessionState)).token)
        async with acting(self) as (session, actor):
            rows = await auth.list_sessions(session=session, actor=actor)
            await session.commit()
        self.sessions = [
            {
                "id": r.id,
                "ip": r.ip or "unknown address",
                "agent": (r.user_agent or "unknown browser")[:80],
                "last_seen": r.last_seen_at.strftime("%Y-%m-%d %H:%M UTC"),
                "current": r.token_hash == current,
            }
            for r in rows
        ]

    @rx.event
    async def load(self) -> None:
        self.error = ""
        try:
            await self._reload()
        except LibraryError as exc:
            self.sessions = []
            self.error = str(exc)

    @rx.event
    async def revoke(self, session_id: int) -> None:
        try:
            async with acting(self) as (session, actor):
                await auth.revoke_session(session=session, actor=actor, session_id=session_id)
                await session.commit()
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)
