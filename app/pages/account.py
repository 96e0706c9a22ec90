import reflex as rx

from components.common import button_link, error_callout, form_field, notice_callout
from state.account import AccountState, EmailConfirmState
from state.saved import SavedSearchesState
from state.session import SessionState


def _session_row(s: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(s["agent"], title=s["agent_raw"]), class_name="session-agent"),
        rx.table.cell(s["ip"]),
        rx.table.cell(s["last_seen"]),
        rx.table.cell(
            rx.cond(
                s["current"],
                rx.badge("this browser"),
                rx.button(
                    "End",
                    size="1",
                    variant="outline",
                    on_click=AccountState.revoke(s["id"].to(int)),
                ),
            )
        ),
    )


def _sessions() -> rx.Component:
    return rx.vstack(
        rx.heading("Open sessions", size="4", as_="h2"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(rx.table.column_header_cell(h) for h in ("Browser", "Address", "Last seen")),
                    rx.table.column_header_cell(rx.el.span("End", class_name="sr-only")),
                )
            ),
            rx.table.body(rx.foreach(AccountState.sessions, _session_row)),
            width="100%",
        ),
        width="100%",
    )


def _password_form() -> rx.Component:
    return rx.vstack(
        rx.heading("Change your password", size="4", as_="h2"),
        error_callout(AccountState.password_error),
        rx.form(
            rx.vstack(
                form_field(
                    "Current password",
                    "current_password",
                    "password",
                    auto_complete="current-password",
                    required=True,
                ),
                form_field(
                    "New password",
                    "new_password",
                    "password",
                    auto_complete="new-password",
                    required=True,
                ),
                form_field(
                    "Repeat the new password",
                    "new_password2",
                    "password",
                    auto_complete="new-password",
                    required=True,
                ),
                rx.button("Change the password", type="submit", id="change-password"),
                spacing="3",
                max_width="420px",
                width="100%",
            ),
            on_submit=AccountState.change_password,
            reset_on_submit=True,
        ),
        width="100%",
    )


def _email_form() -> rx.Component:
    return rx.vstack(
        rx.heading("Change your address", size="4", as_="h2"),
        error_callout(AccountState.email_error),
        rx.form(
            rx.vstack(
                form_field("New address", "email", "email", auto_complete="email", required=True),
                form_field(
                    "Your password",
                    "password",
                    "password",
                    auto_complete="current-password",
                    required=True,
                ),
                rx.button("Send the confirmation link", type="submit", id="change-email"),
                spacing="3",
                max_width="420px",
                width="100%",
            ),
            on_submit=AccountState.change_email,
            reset_on_submit=True,
        ),
        width="100%",
    )


def _code_form(label: str, handler: rx.EventHandler, button_id: str) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="code",
                placeholder="123456",
                auto_complete="one-time-code",
                aria_label="Code",
                required=True,
                width="12em",
            ),
            rx.button(label, type="submit", id=button_id),
            align="center",
        ),
        on_submit=handler,
        reset_on_submit=True,
    )


def _setting_up() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Scan this code with an authenticator app (or type the secret into it), then "
            "enter the 6-digit code it shows. Nothing changes until you do."
        ),
        rx.image(src=AccountState.totp_qr, alt="QR code of the secret", width="200px"),
        rx.text("Secret: ", rx.code(AccountState.totp_secret, id="totp-secret")),
        _code_form("Turn on", AccountState.confirm_totp, "confirm-totp"),
        width="100%",
    )


def _recovery_codes() -> rx.Component:
    return rx.cond(
        AccountState.recovery_codes.length() > 0,
        rx.card(
            rx.vstack(
                rx.text(
                    "Recovery codes: each works once, if your authenticator is lost. "
                    "They are shown only now; print them or keep them in a password manager.",
                    weight="medium",
                ),
                rx.el.ul(
                    rx.foreach(AccountState.recovery_codes, lambda c: rx.el.li(rx.code(c))),
                    id="recovery-codes",
                ),
            ),
            width="100%",
        ),
    )


def _two_factor() -> rx.Component:
    return rx.vstack(
        rx.heading("Two-factor authentication", size="4", as_="h2"),
        error_callout(AccountState.totp_error),
        _recovery_codes(),
        rx.cond(
            AccountState.totp_enabled,
            rx.vstack(
                rx.text(
                    "On: logging in asks for a code of your authenticator app. ",
                    AccountState.recovery_left.to_string(),
                    " recovery codes left.",
                    id="totp-status",
                ),
                rx.text("New recovery codes (with a current code):", size="2"),
                _code_form("Make new recovery codes", AccountState.renew_codes, "renew-codes"),
                rx.text("Turn it off (with a current code):", size="2"),
                _code_form("Turn off", AccountState.disable_totp, "disable-totp"),
            ),
            rx.cond(
                AccountState.totp_secret != "",
                _setting_up(),
                rx.vstack(
                    rx.text(
                        "Off. Staff accounts should turn it on; admins need it to change "
                        "other accounts."
                    ),
                    rx.button(
                        "Set up",
                        on_click=AccountState.start_totp,
                        id="start-totp",
                        aria_expanded="false",  # it unfolds the setup's steps
                    ),
                ),
            ),
        ),
        width="100%",
    )


def _usage_report() -> rx.Component:
    return rx.cond(
        AccountState.may_get_report,
        rx.vstack(
            rx.heading("Monthly usage report", size="4", as_="h2"),
            rx.el.label(
                rx.hstack(
                    rx.checkbox(
                        checked=AccountState.usage_report,
                        on_change=AccountState.set_usage_report,
                        id="usage-report-opt-in",
                        aria_label="E-mail me the monthly usage report",
                    ),
                    rx.text("E-mail me the monthly usage report"),
                    align="center",
                    spacing="2",
                )
            ),
            rx.text(
                "On the 1st of each month, a link to last month's report (a printable page "
                "and a CSV); every report is also listed on the analytics page.",
                size="2",
                color_scheme="gray",
            ),
            width="100%",
        ),
    )


def _token_row(t: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(t["name"]),
        rx.table.cell(t["scopes"]),
        rx.table.cell(t["created"]),
        rx.table.cell(t["last_used"]),
        rx.table.cell(t["expires"]),
        rx.table.cell(
            rx.button(
                "Revoke",
                size="1",
                variant="outline",
                color_scheme="red",
                aria_label="Revoke token " + t["name"].to(str),
                on_click=AccountState.revoke_token(t["id"].to(int)),
            )
        ),
    )


def _scope_box(scope: str, hint: str, checked: bool = False) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.el.input(
                type="checkbox",
                name=f"scope_{scope}",
                id=f"scope-{scope}",
                default_checked=checked,
            ),
            rx.text(rx.text.strong(scope), " · ", hint, size="2"),
            align="center",
            spacing="2",
        )
    )


def _saved_row(s: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.link(s["name"], href=s["url"], weight="medium"),
                rx.text(s["what"], size="1", color_scheme="gray"),
                rx.el.details(
                    rx.el.summary("Rename"),
                    rx.form(
                        rx.hstack(
                            rx.el.input(type="hidden", name="id", value=s["id"].to(str)),
                            rx.input(
                                name="name",
                                default_value=s["name"].to(str),
                                max_length=200,
                                required=True,
                                size="1",
                                aria_label="New name of " + s["name"].to(str),
                            ),
                            rx.button("Rename", size="1", variant="outline", type="submit"),
                            spacing="2",
                            align="center",
                        ),
                        on_submit=SavedSearchesState.rename,
                        reset_on_submit=False,
                    ),
                    class_name="saved-rename",
                ),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.el.label(
                rx.hstack(
                    rx.checkbox(
                        checked=s["alert"].to(bool),
                        on_change=lambda on: SavedSearchesState.set_alert(s["id"].to(int), on),
                        aria_label="E-mail me new matches of " + s["name"].to(str),
                    ),
                    rx.text("daily", size="2"),
                    align="center",
                    spacing="2",
                )
            ),
            rx.text(s["told"], size="1", color_scheme="gray"),
        ),
        rx.table.cell(
            rx.hstack(
                rx.link(
                    rx.hstack(rx.icon("rss", size=14), "Atom", spacing="1", align="center"),
                    href=s["feed"],
                    is_external=True,
                    aria_label="Atom feed of " + s["name"].to(str),
                    class_name="saved-feed",
                ),
                rx.button(
                    "New address",
                    size="1",
                    variant="ghost",
                    title="The old feed address stops working",
                    on_click=SavedSearchesState.new_feed(s["id"].to(int)),
                ),
                align="center",
                spacing="3",
                wrap="wrap",
            )
        ),
        rx.table.cell(
            rx.button(
                "Delete",
                size="1",
                variant="outline",
                color_scheme="red",
                aria_label="Delete the saved search " + s["name"].to(str),
                on_click=SavedSearchesState.remove(s["id"].to(int)),
            )
        ),
        class_name="saved-search",
    )


