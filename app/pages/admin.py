import reflex as rx

from components.common import error_callout, not_found, notice_callout
from state.admin import UsersState
from state.session import SessionState


def _user_row(u: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(u["email"]),
        rx.table.cell(u["name"]),
        rx.table.cell(
            rx.select.root(
                rx.select.trigger(aria_label="Role of " + u["email"].to(str)),
                rx.select.content(
                    *(rx.select.item(role, value=role) for role in ("admin", "librarian", "patron"))
                ),
                value=u["role"].to(str),
                on_change=lambda role: UsersState.set_role(u["id"].to(int), role),
            )
        ),
        rx.table.cell(
            rx.cond(
                u["active"],
                rx.button(
                    "Disable",
                    size="1",
                    variant="outline",
                    color_scheme="red",
                    on_click=UsersState.set_active(u["id"].to(int), False),
                ),
                rx.button(
                    "Enable",
                    size="1",
                    variant="outline",
                    on_click=UsersState.set_active(u["id"].to(int), True),
                ),
            )
        ),
        rx.table.cell(
            rx.cond(
                u["two_factor"],
                rx.hstack(
                    rx.badge("on", color_scheme="green"),
                    rx.button(
                        "Reset",
                        size="1",
                        variant="outline",
                        color_scheme="red",
                        aria_label="Reset the second factor of " + u["email"].to(str),
                        on_click=UsersState.reset_second_factor(u["id"].to(int)),
                    ),
                    align="center",
                ),
                rx.badge("off", color_scheme="gray"),
            )
        ),
        rx.table.cell(u["created"]),
        rx.table.cell(
            rx.hstack(
                rx.text(u["last_login"], size="2"),
                rx.cond(  # (one's own: the account page ends one's other sessions)
                    u["id"].to(int) != SessionState.user_id,
                    rx.button(
                        "Log out",
                        size="1",
                        variant="ghost",
                        aria_label="End every session of " + u["email"].to(str),
                        on_click=UsersState.end_sessions(u["id"].to(int)),
                    ),
                ),
                align="center",
            )
        ),
    )


def _finder() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="search",
                placeholder="Name or e-mail",
                title="Three letters or more search inside names and e-mails; "
                "one or two, the start of an e-mail.",
                default_value=UsersState.search,
                aria_label="Search accounts",
                id="user-search",
            ),
            rx.el.select(
                rx.el.option("Any role", value=""),
                *(rx.el.option(r.capitalize(), value=r) for r in ("admin", "librarian", "patron")),
                name="role",
                aria_label="Role",
                default_value=UsersState.role_filter,
            ),
            rx.el.select(
                rx.el.option("Any status", value=""),
                rx.el.option("Active", value="active"),
                rx.el.option("Disabled", value="disabled"),
                name="status",
                aria_label="Status",
                default_value=UsersState.status_filter,
            ),
            rx.button("Find", type="submit", variant="outline"),
            align="center",
            wrap="wrap",
        ),
        on_submit=UsersState.find,
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.button(
            "← Previous",
            variant="soft",
            disabled=UsersState.earlier.length() == 0,
            on_click=UsersState.previous_page,
        ),
        rx.button(
            "Next →",
            variant="soft",
            disabled=UsersState.next_after == "",
            on_click=UsersState.next_page,
        ),
        spacing="3",
    )


def _inviter() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="email",
                type="email",
                placeholder="name@example.org",
                aria_label="Address to invite",
                id="invite-email",
                required=True,
                min_width="16em",
            ),
            rx.el.select(
                rx.el.option("Librarian", value="librarian"),
                rx.el.option("Admin", value="admin"),
                name="role",
                aria_label="Invite as",
                default_value="librarian",
            ),
            rx.button("Invite", type="submit", id="invite-submit"),
            align="center",
            wrap="wrap",
        ),
        on_submit=UsersState.invite,
        reset_on_submit=False,
    )


def _invitation_row(i: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(i["email"]),
        rx.table.cell(i["role"]),
        rx.table.cell(i["invited_by"]),
        rx.table.cell(i["sent"]),
        rx.table.cell(
            rx.cond(i["expired"], rx.badge("expired", color_scheme="amber"), rx.text(i["expires"]))
        ),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    "Resend",
                    size="1",
                    variant="outline",
                    aria_label="Send the invitation of " + i["email"].to(str) + " again",
                    on_click=UsersState.resend_invitation(i["id"].to(int)),
                ),
                rx.button(
                    "Revoke",
                    size="1",
                    variant="outline",
                    color_scheme="red",
                    aria_label="Revoke the invitation of " + i["email"].to(str),
                    on_click=UsersState.revoke_invitation(i["id"].to(int)),
                ),
            )
        ),
        class_name="invitation-row",
    )


def _invitations() -> rx.Component:
    return rx.vstack(
        rx.heading("Invitations", size="4", as_="h2"),
        rx.text(
            "Invite a librarian or an admin by e-mail: the mailed link lets them choose "
            "their name and password, once, until it expires. To give an existing account "
            "another role, change its role above.",
            size="2",
            color_scheme="gray",
        ),
        _inviter(),
        rx.cond(
            UsersState.invitations.length() > 0,
            _table(
                ("Email", "Role", "Invited by", "Sent", "Expires", ""),
                UsersState.invitations,
                _invitation_row,
                id="invitations",
            ),
            rx.text("No invitation is waiting.", size="2", id="no-invitations"),
        ),
        spacing="3",
        width="100%",
    )


def _event_row(e: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(e["at"]),
        rx.table.cell(e["actor"]),
        rx.table.cell(e["action"]),
        rx.table.cell(e["subject"]),
        rx.table.cell(e["detail"]),
        rx.table.cell(e["ip"]),
        class_name="audit-row",
    )


def _table(headers: tuple[str, ...], rows: rx.Var, row: object, **props: object) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in headers))),
        rx.table.body(rx.foreach(rows, row)),  # type: ignore[arg-type]
        width="100%",
        **props,
    )


def users() -> rx.Component:
    # Anyone but an admin finds no page here (as on every admin page).
    return rx.cond(UsersState.denied, not_found("There is no page at this address."), _users())


def _users() -> rx.Component:
    return rx.vstack(
        rx.heading("Users", size="7", as_="h1"),
        error_callout(UsersState.error),
        notice_callout(UsersState.notice),
        rx.cond(
            ~UsersState.denied,
            rx.vstack(
                rx.cond(
                    UsersState.needs_second_factor,
                    rx.callout(
                        "Set up two-factor authentication on your account page before "
                        "changing roles, access or second factors, or inviting staff.",
                        icon="shield_alert",
                        color_scheme="amber",
                        width="100%",
                    ),
                ),
                _finder(),
                _table(
                    ("Email", "Name", "Role", "Access", "2FA", "Since", "Last login"),
                    UsersState.users,
                    _user_row,
                ),
                _pager(),
                _invitations(),
                rx.heading("Account log", size="4", as_="h2"),
                _table(
                    ("When", "Who", "What", "Whom", "Detail", "From"),
                    UsersState.events,
                    _event_row,
                    id="account-log",
                ),
                spacing="4",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )
