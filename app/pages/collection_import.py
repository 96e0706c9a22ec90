"""A collection page's bulk import card: the drop zone for the CSV and the ZIP, the dry-run
report, and the import's progress (its curators only)."""

import reflex as rx

from components.common import error_callout, notice_callout
from components.dropzone import drop_zone
from state.bulk_import import IMPORT_UPLOAD_ID, ImportState
from state.collections import CollectionState


def _import_report() -> rx.Component:
    return rx.vstack(
        rx.text(ImportState.summary, weight="medium", id="import-summary"),
        rx.cond(
            ImportState.new_subjects != "",
            rx.text("New subjects for the list: " + ImportState.new_subjects, size="2"),
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(
                        rx.table.column_header_cell(h)
                        for h in ("Line", "", "Title", "File", "Why not")
                    )
                )
            ),
            rx.table.body(
                rx.foreach(
                    ImportState.rows,
                    lambda r: rx.table.row(
                        rx.table.cell(r.line.to_string()),
                        rx.table.cell(
                            rx.match(
                                r.action,
                                ("add", rx.badge("add", color_scheme="green")),
                                ("update", rx.badge("update", color_scheme="blue")),
                                rx.badge("refused", color_scheme="red"),
                            )
                        ),
                        rx.table.cell(r.title),
                        rx.table.cell(
                            rx.cond(
                                (r.filename == "") & (r.action == "add"),
                                rx.text("none: a record", color_scheme="gray", as_="span"),
                                r.filename,
                            )
                        ),
                        rx.table.cell(r.problems),
                        class_name="import-row",
                    ),
                )
            ),
            size="1",
            width="100%",
        ),
        rx.cond(ImportState.more_rows != "", rx.text(ImportState.more_rows, size="1")),
        spacing="2",
        width="100%",
    )


def _import_progress() -> rx.Component:
    return rx.vstack(
        rx.progress(value=ImportState.progress, width="100%", aria_label="Rows imported"),
        rx.text(ImportState.progress_label, size="2", id="import-progress"),
        width="100%",
    )


def import_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Bulk import", size="4", as_="h2"),
            rx.text(
                "A CSV of metadata (columns: filename, title, creators, subjects, date, "
                "language, description, publisher, identifier, …; names and subjects "
                "separated by “;”, subject levels by “--”) and a ZIP of the files it names. "
                "You see what would happen before anything is written. A row with an id "
                "updates that document: ",
                rx.link(
                    "export this collection",
                    href="/api/v1/collections/"
                    + CollectionState.collection_id.to_string()
                    + "/export.csv",
                    reload_document=True,
                    id="export-csv",
                ),
                ", edit, import it back.",
                size="2",
            ),
            drop_zone(
                rx.text("Drop the .csv (and the .zip) here, or click to choose them"),
                id=IMPORT_UPLOAD_ID,
                multiple=True,
                accept={"text/csv": [".csv"], "application/zip": [".zip"]},
                disabled=ImportState.busy,
                padding="0.75em",
                on_drop=ImportState.check(
                    rx.upload_files_chunk(
                        upload_id=IMPORT_UPLOAD_ID, on_upload_progress=ImportState.sent
                    )
                ),
            ),
            rx.cond(
                ImportState.sending,
                rx.hstack(
                    rx.spinner(size="1"),
                    rx.text(ImportState.sent_label, size="2"),
                    rx.button(
                        "Cancel",
                        size="1",
                        variant="outline",
                        color_scheme="red",
                        on_click=rx.cancel_upload(IMPORT_UPLOAD_ID),
                    ),
                    align="center",
                ),
            ),
            error_callout(ImportState.error),
            rx.cond(
                ImportState.status == "checking",
                rx.hstack(rx.spinner(size="1"), rx.text(ImportState.notice, size="2")),
                notice_callout(ImportState.notice),
            ),
            rx.cond(ImportState.status == "importing", _import_progress()),
            rx.cond(
                ImportState.failures.length() > 0,
                rx.vstack(
                    rx.text("Rows that could not be written:", size="2", weight="medium"),
                    rx.foreach(ImportState.failures, lambda f: rx.text(f, size="1")),
                    class_name="import-failures",
                ),
            ),
            rx.cond(
                (ImportState.rows.length() > 0) & (ImportState.status != "done"),
                rx.vstack(
                    _import_report(),
                    rx.hstack(
                        rx.button(
                            rx.cond(ImportState.busy, rx.spinner(size="1"), rx.fragment()),
                            "Import " + ImportState.ready.to_string() + " rows",
                            disabled=~ImportState.may_start | ImportState.busy,
                            on_click=ImportState.run,
                            id="run-import",
                        ),
                        rx.button("Cancel", variant="soft", on_click=ImportState.cancel),
                        spacing="2",
                    ),
                    spacing="2",
                    width="100%",
                ),
                rx.cond(
                    ImportState.status == "failed",
                    rx.button("Dismiss", variant="soft", on_click=ImportState.cancel),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="import-panel",
        # A new collection's page mounts a new card, which looks for its own import.
        key=CollectionState.slug,
        on_mount=ImportState.resume,
    )