def _saved_searches() -> rx.Component:
    return rx.vstack(
        rx.heading("Saved searches", size="4", as_="h2"),
        error_callout(SavedSearchesState.error),
        notice_callout(SavedSearchesState.notice),
        rx.cond(
            SavedSearchesState.rows.length() > 0,  # type: ignore[attr-defined]
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(rx.table.column_header_cell(h) for h in ("Search", "E-mail", "Feed")),
                        rx.table.column_header_cell(rx.el.span("Delete", class_name="sr-only")),
                    )
                ),
                rx.table.body(rx.foreach(SavedSearchesState.rows, _saved_row)),
                width="100%",
                id="saved-searches",
            ),
            rx.text(
                "None yet. On the search page, “Save search” keeps a search: new documents "
                "that match it are e-mailed to you once a day, and it has a feed for your "
                "feed reader.",
                size="2",
                color_scheme="gray",
                id="no-saved-searches",
            ),
        ),
        width="100%",
    )


def _api_tokens() -> rx.Component:
    return rx.vstack(
        rx.heading("API tokens", size="4", as_="h2"),
        rx.text(
            "For programs that use the library's API (/api/v1) for you: each acts as you, "
            "within its scopes, until you revoke it or it expires. Changing your password "
            "revokes them all.",
            size="2",
            color_scheme="gray",
        ),
        error_callout(AccountState.token_error),
        rx.cond(
            AccountState.new_token_secret != "",
            rx.callout(
                rx.vstack(
                    rx.text("Copy the new token now: it is not shown again."),
                    rx.code(AccountState.new_token_secret, id="new-token-secret"),
                    spacing="1",
                ),
                icon="key",
                color_scheme="green",
                role="status",
                width="100%",
            ),
        ),
        rx.form(
            rx.vstack(
                form_field("Name (what will use it)", "token_name", max_length=100),
                rx.el.fieldset(
                    rx.el.legend("Scopes", font_weight="500", font_size="0.9em"),
                    _scope_box("read", "search, read records, download, analytics", checked=True),
                    _scope_box("write", "upload, edit, delete what you may"),
                    rx.cond(
                        AccountState.may_admin_scope,
                        _scope_box("admin", "accounts: list, roles, deactivate"),
                    ),
                ),
                rx.vstack(
                    rx.el.label("Expires", html_for="days", font_weight="500", font_size="0.9em"),
                    rx.el.select(
                        rx.el.option("in 30 days", value="30"),
                        rx.el.option("in 90 days", value="90"),
                        rx.el.option("in a year", value="365"),
                        rx.el.option("never (until revoked)", value="0"),
                        name="days",
                        id="days",
                        default_value="90",
                    ),
                    spacing="1",
                ),
                rx.button("Make a token", type="submit", id="make-token"),
                spacing="3",
                width="100%",
            ),
            on_submit=AccountState.create_token,
            reset_on_submit=True,
            width="100%",
        ),
        rx.cond(
            AccountState.api_tokens.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(h)
                            for h in ("Name", "Scopes", "Made", "Last used", "Expires")
                        ),
                        rx.table.column_header_cell(rx.el.span("Actions", class_name="sr-only")),
                    )
                ),
                rx.table.body(rx.foreach(AccountState.api_tokens, _token_row)),
                width="100%",
                id="api-tokens",
            ),
        ),
        width="100%",
    )


def account() -> rx.Component:
    return rx.vstack(
        rx.heading("Your account", size="7", as_="h1"),
        rx.cond(
            SessionState.logged_in,
            rx.vstack(
                error_callout(AccountState.error),
                notice_callout(AccountState.notice),
                rx.text(
                    SessionState.user_email, " · ", SessionState.user_role, id="account-identity"
                ),
                _two_factor(),
                _saved_searches(),
                _usage_report(),
                _password_form(),
                _email_form(),
                _sessions(),
                _api_tokens(),
                spacing="6",
                width="100%",
            ),
            rx.hstack(
                rx.text("Log in to see your account."),
                button_link("Log in", "/login?next=/account", size="2"),
                align="center",
                spacing="3",
            ),
        ),
        spacing="6",
        width="100%",
    )


def confirm_email() -> rx.Component:
    return rx.vstack(
        rx.heading("Confirm your new address", size="6", as_="h1"),
        error_callout(EmailConfirmState.error),
        rx.cond(
            EmailConfirmState.done != "",
            notice_callout(EmailConfirmState.done),
            rx.button("Use this address", on_click=EmailConfirmState.confirm, id="confirm-email"),
        ),
        spacing="4",
        width="100%",
    )
