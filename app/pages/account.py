import reflex as rx

from components.common import error_callout
from state.account import AccountState
from state.session import SessionState


def _session_row(s: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(s["agent"]),
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


def account() -> rx.Component:
    return rx.vstack(
        rx.heading("Your account", size="7"),
        error_callout(AccountState.error),
        rx.text(SessionState.user_email, " · ", SessionState.user_role),
        rx.heading("Open sessions", size="4"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(
                        rx.table.column_header_cell(h)
                        for h in ("Browser", "Address", "Last seen", "")
                    )
                )
            ),
            rx.table.body(rx.foreach(AccountState.sessions, _session_row)),
            width="100%",
        ),
        spacing="4",
        width="100%",
    )
