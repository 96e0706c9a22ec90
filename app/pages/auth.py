import reflex as rx

from app import routes
from components.common import error_callout, form_field, narrow_card, notice_callout
from state.auth import ForgotState, LoginState, RegisterState, ResetState


def login() -> rx.Component:
    return narrow_card(
        rx.heading("Log in", size="6"),
        error_callout(LoginState.error),
        rx.form(
            rx.vstack(
                form_field("Email", "email", "email", auto_complete="username", required=True),
                form_field(
                    "Password",
                    "password",
                    "password",
                    auto_complete="current-password",
                    required=True,
                ),
                rx.button("Log in", type="submit", size="3", width="100%", id="login-submit"),
                spacing="3",
            ),
            on_submit=LoginState.submit,
            reset_on_submit=False,
        ),
        rx.hstack(
            rx.link("Forgot your password?", href=routes.FORGOT),
            rx.spacer(),
            rx.link("Create an account", href=routes.REGISTER),
            width="100%",
        ),
    )


def register() -> rx.Component:
    return narrow_card(
        rx.heading("Create an account", size="6"),
        error_callout(RegisterState.error),
        rx.form(
            rx.vstack(
                form_field("Name", "name", auto_complete="name"),
                form_field("Email", "email", "email", auto_complete="email", required=True),
                form_field(
                    "Password (8 characters or more)",
                    "password",
                    "password",
                    auto_complete="new-password",
                    required=True,
                ),
                form_field(
                    "Repeat the password",
                    "password2",
                    "password",
                    auto_complete="new-password",
                    required=True,
                ),
                rx.button("Create account", type="submit", size="3", width="100%"),
                spacing="3",
            ),
            on_submit=RegisterState.submit,
        ),
        rx.link("Already registered? Log in", href=routes.LOGIN),
    )


def forgot() -> rx.Component:
    return narrow_card(
        rx.heading("Reset your password", size="6"),
        rx.cond(
            ForgotState.sent,
            notice_callout(
                "If an account has that address, a reset link is on its way. "
                "It works once and expires soon."
            ),
            rx.form(
                rx.vstack(
                    form_field("Email", "email", "email", required=True),
                    rx.button("Send the reset link", type="submit", size="3", width="100%"),
                    spacing="3",
                ),
                on_submit=ForgotState.submit,
            ),
        ),
        rx.link("Back to log in", href=routes.LOGIN),
    )


def reset() -> rx.Component:
    return narrow_card(
        rx.heading("Choose a new password", size="6"),
        error_callout(ResetState.error),
        rx.cond(
            ResetState.done,
            rx.vstack(
                notice_callout("Your password is changed. Every other session was logged out."),
                rx.link("Log in", href=routes.LOGIN),
            ),
            rx.form(
                rx.vstack(
                    form_field(
                        "New password",
                        "password",
                        "password",
                        auto_complete="new-password",
                        required=True,
                    ),
                    form_field(
                        "Repeat it",
                        "password2",
                        "password",
                        auto_complete="new-password",
                        required=True,
                    ),
                    rx.button("Set the password", type="submit", size="3", width="100%"),
                    spacing="3",
                ),
                on_submit=ResetState.submit,
            ),
        ),
    )
