import reflex as rx

from app import routes
from components.common import error_callout, form_field, narrow_card, notice_callout
from state.auth import (
    AcceptInviteState,
    ConfirmRegistrationState,
    ForgotState,
    LoginState,
    RegisterState,
    ResetState,
)


def _password_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            form_field(
                "Email",
                "email",
                "email",
                auto_complete="username",
                required=True,
                # Filled in when the page is opened from a finished registration.
                default_value=LoginState.email,
                key="email-" + LoginState.email,
            ),
            form_field(
                "Password",
                "password",
                "password",
                auto_complete="current-password",
                required=True,
                auto_focus=LoginState.email != "",
            ),
            rx.button(
                rx.cond(LoginState.busy, "Logging in…", "Log in"),
                type="submit",
                size="3",
                width="100%",
                id="login-submit",
                disabled=LoginState.busy,
                aria_busy=LoginState.busy,
            ),
            spacing="3",
        ),
        on_submit=LoginState.submit,
        reset_on_submit=False,
    )


def _code_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text(
                "Enter the 6-digit code of your authenticator app, or one of your recovery codes."
            ),
            form_field(
                "Code",
                "code",
                auto_complete="one-time-code",
                input_mode="numeric",
                required=True,
                auto_focus=True,
            ),
            rx.button("Continue", type="submit", size="3", width="100%", id="code-submit"),
            spacing="3",
        ),
        on_submit=LoginState.submit_code,
        reset_on_submit=True,
    )


def login() -> rx.Component:
    return narrow_card(
        rx.heading("Log in", size="6", as_="h1"),
        error_callout(LoginState.error),
        rx.cond(LoginState.needs_code, _code_step(), _password_step()),
        rx.hstack(
            rx.link("Forgot your password?", href=routes.FORGOT),
            rx.spacer(),
            rx.link("Create an account", href=routes.REGISTER),
            width="100%",
        ),
    )


def register() -> rx.Component:
    return narrow_card(
        rx.heading("Create an account", size="6", as_="h1"),
        error_callout(RegisterState.error),
        rx.cond(
            RegisterState.sent != "",
            rx.box(notice_callout(RegisterState.sent), id="register-sent", width="100%"),
            rx.form(
                rx.vstack(
                    form_field("Name", "name", auto_complete="name"),
                    form_field("Email", "email", "email", auto_complete="email", required=True),
                    form_field(
                        "Password (8 characters or more; a few words make a good one)",
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
                reset_on_submit=False,
            ),
        ),
        rx.link("Already registered? Log in", href=routes.LOGIN),
    )


def confirm_registration() -> rx.Component:
    return narrow_card(
        rx.heading("Finish your registration", size="6", as_="h1"),
        error_callout(ConfirmRegistrationState.error),
        rx.cond(
            ConfirmRegistrationState.done,
            rx.vstack(
                notice_callout("Your account is ready."),
                rx.link("Log in", href=ConfirmRegistrationState.login_url, id="log-in-now"),
            ),
            rx.button(
                "Create my account",
                size="3",
                width="100%",
                on_click=ConfirmRegistrationState.confirm,
                id="confirm-registration",
            ),
        ),
    )


def accept_invite() -> rx.Component:
    return narrow_card(
        rx.heading("Join the library's staff", size="6", as_="h1"),
        error_callout(AcceptInviteState.error),
        rx.cond(
            AcceptInviteState.email != "",
            rx.form(
                rx.vstack(
                    rx.text(
                        "You are invited as ",
                        rx.text.strong(AcceptInviteState.role),
                        ". Choose the name colleagues and readers will see, and your password.",
                    ),
                    form_field(
                        "Email",
                        "email",
                        "email",
                        value=AcceptInviteState.email,
                        read_only=True,
                        auto_complete="username",
                    ),
                    form_field("Name", "name", auto_complete="name", required=True),
                    form_field(
                        "Password (8 characters or more; a few words make a good one)",
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
                    rx.button(
                        "Create my account",
                        type="submit",
                        size="3",
                        width="100%",
                        id="accept-invite",
                    ),
                    spacing="3",
                ),
                on_submit=AcceptInviteState.submit,
                reset_on_submit=False,
            ),
        ),
        rx.link("Already have an account? Log in", href=routes.LOGIN),
    )


def forgot() -> rx.Component:
    return narrow_card(
        rx.heading("Reset your password", size="6", as_="h1"),
        error_callout(ForgotState.error),
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
        rx.heading("Choose a new password", size="6", as_="h1"),
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
