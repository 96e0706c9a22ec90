from typing import Any

import reflex as rx

from app.pages.collection_import import import_panel
from components.common import error_callout, form_field, not_found, notice_callout, status_badge
from components.dropzone import drop_zone
from state.browse import TABS
from state.collection_admin import COVER_UPLOAD_ID, CollectionAdminState
from state.collections import ACCEPTED_FORMATS, UPLOAD_ID, CollectionsState, CollectionState
from state.session import SessionState


def _row(c: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(c["name"], href="/collections/" + c["slug"].to(str))),
        rx.table.cell(
            rx.cond(c["is_public"], rx.badge("public"), rx.badge("private", color_scheme="orange"))
        ),
        rx.table.cell(c["document_count"].to_string()),
    )


def _create_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("New collection", size="4", as_="h2"),
                error_callout(CollectionsState.error),
                form_field("Name", "name", required=True),
                form_field("Description", "description"),
                rx.radio_group(
                    ["public", "private"],
                    name="visibility",
                    default_value="public",
                    direction="row",
                ),
                rx.button("Create collection", type="submit"),
                spacing="3",
            ),
            on_submit=CollectionsState.create,
        ),
        width="100%",
    )


def collections() -> rx.Component:
    return rx.vstack(
        rx.heading("Collections", size="7", as_="h1"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Access"),
                    rx.table.column_header_cell("Documents"),
                )
            ),
            rx.table.body(rx.foreach(CollectionsState.items, _row)),
            width="100%",
        ),
        rx.cond(SessionState.is_staff, _create_form()),
        spacing="4",
        width="100%",
    )


def _document_row(d: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(d["title"], href="/documents/" + d["id"].to_string())),
        rx.table.cell(d["filename"]),
        rx.table.cell(d["size_label"]),
        rx.table.cell(
            rx.vstack(
                status_badge(d["status"], d["step"]),
                rx.cond(
                    d["error"] != "",
                    rx.text(
                        d["error"],
                        size="1",
                        color_scheme=rx.cond(d["status"] == "duplicate", "amber", "red"),
                    ),
                ),
                rx.cond(
                    (d["status"] == "duplicate") & CollectionState.can_curate,
                    rx.hstack(
                        rx.cond(
                            d["duplicate_of_id"],
                            rx.link(
                                "See the original",
                                href="/documents/" + d["duplicate_of_id"].to_string(),
                                size="1",
                            ),
                        ),
                        rx.button(
                            "Skip",
                            size="1",
                            variant="outline",
                            class_name="skip-duplicate",
                            on_click=CollectionState.resolve_duplicate(
                                d["version_id"].to(int), "skip"
                            ),
                        ),
                        rx.cond(
                            d["duplicate_of_id"],
                            rx.button(
                                "Add as new version",
                                size="1",
                                variant="outline",
                                class_name="add-version",
                                on_click=CollectionState.resolve_duplicate(
                                    d["version_id"].to(int), "new_version"
                                ),
                            ),
                        ),
                        spacing="2",
                        align="center",
                    ),
                ),
                rx.cond(
                    (d["status"] == "failed") & d["retryable"] & CollectionState.can_curate,
                    rx.button(
                        rx.icon("rotate_cw", size=14),
                        "Retry",
                        size="1",
                        variant="outline",
                        on_click=CollectionState.retry(d["version_id"].to(int)),
                        class_name="retry",
                    ),
                ),
                spacing="1",
            )
        ),
        class_name="document-row",
    )


# The dropped (or picked) files' names and sizes, read in the browser at drop time.
# `_ev_0` is the name Reflex gives the first argument of an event trigger (here on_drop's
# list of files); a lambda cannot be used because on_drop takes only single events.
_DROPPED_NAMES_AND_SIZES = rx.Var("_ev_0.map((f) => ({name: f.name, size: f.size}))").to(list)


def _record_field(label: str, name: str, **props: Any) -> rx.Component:
    return rx.vstack(
        form_field(label, f"{name}", **props),
        rx.cond(
            CollectionState.record_errors.contains(name),  # type: ignore[attr-defined]
            rx.text(CollectionState.record_errors[name], color_scheme="red", size="2"),
        ),
        spacing="1",
        width="100%",
    )


def _record_panel() -> rx.Component:
    """Catalogue what the library holds without a file (a book on a shelf)."""
    return rx.el.details(
        rx.el.summary("Catalogue a record without a file", id="record-panel"),
        rx.form(
            rx.vstack(
                rx.text(
                    "For what the library holds on paper or elsewhere: the record is listed, "
                    "browsed and searched like any document. Subjects, and a file if one "
                    "comes, are added on its page.",
                    size="2",
                    color_scheme="gray",
                ),
                _record_field("Title", "title", required=True),
                rx.vstack(
                    rx.el.label(
                        "Creators (one per line)",
                        html_for="record-creators",
                        font_weight="500",
                        font_size="0.9em",
                    ),  # fmt: skip
                    rx.text_area(name="creators", id="record-creators", width="100%", rows="2"),
                    spacing="1",
                    width="100%",
                ),
                rx.grid(
                    _record_field("Date", "date_issued", placeholder="1822, 1822-05 or 1822-05-14"),
                    _record_field("Publisher", "publisher"),
                    _record_field("Identifier", "identifier", placeholder="ISBN, shelf mark…"),
                    _record_field("Language", "language", placeholder="en"),
                    columns={"initial": "1", "sm": "2"},
                    spacing="3",
                    width="100%",
                ),
                rx.vstack(
                    rx.el.label(
                        "Description",
                        html_for="record-description",
                        font_weight="500",
                        font_size="0.9em",
                    ),  # fmt: skip
                    rx.text_area(
                        name="description", id="record-description", width="100%", rows="3"
                    ),
                    spacing="1",
                    width="100%",
                ),
                rx.button("Catalogue", type="submit", id="catalogue-record"),
                spacing="3",
                width="100%",
            ),
            on_submit=CollectionState.catalogue,
            reset_on_submit=False,
        ),
        class_name="record-panel",
        width="100%",
    )


def _upload_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Add documents", size="4", as_="h2"),
            drop_zone(
                rx.vstack(
                    rx.icon("upload", size=28),
                    rx.text("Drop files here, or click to choose them"),
                    rx.text(ACCEPTED_FORMATS, size="1", color_scheme="gray", text_align="center"),
                    align="center",
                ),
                id=UPLOAD_ID,
                multiple=True,
                on_drop=[
                    CollectionState.expect(_DROPPED_NAMES_AND_SIZES),
                    CollectionState.upload(
                        rx.upload_files_chunk(
                            upload_id=UPLOAD_ID, on_upload_progress=CollectionState.progress
                        )
                    ),
                ],
            ),
            rx.cond(
                CollectionState.uploading,
                rx.vstack(
                    rx.progress(value=CollectionState.upload_progress, width="100%"),
                    rx.foreach(
                        CollectionState.incoming,
                        lambda f: rx.vstack(
                            rx.hstack(
                                rx.cond(
                                    f["done"],
                                    rx.icon("circle_check", size=14, color="var(--green-9)"),
                                    rx.spinner(size="1"),
                                ),
                                rx.text(f["name"], size="2", weight="medium"),
                                rx.text(f["label"], size="2", color_scheme="gray"),
                                align="center",
                            ),
                            rx.progress(
                                value=f["percent"].to(int),
                                size="1",
                                width="100%",
                                aria_label=f"Sent of {f['name']}",
                            ),
                            spacing="1",
                            width="100%",
                            class_name="incoming-file",
                        ),
                    ),
                    rx.hstack(
                        rx.text(CollectionState.upload_label, size="2"),
                        rx.button(
                            "Cancel",
                            size="1",
                            variant="outline",
                            color_scheme="red",
                            on_click=rx.cancel_upload(UPLOAD_ID),
                        ),
                        align="center",
                    ),
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _members_panel() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Give someone access", size="4", as_="h2"),
                error_callout(CollectionState.member_error),
                rx.hstack(
                    rx.input(
                        name="email",
                        type="email",
                        placeholder="their email",
                        required=True,
                        aria_label="Member email",
                    ),
                    rx.select(["viewer", "curator"], name="role", default_value="viewer"),
                    rx.button("Add member", type="submit"),
                ),
                spacing="3",
            ),
            on_submit=CollectionState.add_member,
            reset_on_submit=True,
        ),
        width="100%",
    )


def _stats() -> rx.Component:
    return rx.grid(
        rx.foreach(
            CollectionState.stats,
            lambda st: rx.card(
                rx.text(st[0], size="1", color_scheme="gray"),
                rx.text(st[1], size="4", weight="bold", white_space="nowrap"),
                class_name="collection-stat",
            ),
        ),
        columns=rx.breakpoints(initial="2", sm="3", md="6"),
        spacing="2",
        width="100%",
        id="collection-stats",
    )


def _explore() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                rx.input(
                    name="q",
                    placeholder="Search this collection…",
                    aria_label="Search this collection",
                    width="100%",
                ),
                rx.button("Search", type="submit"),
                width="100%",
            ),
            on_submit=CollectionState.search_here,
            width="100%",
        ),
        rx.hstack(
            rx.text("Browse:", size="2"),
            *(
                rx.link(
                    label,
                    href="/browse?by=" + name + "&in=" + CollectionState.slug,
                    size="2",
                )
                for name, label in TABS
            ),
            wrap="wrap",
            spacing="3",
            as_="nav",
            aria_label="Browse this collection",
        ),
        width="100%",
        spacing="2",
    )


def _manage_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Manage the collection", size="4", as_="h2"),
                rx.spacer(),
                rx.button("Close", variant="soft", size="1", on_click=CollectionAdminState.close),
                width="100%",
            ),
            error_callout(CollectionAdminState.error),
            notice_callout(CollectionAdminState.notice),
            rx.form(
                rx.vstack(
                    form_field("Name", "name", default_value=CollectionState.name, required=True),
                    rx.el.label("Description", html_for="collection-description"),
                    rx.text_area(
                        name="description",
                        id="collection-description",
                        default_value=CollectionState.description,
                        width="100%",
                        rows="3",
                    ),
                    rx.radio_group(
                        ["public", "private"],
                        name="visibility",
                        default_value=rx.cond(CollectionState.is_public, "public", "private"),
                        direction="row",
                    ),
                    rx.button("Save", type="submit", id="save-collection"),
                    spacing="2",
                    width="100%",
                ),
                on_submit=CollectionAdminState.save,
                reset_on_submit=False,
                width="100%",
            ),
            rx.heading("Cover", size="3", as_="h3"),
            drop_zone(
                rx.text("Drop an image (JPEG, PNG, WebP or GIF) or click to choose"),
                id=COVER_UPLOAD_ID,
                multiple=False,
                accept={"image/*": [".jpg", ".jpeg", ".png", ".webp", ".gif"]},
                padding="0.75em",
                on_drop=CollectionAdminState.upload_cover(
                    rx.upload_files_chunk(upload_id=COVER_UPLOAD_ID)
                ),
            ),
            rx.heading("Members", size="3", as_="h3"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Name"),
                        rx.table.column_header_cell("E-mail"),
                        rx.table.column_header_cell("Role"),
                        rx.table.column_header_cell(rx.el.span("Remove", class_name="sr-only")),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        CollectionAdminState.members,
                        lambda m: rx.table.row(
                            rx.table.cell(m.name),
                            rx.table.cell(m.email),
                            rx.table.cell(
                                rx.select(
                                    ["viewer", "curator"],
                                    value=m.role,
                                    size="1",
                                    aria_label="Role of " + m.email,
                                    on_change=lambda role: CollectionAdminState.set_role(
                                        m.email, role
                                    ),
                                )
                            ),
                            rx.table.cell(
                                rx.button(
                                    "Remove",
                                    size="1",
                                    variant="ghost",
                                    color_scheme="red",
                                    aria_label="Remove " + m.email,
                                    on_click=CollectionAdminState.remove_member(m.user_id),
                                )
                            ),
                            class_name="member-row",
                        ),
                    )
                ),
                size="1",
                width="100%",
            ),
            _members_panel(),
            rx.heading("Delete the collection", size="3", as_="h3", color_scheme="red"),
            rx.form(
                rx.vstack(
                    rx.cond(
                        CollectionAdminState.held > 0,
                        rx.vstack(
                            rx.text(
                                "It holds "
                                + CollectionAdminState.held_label
                                + " documents. What becomes of them?"
                            ),
                            rx.radio_group.root(
                                rx.vstack(
                                    rx.radio_group.item("Move them to", value="move"),
                                    rx.radio_group.item(
                                        "Delete them and their files", value="delete"
                                    ),
                                ),
                                name="documents",
                                aria_label="What becomes of its documents",
                            ),
                            rx.el.select(
                                rx.el.option("— choose a collection —", value=""),
                                rx.foreach(
                                    CollectionAdminState.targets,
                                    lambda t: rx.el.option(t.name, value=t.id),
                                ),
                                name="move_to",
                                aria_label="Move the documents to",
                            ),
                            spacing="2",
                        ),
                    ),
                    rx.input(
                        name="confirm",
                        placeholder="Type the collection's name to confirm",
                        aria_label="Type the collection's name to confirm",
                        width="100%",
                    ),
                    rx.button(
                        "Delete the collection", type="submit", color_scheme="red", id="delete"
                    ),
                    spacing="2",
                    width="100%",
                ),
                on_submit=CollectionAdminState.delete,
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="manage-panel",
    )


