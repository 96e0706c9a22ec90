"""Login, registration, logout and password reset pages."""

import reflex as rx

from backend import queue
from backend.auth import service as auth
from backend.db import session_scope
from backend.errors import LibraryError
from backend.redis_client import get_redis
from backend.users import service as users
from state.session import SessionState


def _client_ip(state: rx.State) -> str:
    # Reflex resolves X-Forwarded-For only through `trusted_proxy_hops`, so it cannot be spoofed.
    return state.router.session.client_ip


class LoginState(rx.State):
    error: str = ""

    @rx.event
    def load(self) -> None:
        self.error = ""

    @rx.event
    async def submit(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        self.error = ""
        session_state = await self.get_state(SessionState)
        try:
            async with session_scope() as session:
                result = await auth.login(
                    session=session,
                    redis=get_redis(),
                    email=form.get("email", ""),
                    password=form.get("password", ""),
                    ip=_client_ip(self),
                    user_agent=self.router.headers.user_agent,
                    previous_token=session_state.token,
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return None
        session_state.token = result.token
        session_state._show(result.user)
        target = self.router.url.query_parameters.get("next", "/")
        return rx.redirect(
            target if target.startswith("/") and not target.startswith("//") else "/"
        )


class RegisterState(rx.State):
    error: str = ""

    @rx.event
    def load(self) -> None:
        self.error = ""

    @rx.event
    async def submit(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        self.error = ""
        if form.get("password", "") != form.get("password2", ""):
            self.error = "The two passwords differ."
            return None
        try:
            async with session_scope() as session:
                await users.register(
                    session=session,
                    email=form.get("email", ""),
                    password=form.get("password", ""),
                    display_name=form.get("name", ""),
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return None
        return [
            rx.toast.success("Your account is ready. Please log in."),
            rx.redirect("/login"),
        ]


class LogoutState(rx.State):
    @rx.event
    async def logout(self) -> rx.event.EventSpec:
        session_state = await self.get_state(SessionState)
        async with session_scope() as session:
            await auth.logout(session=session, token=session_state.token)
            await session.commit()
        session_state.token = ""
        session_state._show(None)
        return rx.redirect("/")


class ForgotState(rx.State):
    sent: bool = False
    error: str = ""

    @rx.event
    def load(self) -> None:
        self.sent, self.error = False, ""

    @rx.event
    async def submit(self, form: dict[str, str]) -> None:
        async with session_scope() as session:
            message_id = await auth.request_password_reset(
                session=session, email=form.get("email", "")
            )
            if message_id is not None:
                queue.defer(session, "send_mail", message_id, job_id=f"mail:{message_id}")
            await session.commit()
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
        if form.get("password", "") != form.get("password2", ""):
            self.error = "The two passwords differ."
            return
        token = self.router.url.query_parameters.get("token", "")
        try:
            async with session_scope() as session:
                await auth.reset_password(
                    session=session, token=token, new_password=form.get("password", "")
                )
                await session.commit()
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.done = True
