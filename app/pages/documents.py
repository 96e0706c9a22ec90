import reflex as rx

from components.common import error_callout, not_found, notice_callout, status_badge
from state.documents import VERSION_UPLOAD_ID, DocumentState


def _meta(label: str, value: rx.Var) -> rx.Component:
    return rx.cond(
        value.to(str) != "",
        rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value)),
    )


def _version_row(v: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(v["version_no"].to_string()),
        rx.table.cell(v["filename"]),
        rx.table.cell(v["size_label"]),
        rx.table.cell(v["uploaded_by"]),
        rx.table.cell(v["created_label"]),
        rx.table.cell(
            rx.hstack(
                status_badge(v["status"], v["step"]),
                rx.cond(v["is_current"], rx.badge("current", variant="outline")),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.link(
                "Download",
                href=DocumentState.download_url + "?version=" + v["id"].to_string(),
                reload_document=True,
            )
        ),
        rx.table.cell(
            rx.cond(
                DocumentState.can_curate & ~v["is_current"].to(bool) & (v["status"] == "ready"),
                rx.button(
                    "Make current",
                    size="1",
                    variant="outline",
                    on_click=DocumentState.restore(v["id"].to(int)),
                    class_name="restore",
                ),
            )
        ),
        class_name="version-row",
    )


def _new_version_panel() -> rx.Component:
    return rx.upload(
        rx.hstack(rx.icon("upload", size=18), rx.text("Drop a new version here"), align="center"),
        id=VERSION_UPLOAD_ID,
        multiple=False,
        class_name="dropzone",
        padding="1em",
        on_drop=DocumentState.upload_version(rx.upload_files_chunk(upload_id=VERSION_UPLOAD_ID)),
    )


def document() -> rx.Component:
    return rx.cond(
        DocumentState.not_found,
        not_found("This document does not exist, or you may not see it."),
        rx.vstack(
            rx.link(
                "← " + DocumentState.collection_name,
                href="/collections/" + DocumentState.collection_slug,
            ),
            rx.heading(DocumentState.title, size="7", id="document-title"),
            rx.hstack(
                status_badge(DocumentState.current["status"], DocumentState.current["step"]),
                rx.cond(
                    DocumentState.current["error"] != "",
                    rx.text(DocumentState.current["error"], color_scheme="red", size="2"),
                ),
                align="center",
            ),
            rx.el.a(
                rx.button(rx.icon("download", size=16), "Download the original", size="3"),
                href=DocumentState.download_url,
                download=True,
                # Links are client-side routes by default; a file needs a real request.
                reload_document=True,
                id="download",
            ),
            rx.cond(
                DocumentState.current["warnings"] != "",
                rx.callout(DocumentState.current["warnings"], icon="info", color_scheme="amber"),
            ),
            rx.flex(
                rx.cond(
                    DocumentState.preview_url != "",
                    rx.image(
                        src=DocumentState.preview_url,
                        alt="Preview of the first page",
                        max_width="320px",
                        height="auto",
                        border="1px solid var(--gray-a5)",
                        id="preview",
                    ),
                ),
                rx.data_list.root(
                    _meta("Authors", DocumentState.current["authors"]),
                    _meta("Subjects", DocumentState.current["subjects"]),
                    _meta("Description", DocumentState.current["description"]),
                    _meta("Date", DocumentState.current["date"]),
                    _meta("Language", DocumentState.current["language_label"]),
                    _meta("File", DocumentState.current["filename"]),
                    _meta("Type", DocumentState.current["mime_type"]),
                    _meta("Size", DocumentState.current["size_label"]),
                    _meta("Pages", DocumentState.current["page_label"]),
                    _meta("SHA-256", DocumentState.current["sha256"]),
                    _meta("Uploaded", DocumentState.current["created_label"]),
                    _meta("Uploaded by", DocumentState.current["uploaded_by"]),
                ),
                spacing="6",
                wrap="wrap",
                align="start",
            ),
            notice_callout(DocumentState.notice),
            error_callout(DocumentState.error),
            rx.heading("Versions", size="4"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(h)
                            for h in ("#", "File", "Size", "By", "When", "Status", "")
                        )
                    )
                ),
                rx.table.body(rx.foreach(DocumentState.versions, _version_row)),
                width="100%",
            ),
            rx.cond(DocumentState.can_curate, _new_version_panel()),
            spacing="4",
            width="100%",
            align="start",
        ),
    )
