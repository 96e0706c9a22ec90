"""/admin/audit: the library-wide audit log, filtered by actor, action, day and object."""

import reflex as rx

from components.common import error_callout, not_found
from state.audit import AuditState


def _filters() -> rx.Component:
    f = AuditState.filters
    return rx.form(
        rx.flex(
            rx.input(
                name="actor",
                placeholder="Who (e-mail or name)",
                default_value=f.get("actor", ""),
                aria_label="Who did it",
                id="audit-actor",
            ),
            rx.el.select(
                rx.el.option("Any action", value=""),
                rx.foreach(
                    AuditState.action_choices,
                    lambda c: rx.el.option(c[1], value=c[0]),
                ),
                name="action",
                aria_label="Action",
                default_value=f.get("action", ""),
                id="audit-action",
            ),
            rx.input(
                name="from",
                type="date",
                default_value=f.get("from", ""),
                aria_label="From day",
                id="audit-from",
            ),
            rx.input(
                name="to",
                type="date",
                default_value=f.get("to", ""),
                aria_label="To day",
                id="audit-to",
            ),
            rx.input(
                name="object",
                placeholder="What (a title, or document 12)",
                title="A part of a title, a collection's name or an e-mail; or 'document 12', "
                "'collection 3', 'account 7'.",
                default_value=f.get("object", ""),
                aria_label="What it was about",
                id="audit-object",
            ),
            rx.button("Filter", type="submit", variant="outline"),
            rx.link("Clear", href="/admin/audit", size="2"),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        on_submit=AuditState.find,
        # Drawn again when the filters change, so its fields show them.
        key=AuditState.filters.to_string(),  # type: ignore[attr-defined]
    )


def _row(e: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(e["at"], size="1", white_space="nowrap")),
        rx.table.cell(e["actor"]),
        rx.table.cell(e["action"]),
        rx.table.cell(
            rx.cond(
                e["href"] != "",
                rx.link(e["object"], href=e["href"]),
                rx.text(e["object"]),
            ),
            rx.text(e["object_ref"], size="1", color_scheme="gray"),
        ),
        rx.table.cell(rx.text(e["detail"], size="1")),
        rx.table.cell(rx.text(e["ip"], size="1")),
    )


def _log() -> rx.Component:
    return rx.vstack(
        rx.heading("Audit log", size="7", as_="h1"),
        rx.text(
            "Every change staff made to collections, documents and accounts, and every "
            "staff login, newest first.",
            size="2",
            color_scheme="gray",
        ),
        _filters(),
        error_callout(AuditState.error),
        rx.cond(
            AuditState.entries.length() > 0,  # type: ignore[attr-defined]
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(h)
                            for h in ("When", "Who", "What", "About", "Detail", "From")
                        )
                    )
                ),
                rx.table.body(rx.foreach(AuditState.entries, _row)),
                size="1",
                width="100%",
                id="audit-log",
            ),
            rx.text("Nothing matches.", id="audit-empty"),
        ),
        rx.hstack(
            rx.button(
                "← Newer",
                variant="soft",
                disabled=AuditState.earlier.length() == 0,  # type: ignore[attr-defined]
                on_click=AuditState.previous_page,
            ),
            rx.button(
                "Older →",
                variant="soft",
                disabled=AuditState.next_cursor == "",
                on_click=AuditState.next_page,
            ),
            spacing="3",
        ),
        spacing="4",
        width="100%",
    )


def audit() -> rx.Component:
    return rx.cond(AuditState.not_found, not_found("There is no page at this address."), _log())
