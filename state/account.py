"""A user's own account page: open sessions, password, address, two-factor authentication."""

from typing import Any

import reflex as rx
from ua_parser import parse as ua_parse

from backend.analytics import report
from backend.auth import email_change, personal_tokens, second_factor
from backend.auth import service as auth
from backend.auth.tokens import token_hash
from backend.db import session_scope
from backend.errors import LibraryError
from backend.redis_client import get_redis
from backend.users.models import Role
from state.session import SessionState, acting, client_ip, form_text, perform, session_token

SCOPE_ORDER = list(personal_tokens.SCOPES)


def _version(major: str | None, minor: str | None) -> str:
    return ".".join(v for v in (major, minor if minor != "0" else None) if v)


def device_name(user_agent: str) -> str:
    """ "Chrome 120 on Windows 10", "Mobile Safari 17.1 on iOS 17.1 (iPhone)": what a
    person recognises of a browser's user-agent string (ua-parser's rules); the string
    itself, cut short, when the rules know nothing of it."""
    found = ua_parse(user_agent)
    if found.user_agent is None:
        return user_agent[:60] or "unknown browser"
    ua = found.user_agent
    name = " ".join(p for p in (ua.family, _version(ua.major, ua.minor)) if p)
    if found.os is not None:
        system = found.os
        name += " on " + " ".join(
            p for p in (system.family, _version(system.major, system.minor)) if p
        )
    if found.device is not None and found.device.family not in ("Other", "Spider"):
        name += f" ({found.device.family})"
    return name


