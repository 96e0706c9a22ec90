"""Admin pages: users, their roles and access, invitations, and the account audit log."""

from typing import Any

import reflex as rx
from reflex_base.event import EventSpec

from backend.auth import admin, audit, invites, second_factor
from backend.errors import LibraryError
from backend.settings import get_settings
from state.session import acting, client_ip, form_text, perform

AUDIT_ROWS = 100


ROLE_WORDS = {"admin": "an admin", "librarian": "a librarian", "patron": "a patron"}


class UsersState(rx.State):
    users: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    # Invitations that wait for their link to be followed (expired ones too).
    invitations: list[dict[str, Any]] = []
    error: str = ""
    notice: str = ""
    denied: bool = False
    # Admin actions need the admin's own second factor; the page says so up front.
    needs_second_factor: bool = False
    # The list: a search, a role, a status, and keyset pages (the e-mail each page starts
    # after; the earlier pages' starts, for going back).
    search: str = ""
    role_filter: str = ""
    status_filter: str = ""
    after: str = ""
    earlier: list[str] = []
    next_after: str = ""

    async def _reload(self) -> None:
        async with acting(self) as (session, actor):
            page = await admin.page_accounts(
                session=session,
                actor=actor,
                search=self.search,
                role=self.role_filter,
                status=self.status_filter,
                after=self.after,
            )
            rows = await audit.recent(session=session, actor=actor, limit=AUDIT_ROWS)
            waiting = await invites.pending(session=session, actor=actor)
            assert actor is not None and actor.id is not None
            has_factor = await second_factor.is_enabled(session, actor.id)
            await session.commit()
        self.needs_second_factor = not has_factor
        self.next_after = page.next_after
        self.users = [
            {
                "id": a.user.id,
                "email": a.user.email,
                "name": a.user.display_name,
                "role": a.user.role,
                "active": a.user.is_active,
                "two_factor": a.has_second_factor,
                "created": a.user.created_at.strftime("%Y-%m-%d"),
                "last_login": (
                    a.user.last_login_at.strftime("%Y-%m-%d %H:%M")
                    if a.user.last_login_at
                    else "never"
                ),
            }
            for a in page.accounts
        ]
        self.invitations = [
            {
                "id": p.invitation.id,
                "email": p.invitation.email,
                "role": p.invitation.role,
                "invited_by": p.invited_by or "a removed account",
                "sent": p.invitation.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                "expires": p.invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
                "expired": p.expired,
            }
            for p in waiting
        ]
        self.events = [
            {
                "id": e.id,
                "at": e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "actor": e.actor_email or "command line",
                "subject": e.subject_email,
                "action": e.action,
                "detail": e.detail,
                "ip": e.ip,
            }
            for e in rows
        ]

    async def _show(self) -> None:
        self.error = self.notice = ""
        try:
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)

    @rx.event
    async def find(self, form: dict[str, Any]) -> None:
        """A new search or filter: from the first page."""
        self.search = str(form.get("search", ""))[:100]
        self.role_filter = str(form.get("role", ""))[:20]
        self.status_filter = str(form.get("status", ""))[:20]
        self.after, self.earlier = "", []
        await self._show()

    @rx.event
    async def next_page(self) -> None:
        if self.next_after:
            self.earlier = [*self.earlier, self.after][-1000:]
            self.after = self.next_after
            await self._show()

    @rx.event
    async def previous_page(self) -> None:
        if self.earlier:
            self.after, self.earlier = self.earlier[-1], self.earlier[:-1]
            await self._show()

    @rx.event
    async def load(self) -> None:
        self.error = self.notice = ""
        try:
            await self._reload()
            self.denied = False
        except LibraryError as exc:
            self.denied = True
            self.users, self.events, self.invitations = [], [], []
            self.error = str(exc)

    async def _act(self, notice: str, action: Any, **kwargs: Any) -> bool:
        """Run one admin action for the acting user, commit it, and show the result."""
        self.error = self.notice = ""
        try:
            await perform(self, action, ip=client_ip(self), **kwargs)
            self.notice = notice
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)
            return False
        return True

    @rx.event
    async def set_role(self, user_id: int, role: str) -> EventSpec | None:
        """Change an account's role, and say so where the admin is looking (a toast)."""
        who = next((u["email"] for u in self.users if u["id"] == user_id), "The account")
        done = await self._act(
            f"{who} is now {ROLE_WORDS.get(role, role)}.",
            admin.set_role,
            user_id=user_id,
            role=role,
        )
        return rx.toast.success(self.notice) if done else rx.toast.error(self.error)

    @rx.event
    async def set_active(self, user_id: int, active: bool) -> None:
        notice = "Account enabled." if active else "Account disabled; its sessions ended."
        await self._act(notice, admin.set_active, user_id=user_id, active=active)

    @rx.event
    async def end_sessions(self, user_id: int) -> None:
        await self._act(
            "Logged out everywhere: every session of the account ended.",
            admin.end_sessions,
            user_id=user_id,
        )

    @rx.event
    async def reset_second_factor(self, user_id: int) -> None:
        await self._act(
            "Two-factor authentication removed; the account's sessions ended.",
            admin.reset_second_factor,
            user_id=user_id,
        )

    @rx.event
    async def invite(self, form: dict[str, Any]) -> EventSpec | None:
        days = get_settings().invitation_days
        sent = await self._act(
            f"Invitation sent. Its link works once, for {days} days.",
            invites.invite,
            email=form_text(form, "email"),
            role=form_text(form, "role") or "librarian",
        )
        # The address stays in the form when it was refused, to be corrected.
        return rx.set_value("invite-email", "") if sent else None

    @rx.event
    async def resend_invitation(self, invitation_id: int) -> None:
        await self._act(
            "Invitation sent again with a new link; the earlier link no longer works.",
            invites.resend,
            invitation_id=invitation_id,
        )

    @rx.event
    async def revoke_invitation(self, invitation_id: int) -> None:
        await self._act(
            "Invitation revoked; its link no longer works.",
            invites.revoke,
            invitation_id=invitation_id,
        )
