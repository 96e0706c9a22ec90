import reflex as rx

from components.common import error_callout, not_found, notice_callout, status_badge
from components.dropzone import drop_zone
from components.snippet import snippet
from state.documents import VERSION_UPLOAD_ID, DocumentState
from state.record import RecordState
from state.session import SessionState


def _meta(label: str, value: rx.Var) -> rx.Component:
    return rx.cond(
        value.to(str) != "",
        rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value)),
    )


def _version_row(v: rx.Var) -> rx.Component:
    """A version: number, file, size, date and its download for everyone; who sent it, how
    it was processed and "make current" for its curators (only they receive those)."""
    staff = DocumentState.can_curate
    return rx.table.row(
        rx.table.cell(v["version_no"].to_string()),
        rx.table.cell(v["filename"]),
        rx.table.cell(v["size_label"]),
        rx.cond(staff, rx.table.cell(v["uploaded_by"])),
        rx.table.cell(v["created_label"]),
        rx.table.cell(
            rx.hstack(
                rx.cond(staff, status_badge(v["status"], v["step"])),
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
        rx.cond(
            staff,
            rx.table.cell(
                rx.cond(
                    ~v["is_current"].to(bool) & (v["status"] == "ready"),
                    rx.button(
                        "Make current",
                        size="1",
                        variant="outline",
                        on_click=DocumentState.restore(v["id"].to(int)),
                        class_name="restore",
                    ),
                ),
            ),
        ),
        class_name="version-row",
    )


def _new_version_panel() -> rx.Component:
    return drop_zone(
        rx.hstack(rx.icon("upload", size=18), rx.text("Drop a new version here"), align="center"),
        id=VERSION_UPLOAD_ID,
        multiple=False,
        padding="1em",
        on_drop=DocumentState.upload_version(rx.upload_files_chunk(upload_id=VERSION_UPLOAD_ID)),
    )


def _dublin_core() -> rx.Component:
    return rx.vstack(
        rx.heading("Catalogue record", size="4", as_="h2"),
        rx.data_list.root(
            rx.foreach(
                RecordState.dublin_core,
                lambda row: rx.data_list.item(
                    rx.data_list.label(row.label, title="Dublin Core: " + row.element),
                    rx.data_list.value(
                        rx.vstack(
                            rx.foreach(row.lines, lambda v: rx.text(v, white_space="pre-line")),
                            spacing="1",
                        )
                    ),
                    class_name="dc-" + row.element,
                ),
            ),
            id="dublin-core",
        ),
        spacing="2",
        flex="1",
        min_width="280px",
    )


def _edit_button() -> rx.Component:
    return rx.button(
        rx.icon("pencil", size=14),
        "Edit the record",
        variant="outline",
        on_click=RecordState.start_editing,
        id="edit-record",
        aria_expanded="false",  # it unfolds the edit form in its place
    )


def _field(label: str, name: str, multiline: bool = False, hint: str = "") -> rx.Component:
    box = rx.text_area if multiline else rx.input
    return rx.vstack(
        rx.el.label(label, html_for=f"edit-{name}", font_weight="500", font_size="0.9em"),
        box(
            name=name,
            id=f"edit-{name}",
            default_value=RecordState.form[name],
            width="100%",
            **({"rows": "4"} if multiline else {}),
        ),
        rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")),
        rx.cond(
            RecordState.errors.contains(name),
            rx.text(RecordState.errors[name], color_scheme="red", size="2", role="alert"),
        ),
        spacing="1",
        width="100%",
    )


def _subject_picker() -> rx.Component:
    return rx.vstack(
        rx.el.label(
            "Subjects", html_for="edit-subject-search", font_weight="500", font_size="0.9em"
        ),
        rx.hstack(
            rx.foreach(
                RecordState.chosen,
                lambda c: rx.button(
                    c.name,
                    rx.icon("x", size=12),
                    size="1",
                    variant="soft",
                    type="button",
                    aria_label="Remove subject " + c.name,
                    on_click=RecordState.drop_subject(c.id),
                    class_name="chosen-subject",
                ),
            ),
            wrap="wrap",
            spacing="1",
        ),
        rx.input(
            id="edit-subject-search",
            placeholder="Find a subject in the list…",
            value=RecordState.subject_typed,
            on_change=RecordState.find_subjects.debounce(250),
            width="100%",
        ),
        rx.hstack(
            rx.foreach(
                RecordState.choices,
                lambda c: rx.button(
                    "+ " + c.name,
                    size="1",
                    variant="outline",
                    type="button",
                    on_click=RecordState.choose_subject(c.id),
                    class_name="subject-choice",
                ),
            ),
            rx.cond(
                (RecordState.subject_typed != "") & SessionState.is_staff,
                rx.button(
                    "Add “" + RecordState.subject_typed + "” to the list",
                    size="1",
                    variant="ghost",
                    type="button",
                    on_click=RecordState.new_subject,
                    id="new-subject",
                ),
            ),
            wrap="wrap",
            spacing="1",
        ),
        rx.cond(
            RecordState.errors.contains("subject_ids"),
            rx.text(RecordState.errors["subject_ids"], color_scheme="red", size="2", role="alert"),
        ),
        spacing="2",
        width="100%",
    )


def _edit_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Edit the catalogue record", size="4", as_="h2"),
                _field("Title", "title"),
                rx.grid(
                    _field("Creators", "creators", True, "One name per line."),
                    _field("Contributors", "contributors", True, "One name per line."),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                _subject_picker(),
                _field("Description", "description", True),
                rx.grid(
                    _field("Date", "date_issued", hint="YYYY, YYYY-MM or YYYY-MM-DD"),
                    _field("Language", "language", hint="A code such as en, fr, de"),
                    _field("Publisher", "publisher"),
                    _field("Identifier", "identifier", hint="ISBN, DOI, call number…"),
                    _field("Source", "source"),
                    _field("Relation", "relation"),
                    _field("Coverage", "coverage"),
                    _field("Rights", "rights"),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                rx.hstack(
                    rx.button("Save", type="submit", id="save-record"),
                    rx.button(
                        "Cancel", variant="soft", type="button", on_click=RecordState.cancel_editing
                    ),
                    spacing="2",
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=RecordState.save,
            reset_on_submit=False,
        ),
        width="100%",
        id="edit-form",
    )


def _cite() -> rx.Component:
    return rx.vstack(
        rx.heading("Cite", size="4", as_="h2"),
        rx.hstack(
            rx.text("Stable link:", size="2"),
            rx.link(RecordState.stable_url, href=RecordState.stable_url, id="stable-link"),
            rx.icon_button(
                rx.icon("copy", size=14),
                size="1",
                variant="ghost",
                aria_label="Copy the stable link",
                on_click=rx.set_clipboard(RecordState.stable_url),
            ),
            align="center",
            wrap="wrap",
        ),
        rx.hstack(
            rx.link(
                "BibTeX",
                href="/api/v1/documents/" + DocumentState.document_id.to_string() + "/citation.bib",
                reload_document=True,
                id="cite-bibtex",
            ),
            rx.link(
                "RIS",
                href="/api/v1/documents/" + DocumentState.document_id.to_string() + "/citation.ris",
                reload_document=True,
                id="cite-ris",
            ),
            spacing="3",
        ),
        rx.el.details(
            rx.el.summary("Show the BibTeX"),
            rx.el.pre(RecordState.bibtex, class_name="page-text", id="bibtex"),
        ),
        spacing="2",
        width="100%",
    )


def _text_viewer() -> rx.Component:
    return rx.cond(
        RecordState.page_count > 0,
        rx.el.details(
            rx.el.summary(
                "Read it page by page ("
                + RecordState.page_count.to_string()
                + rx.cond(RecordState.page_count == 1, " page)", " pages)")
            ),
            rx.vstack(
                _find_inside(),
                rx.hstack(
                    rx.button(
                        "←",
                        size="1",
                        variant="soft",
                        aria_label="Previous page",
                        disabled=RecordState.page_no <= 1,
                        on_click=RecordState.show_page(RecordState.page_no - 1),
                    ),
                    rx.text(
                        "Page "
                        + RecordState.page_no.to_string()
                        + " of "
                        + RecordState.page_count.to_string(),
                        size="2",
                        id="page-label",
                    ),
                    rx.button(
                        "→",
                        size="1",
                        variant="soft",
                        aria_label="Next page",
                        disabled=RecordState.page_no >= RecordState.page_count,
                        on_click=RecordState.show_page(RecordState.page_no + 1),
                    ),
                    rx.form(
                        rx.hstack(
                            rx.input(
                                name="page",
                                type="number",
                                min=1,
                                size="1",
                                width="5em",
                                aria_label="Page number",
                            ),
                            rx.button("Go", size="1", variant="outline", type="submit"),
                            spacing="1",
                        ),
                        on_submit=RecordState.go_to_page,
                    ),
                    align="center",
                    spacing="2",
                    wrap="wrap",
                ),
                rx.flex(
                    rx.cond(
                        RecordState.page_image_url != "",
                        rx.box(
                            rx.image(
                                src=RecordState.page_image_url,
                                alt="Page " + RecordState.page_no.to_string(),
                                width="100%",
                                height="auto",
                                display="block",
                                id="page-image",
                            ),
                            # The words searched for, marked where they stand on the page
                            # (its text layer's places; the text beside marks them too).
                            rx.foreach(
                                RecordState.page_marks,
                                lambda m: rx.box(
                                    class_name="page-mark",
                                    aria_hidden="true",
                                    left=m.left,
                                    top=m.top,
                                    width=m.width,
                                    height=m.height,
                                ),
                            ),
                            position="relative",
                            max_width="min(100%, 560px)",
                            width="100%",
                            border="1px solid var(--gray-a5)",
                            flex_shrink="0",
                            id="page-picture",
                        ),
                    ),
                    # Plain text: the document's own markup and scripts never reach the page;
                    # the words searched for are marked.
                    rx.el.pre(
                        rx.foreach(
                            RecordState.page_segments,
                            lambda seg: rx.cond(
                                seg.hit,
                                rx.el.mark(seg.text, class_name="hit"),
                                rx.fragment(seg.text),
                            ),
                        ),
                        class_name="page-text",
                        id="page-text",
                    ),
                    spacing="3",
                    direction=rx.breakpoints(initial="column", md="row"),
                    width="100%",
                    align="start",
                ),
                _page_pictures(),
                spacing="2",
                width="100%",
            ),
            open=True,
            width="100%",
            id="text-viewer",
        ),
    )


def _find_inside() -> rx.Component:
    """Search inside the document: the pages where the words are, each a link to it."""
    return rx.vstack(
        rx.form(
            rx.hstack(
                rx.input(
                    name="find",
                    type="search",
                    default_value=RecordState.find,
                    key=RecordState.document_id.to_string() + RecordState.find,
                    placeholder="Find in this document…",
                    aria_label="Find in this document",
                    size="2",
                    width="100%",
                    max_width="24rem",
                ),
                rx.button("Find", size="2", variant="outline", type="submit"),
                spacing="2",
                width="100%",
            ),
            on_submit=RecordState.find_inside,
            role="search",
            width="100%",
        ),
        rx.cond(
            RecordState.found_total >= 0,
            rx.vstack(
                rx.text(
                    rx.cond(
                        RecordState.found_total == 0,
                        "No page has those words.",
                        rx.cond(
                            RecordState.found_total == 1,
                            "On 1 page:",
                            "On " + RecordState.found_total.to_string() + " pages:",
                        ),
                    ),
                    size="2",
                    id="found-count",
                    role="status",
                ),
                rx.el.ul(
                    rx.foreach(
                        RecordState.found_pages,
                        lambda f: rx.el.li(
                            rx.button(
                                "Page " + f.page_no.to_string(),
                                variant="ghost",
                                size="1",
                                on_click=RecordState.show_page(f.page_no),
                            ),
                            " ",
                            snippet(f.around),
                            class_name="found-page",
                        ),
                    ),
                    class_name="found-pages",
                ),
                spacing="1",
                width="100%",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _page_pictures() -> rx.Component:
    """Pictures of the pages around the one shown, to jump by."""
    return rx.cond(
        RecordState.nearby_pages.length() > 0,
        rx.hstack(
            rx.foreach(
                RecordState.nearby_pages,
                lambda n: rx.el.button(
                    rx.image(
                        src="/api/v1/documents/"
                        + RecordState.document_id.to_string()
                        + "/pages/"
                        + n.to_string()
                        + ".webp?size=small",
                        alt="",
                        loading="lazy",
                        width="56px",
                        height="auto",
                    ),
                    rx.text(n.to_string(), size="1"),
                    on_click=RecordState.show_page(n),
                    aria_label="Page " + n.to_string(),
                    aria_current=rx.cond(n == RecordState.page_no, "page", "false"),
                    class_name="page-thumb",
                    type="button",
                ),
            ),
            spacing="2",
            overflow_x="auto",
            width="100%",
            as_="nav",
            aria_label="Pages",
            id="page-pictures",
        ),
    )


def _linked_list(rows: rx.Var, list_id: str, with_why: bool) -> rx.Component:
    return rx.el.ul(
        rx.foreach(
            rows,
            lambda r: rx.el.li(
                rx.link(r.title, href="/documents/" + r.id.to_string()),
                rx.text(" — " + r.why, as_="span", size="2", color_scheme="gray")
                if with_why
                else rx.fragment(),
            ),
        ),
        id=list_id,
    )


def _related() -> rx.Component:
    """Related by author and subject (the catalogue), and "more like this" (the search
    engine's significant words of the text), side by side on a wide screen."""
    return rx.grid(
        rx.cond(
            RecordState.related.length() > 0,
            rx.vstack(
                rx.heading("Related documents", size="4", as_="h2"),
                _linked_list(RecordState.related, "related", with_why=True),
                spacing="2",
            ),
        ),
        rx.cond(
            RecordState.similar.length() > 0,
            rx.vstack(
                rx.heading("More like this", size="4", as_="h2"),
                rx.text(
                    "Documents that share this one's most telling words.",
                    size="1",
                    color_scheme="gray",
                ),  # fmt: skip
                _linked_list(RecordState.similar, "similar", with_why=False),
                spacing="2",
            ),
        ),
        columns={"initial": "1", "md": "2"},
        spacing="5",
        width="100%",
    )


def _delete_panel() -> rx.Component:
    return rx.el.details(
        rx.el.summary("Delete this document"),
        rx.form(
            rx.vstack(
                rx.text(
                    "Every version and file of it goes; the record of its deletion stays "
                    "in the audit log.",
                    size="2",
                ),
                rx.input(
                    name="confirm",
                    placeholder="Type the title to confirm",
                    aria_label="Type the title to confirm",
                    width="100%",
                ),
                rx.button("Delete the document", type="submit", color_scheme="red", id="delete"),
                spacing="2",
                width="100%",
            ),
            on_submit=DocumentState.delete,
        ),
        width="100%",
        id="delete-document",
    )


def _file_facts() -> rx.Component:
    return rx.vstack(
        rx.heading("The file", size="4", as_="h2"),
        rx.data_list.root(
            _meta("File", DocumentState.current["filename"]),
            _meta("Format", DocumentState.current["format_label"]),
            _meta("Size", DocumentState.current["size_label"]),
            _meta("Pages", DocumentState.current["page_label"]),
            _meta("Language found", DocumentState.current["language_label"]),
            _meta("Uploaded", DocumentState.current["created_label"]),
            rx.cond(
                DocumentState.can_curate,
                rx.fragment(
                    _meta("SHA-256", DocumentState.current["sha256"]),
                    _meta("Uploaded by", DocumentState.current["uploaded_by"]),
                ),
            ),
        ),
        spacing="2",
        width="100%",
    )


def _history() -> rx.Component:
    return rx.cond(
        RecordState.audit.length() > 0,
        rx.vstack(
            rx.heading("Changes to the record", size="4", as_="h2"),
            rx.foreach(
                RecordState.audit,
                lambda a: rx.box(
                    rx.text(a.when + " · " + a.who, size="2", weight="medium"),
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Field"),
                                rx.table.column_header_cell("Before"),
                                rx.table.column_header_cell("After"),
                            )
                        ),
                        rx.table.body(
                            rx.foreach(
                                a.changes,
                                lambda c: rx.table.row(
                                    rx.table.cell(c.label),
                                    rx.table.cell(c.before),
                                    rx.table.cell(c.after),
                                ),
                            )
                        ),
                        size="1",
                        width="100%",
                    ),
                    class_name="audit-entry",
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
            id="history",
        ),
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
            rx.heading(DocumentState.title, size="7", id="document-title", as_="h1"),
            rx.cond(
                ~DocumentState.has_file & (DocumentState.versions.length() == 0),
                rx.callout(
                    "A record without a file: the library holds this otherwise (on its "
                    "shelves, say).",
                    icon="library",
                    id="no-file",
                    width="100%",
                ),
            ),
            rx.cond(
                DocumentState.can_curate & DocumentState.has_file,
                rx.hstack(
                    status_badge(DocumentState.current["status"], DocumentState.current["step"]),
                    rx.cond(
                        DocumentState.current["error"] != "",
                        rx.text(DocumentState.current["error"], color_scheme="red", size="2"),
                    ),
                    align="center",
                ),
            ),
            rx.cond(
                DocumentState.has_file,
                rx.button(
                    # A plain <a> (a file needs a real request, not a client-side route)
                    # that looks like a button: one element, one tab stop.
                    rx.el.a(
                        rx.icon("download", size=16),
                        "Download the original",
                        href=DocumentState.download_url,
                        download=True,
                        # Links are client-side routes by default; a file needs a real request.
                        reload_document=True,
                        id="download",
                    ),
                    as_child=True,
                    size="3",
                ),
            ),
            rx.cond(
                DocumentState.can_curate & (DocumentState.current["warnings"] != ""),
                rx.callout(DocumentState.current["warnings"], icon="info", color_scheme="amber"),
            ),
            # The text first: a search hit opens the page it matched, here.
            _text_viewer(),
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
                _dublin_core(),
                spacing="6",
                wrap="wrap",
                align="start",
            ),
            rx.cond(DocumentState.can_curate & ~RecordState.editing, _edit_button()),
            rx.cond(RecordState.editing, _edit_form()),
            notice_callout(RecordState.saved),
            error_callout(RecordState.error),
            _cite(),
            _related(),
            notice_callout(DocumentState.notice),
            error_callout(DocumentState.error),
            rx.cond(DocumentState.versions.length() > 0, _versions()),
            rx.cond(DocumentState.can_curate, _new_version_panel()),
            rx.cond(DocumentState.has_file, _file_facts()),
            _history(),
            rx.cond(DocumentState.can_curate, _delete_panel()),
            spacing="4",
            width="100%",
            align="start",
        ),
    )


def _versions() -> rx.Component:
    return rx.vstack(
        rx.heading("Versions", size="4", as_="h2"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("#"),
                    rx.table.column_header_cell("File"),
                    rx.table.column_header_cell("Size"),
                    rx.cond(DocumentState.can_curate, rx.table.column_header_cell("By")),
                    rx.table.column_header_cell("When"),
                    # Visitors see only which version is current, not how each was processed.
                    rx.table.column_header_cell(
                        rx.cond(DocumentState.can_curate, "Status", "Current")
                    ),
                    rx.table.column_header_cell("Download"),
                    rx.cond(DocumentState.can_curate, rx.table.column_header_cell("Restore")),
                )
            ),
            rx.table.body(rx.foreach(DocumentState.versions, _version_row)),
            width="100%",
        ),
        spacing="4",
        width="100%",
    )