class AccountState(rx.State):
    sessions: list[dict[str, Any]] = []
    error: str = ""
    notice: str = ""
    password_error: str = ""
    email_error: str = ""
    totp_error: str = ""
    totp_enabled: bool = False
    recovery_left: int = 0
    # Shown while a new second factor waits for its first code (the person must see it).
    totp_secret: str = ""
    totp_qr: str = ""
    # Shown once, right after they are made.
    recovery_codes: list[str] = []
    # Admins only: the monthly usage report by e-mail.
    may_get_report: bool = False
    usage_report: bool = False
    # Personal API tokens; a new one's secret is shown once, right after it is made.
    api_tokens: list[dict[str, str]] = []
    new_token_secret: str = ""
    token_error: str = ""
    may_admin_scope: bool = False

    async def _reload(self) -> None:
        current = token_hash(session_token(self))
        async with acting(self) as (session, actor):
            rows = await auth.list_sessions(session=session, actor=actor)
            factor = await second_factor.status(session=session, actor=actor)
            wants_report = await report.opted_in(session=session, actor=actor)
            tokens = await personal_tokens.active(session=session, actor=actor)
            await session.commit()
        self.sessions = [
            {
                "id": r.id,
                "ip": r.ip or "unknown address",
                "agent": device_name(r.user_agent or ""),
                "agent_raw": (r.user_agent or "")[:300],
                "last_seen": r.last_seen_at.strftime("%Y-%m-%d %H:%M UTC"),
                "current": r.token_hash == current,
            }
            for r in rows
        ]
        self.totp_enabled, self.recovery_left = factor.enabled, factor.recovery_codes_left
        self.may_get_report, self.usage_report = wants_report is not None, bool(wants_report)
        self.may_admin_scope = actor is not None and actor.role == Role.ADMIN
        self.api_tokens = [
            {
                "id": str(t.id),
                "name": t.name,
                "scopes": ", ".join(sorted(personal_tokens.scopes_of(t), key=SCOPE_ORDER.index)),
                "created": t.created_at.strftime("%Y-%m-%d"),
                "last_used": t.last_used_at.strftime("%Y-%m-%d %H:%M UTC")
                if t.last_used_at
                else "never",
                "expires": t.expires_at.strftime("%Y-%m-%d") if t.expires_at else "never",
            }
            for t in tokens
        ]

    def _clear_messages(self) -> None:
        self.error = self.notice = self.password_error = self.email_error = self.totp_error = ""
        self.token_error = self.new_token_secret = ""

    @rx.event
    async def create_token(self, form: dict[str, Any]) -> None:
        """A personal API token with the scopes ticked; its secret is shown once."""
        self._clear_messages()
        scopes = [s for s in SCOPE_ORDER if form.get(f"scope_{s}") in ("on", True, "true")]
        days = form_text(form, "days")
        try:
            made = await perform(
                self,
                personal_tokens.create,
                name=form_text(form, "token_name"),
                scopes=scopes,
                days=int(days) if days.isdigit() else -1,
            )
            await self._reload()
        except LibraryError as exc:
            self.token_error = str(exc)
            return
        self.new_token_secret = made.secret

    @rx.event
    async def revoke_token(self, token_id: int) -> None:
        self._clear_messages()
        try:
            await perform(self, personal_tokens.revoke, token_id=token_id)
            await self._reload()
        except LibraryError as exc:
            self.token_error = str(exc)
            return
        self.notice = "The token is revoked: programs using it are refused from now on."

    @rx.event
    async def load(self) -> None:
        self._clear_messages()
        self.totp_secret, self.totp_qr, self.recovery_codes = "", "", []
        try:
            await self._reload()
        except LibraryError as exc:
            self.sessions = []
            self.error = str(exc)

    @rx.event
    async def revoke(self, session_id: int) -> None:
        self._clear_messages()
        try:
            await perform(self, auth.revoke_session, session_id=session_id)
            await self._reload()
        except LibraryError as exc:
            self.error = str(exc)

    @rx.event
    async def set_usage_report(self, on: bool) -> None:
        self._clear_messages()
        try:
            self.usage_report = await perform(self, report.set_opt_in, opt_in=on)
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.notice = (
            "The monthly usage report will be e-mailed to you."
            if self.usage_report
            else "The monthly usage report will no longer be e-mailed to you."
        )

    @rx.event
    async def change_password(self, form: dict[str, str]) -> None:
        self._clear_messages()
        if form_text(form, "new_password") != form_text(form, "new_password2"):
            self.password_error = "The two new passwords differ."
            return
        try:
            await perform(
                self,
                auth.change_password,
                redis=get_redis(),
                current_token=session_token(self),
                current_password=form_text(form, "current_password"),
                new_password=form_text(form, "new_password"),
                ip=client_ip(self),
            )
            await self._reload()
        except LibraryError as exc:
            self.password_error = str(exc)
            return
        self.notice = "Your password is changed. Every other session was logged out."

    @rx.event
    async def change_email(self, form: dict[str, str]) -> None:
        self._clear_messages()
        try:
            address = await perform(
                self,
                email_change.request_email_change,
                redis=get_redis(),
                new_email=form_text(form, "email"),
                password=form_text(form, "password"),
                ip=client_ip(self),
            )
        except LibraryError as exc:
            self.email_error = str(exc)
            return
        self.notice = (
            f"We sent a link to {address}. Your address changes when you open it "
            f"(within {email_change.LINK_HOURS} hours)."
        )

    @rx.event
    async def start_totp(self) -> None:
        self._clear_messages()
        try:
            setup = await perform(self, second_factor.begin_setup)
        except LibraryError as exc:
            self.totp_error = str(exc)
            return
        self.totp_secret, self.totp_qr = setup.secret, setup.qr_svg_data_uri

    @rx.event
    async def confirm_totp(self, form: dict[str, str]) -> None:
        self._clear_messages()
        try:
            codes = await perform(
                self, second_factor.confirm_setup, code=form_text(form, "code"), ip=client_ip(self)
            )
            await self._reload()
        except LibraryError as exc:
            self.totp_error = str(exc)
            return
        self.totp_secret, self.totp_qr, self.recovery_codes = "", "", codes
        self.notice = "Two-factor authentication is on. Keep the recovery codes below safe."

    @rx.event
    async def renew_codes(self, form: dict[str, str]) -> None:
        self._clear_messages()
        try:
            codes = await perform(
                self,
                second_factor.renew_recovery_codes,
                code=form_text(form, "code"),
                ip=client_ip(self),
            )
            await self._reload()
        except LibraryError as exc:
            self.totp_error = str(exc)
            return
        self.recovery_codes = codes
        self.notice = "New recovery codes are below; the old ones no longer work."

    @rx.event
    async def disable_totp(self, form: dict[str, str]) -> None:
        self._clear_messages()
        try:
            await perform(
                self, second_factor.disable, code=form_text(form, "code"), ip=client_ip(self)
            )
            await self._reload()
        except LibraryError as exc:
            self.totp_error = str(exc)
            return
        self.recovery_codes = []
        self.notice = "Two-factor authentication is off."


class EmailConfirmState(rx.State):
    error: str = ""
    done: str = ""

    @rx.event
    def load(self) -> None:
        self.error, self.done = "", ""

    @rx.event
    async def confirm(self) -> None:
        self.error = ""
        try:
            async with session_scope() as session:
                user = await email_change.confirm_email_change(
                    session=session,
                    token=self.router.url.query_parameters.get("token", ""),
                    ip=client_ip(self),
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.done = f"Your account now uses {user.email}."
        session_state = await self.get_state(SessionState)
        if session_state.user_id == user.id:
            session_state._show(user)