def collection() -> rx.Component:
    return rx.cond(
        CollectionState.not_found,
        not_found("This collection does not exist, or you may not see it."),
        rx.vstack(
            rx.cond(
                CollectionState.cover_url != "",
                rx.image(
                    src=CollectionState.cover_url,
                    alt="",
                    width="100%",
                    max_height="240px",
                    object_fit="cover",
                    border_radius="8px",
                    id="collection-cover",
                ),
            ),
            rx.hstack(
                rx.heading(CollectionState.name, size="7", as_="h1"),
                rx.cond(
                    CollectionState.is_public,
                    rx.badge("public"),
                    rx.badge("private", color_scheme="orange"),
                ),
                rx.spacer(),
                rx.cond(
                    CollectionState.can_curate & ~CollectionAdminState.open,
                    rx.button(
                        rx.icon("settings", size=14),
                        "Manage",
                        variant="outline",
                        on_click=CollectionAdminState.load,
                        id="manage",
                    ),
                ),
                align="center",
                width="100%",
            ),
            rx.text(CollectionState.description, color_scheme="gray", white_space="pre-line"),
            _stats(),
            _explore(),
            rx.cond(CollectionAdminState.open, _manage_panel()),
            notice_callout(CollectionState.notice),
            error_callout(CollectionState.error),
            rx.cond(
                CollectionState.batch_summary != "",
                rx.callout(
                    CollectionState.batch_summary,
                    icon="list_checks",
                    role="status",
                    width="100%",
                    id="upload-summary",
                ),
            ),
            rx.cond(CollectionState.can_curate, _upload_panel()),
            rx.cond(CollectionState.can_curate, _record_panel()),
            rx.cond(CollectionState.can_curate, import_panel()),
            rx.heading("Latest additions", size="4", as_="h2"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Title"),
                        rx.table.column_header_cell("File"),
                        rx.table.column_header_cell("Size"),
                        rx.table.column_header_cell("Status"),
                    )
                ),
                rx.table.body(rx.foreach(CollectionState.documents, _document_row)),
                width="100%",
            ),
            rx.cond(
                CollectionState.documents.length() == 0,
                rx.text("No documents yet.", color_scheme="gray"),
            ),
            spacing="4",
            width="100%",
        ),
    )
