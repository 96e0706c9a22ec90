"""Login (password, then a code when the account has a second factor), registration by
mail, the acceptance of an invitation, logout, and password reset pages."""

from urllib.parse import urlencode

import reflex as rx
from reflex_base.event import EventSpec

from backend.api.session import END, START, safe_next
from backend.auth import invites, registration, reset, tickets
from backend.auth import service as auth
from backend.auth.tokens import DEVICE_COOKIE
from backend.db import session_scope
from backend.errors import LibraryError
from backend.redis_client import get_redis
from state.session import (
    SessionState,
    client_ip,
    form_text,
    post_navigation,
    request_cookie,
    session_token,
)

LOGIN_PAGE = "/login"  # (app.routes.LOGIN: state never imports the pages)


class LoginState(rx.State):
    error: str = ""
    needs_code: bool = False
    email: str = ""  # filled in from the address (?email=, after a registration)
    busy: bool = False  # a password being checked
    # The login that waits for its code: a handle to server-side data, never sent out.
    _pending: str = ""

    @rx.event
    def load(self) -> None:
        self.error, self.needs_code, self._pending, self.busy = "", False, "", False
        email = self.router.url.query_parameters.get("email", "")
        self.email = email[:320] if isinstance(email, str) and "@" in email else ""

    async def _enter(self, result: auth.LoginResult) -> EventSpec:
        """Hand the new session to the browser through the session route's cookie."""
        assert result.user.id is not None
        ticket = await tickets.issue(get_redis(), token=result.token, user_id=result.user.id)
        self.needs_code, self._pending = False, ""
        target = safe_next(self.router.url.query_parameters.get("next", "/"))
        return post_navigation(START, {"ticket": ticket, "next": target})

    @rx.event(background=True)
    async def submit(self, form: dict[str, str]) -> EventSpec | None:
        """The password checked (bcrypt: a quarter of a second on purpose) without holding
        the tab's state meanwhile; the button says "Logging in…" at once, and stays so
        until the page changes."""
        async with self:
            if self.busy:
                return None  # a second press while the first is checked
            self.error, self.busy = "", True
            ip, agent = client_ip(self), self.router.headers.user_agent
            previous, device = session_token(self), request_cookie(self, DEVICE_COOKIE)
        try:
            async with session_scope() as session:
                result = await auth.login(
                    session=session,
                    redis=get_redis(),
                    email=form_text(form, "email"),
                    password=form_text(form, "password"),
                    ip=ip,
                    user_agent=agent,
                    previous_token=previous,
                    device_cookie=device,
                )
                await session.commit()
        except auth.SecondFactorRequired as needed:
            async with self:
                self._pending, self.needs_code, self.busy = needed.pending, True, False
            return None
        except LibraryError as exc:
            async with self:
                self.error, self.busy = str(exc), False
            return None
        async with self:
            return await self._enter(result)

    @rx.event
    async def submit_code(self, form: dict[str, str]) -> EventSpec | None:
        self.error = ""
        try:
            async with session_scope() as session:
                result = await auth.login_with_code(
                    session=session,
                    redis=get_redis(),
                    pending=self._pending,
                    code=form_text(form, "code"),
                    previous_token=session_token(self),
                )
                await session.commit()
        except auth.LoginExpired as exc:
            self.error, self.needs_code, self._pending = str(exc), False, ""
            return None
        except LibraryError as exc:
            self.error = str(exc)
            return None
        return await self._enter(result)


class RegisterState(rx.State):
    error: str = ""
    sent: str = ""

    @rx.event
    def load(self) -> None:
        self.error, self.sent = "", ""

    @rx.event
    async def submit(self, form: dict[str, str]) -> None:
        self.error = ""
        if form_text(form, "password") != form_text(form, "password2"):
            self.error = "The two passwords differ."
            return
        try:
            async with session_scope() as session:
                address = await registration.request_registration(
                    session=session,
                    redis=get_redis(),
                    email=form_text(form, "email"),
                    password=form_text(form, "password"),
                    display_name=form_text(form, "name"),
                    ip=client_ip(self),
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.sent = registration.sent_notice(address)


class ConfirmRegistrationState(rx.State):
    error: str = ""
    done: bool = False
    login_url: str = LOGIN_PAGE  # the login page, the new account's address filled in

    @rx.event
    def load(self) -> None:
        self.error, self.done, self.login_url = "", False, LOGIN_PAGE

    @rx.event
    async def confirm(self) -> None:
        self.error = ""
        try:
            async with session_scope() as session:
                user = await registration.confirm_registration(
                    session=session,
                    token=self.router.url.query_parameters.get("token", ""),
                    ip=client_ip(self),
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.done = True
        self.login_url = f"{LOGIN_PAGE}?{urlencode({'email': user.email})}"


class AcceptInviteState(rx.State):
    """The page of an invitation's link: its address (fixed), a name and a password; the
    new account is then logged in."""

    email: str = ""
    role: str = ""
    error: str = ""

    def _token(self) -> str:
        return self.router.url.query_parameters.get("token", "")

    @rx.event
    async def load(self) -> None:
        self.email, self.role, self.error = "", "", ""
        try:
            async with session_scope() as session:
                invitation = await invites.open_invitation(session=session, token=self._token())
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.email, self.role = invitation.email, invitation.role

    @rx.event
    async def submit(self, form: dict[str, str]) -> EventSpec | None:
        self.error = ""
        if form_text(form, "password") != form_text(form, "password2"):
            self.error = "The two passwords differ."
            return None
        try:
            async with session_scope() as session:
                result = await invites.accept(
                    session=session,
                    token=self._token(),
                    display_name=form_text(form, "name"),
                    password=form_text(form, "password"),
                    ip=client_ip(self),
                    user_agent=self.router.headers.user_agent,
                    previous_token=session_token(self),
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return None
        assert result.user.id is not None
        ticket = await tickets.issue(get_redis(), token=result.token, user_id=result.user.id)
        return post_navigation(START, {"ticket": ticket, "next": "/"})


class LogoutState(rx.State):
    @rx.event
    async def logout(self) -> EventSpec:
        async with session_scope() as session:
            await auth.logout(session=session, token=session_token(self))
            await session.commit()
        (await self.get_state(SessionState))._show(None)
        # The page's own session is over; the route also clears the cookie.
        return post_navigation(END, {"next": "/"})


class ForgotState(rx.State):
    sent: bool = False
    error: str = ""

    @rx.event
    def load(self) -> None:
        self.sent, self.error = False, ""

    @rx.event
    async def submit(self, form: dict[str, str]) -> None:
        self.error = ""
        try:
            async with session_scope() as session:
                await reset.request_password_reset(
                    session=session,
                    redis=get_redis(),
                    email=form_text(form, "email"),
                    ip=client_ip(self),
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return
        # The same answer whether or not the account exists.
        self.sent = True


class ResetState(rx.State):
    error: str = ""
    done: bool = False

    @rx.event
    def load(self) -> None:
        self.done, self.error = False, ""

    @rx.event
    async def submit(self, form: dict[str, str]) -> None:
        self.error = ""
        if form_text(form, "password") != form_text(form, "password2"):
            self.error = "The two passwords differ."
            return
        token = self.router.url.query_parameters.get("token", "")
        try:
            async with session_scope() as session:
                await reset.reset_password(
                    session=session,
                    token=token,
                    new_password=form_text(form, "password"),
                    ip=client_ip(self),
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.done = True
