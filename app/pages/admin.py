import reflex as rx

from components.common import error_callout
from state.admin import UsersState


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
        rx.table.cell(u["created"]),
    )


def users() -> rx.Component:
    return rx.vstack(
        rx.heading("Users", size="7"),
        error_callout(UsersState.error),
        rx.cond(
            ~UsersState.denied,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(h)
                            for h in ("Email", "Name", "Role", "Access", "Since")
                        )
                    )
                ),
                rx.table.body(rx.foreach(UsersState.users, _user_row)),
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )
