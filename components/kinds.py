"""A document's kind (pdf, image, …) as an icon, the same on every page."""

import reflex as rx

# Lucide icons by kind (backend.labels.KINDS); anything else is a plain file.
ICONS = {
    "pdf": "file-text",
    "docx": "file-text",
    "odt": "file-text",
    "rtf": "file-text",
    "wordperfect": "file-text",
    "text": "file-type",
    "markdown": "file-type",
    "xml": "file-code",
    "html": "globe",
    "epub": "book-open",
    "ebook": "book-open",
    "email": "mail",
    "image": "image",
    "spreadsheet": "sheet",
    "presentation": "presentation",
    "record": "library",
}


def kind_icon(kind: rx.Var, size: int = 16) -> rx.Component:
    """The kind's icon, hidden from screen readers (the kind is written beside it)."""
    return rx.match(
        kind,
        *((name, rx.icon(icon, size=size, aria_hidden="true")) for name, icon in ICONS.items()),
        rx.icon("file", size=size, aria_hidden="true"),
    )
