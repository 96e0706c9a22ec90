"""One set of human labels for what the library stores as codes: a document's kind (the
type facet and browse list), its file's format (a MIME type), a language. Pages, facets,
browse lists and the API's labels all take theirs from here, so "pdf" is "PDF" everywhere
and "en" is "English" everywhere."""

import mimetypes

from backend.languages import language_name

KINDS = {
    "pdf": "PDF",
    "docx": "Word",
    "odt": "OpenDocument",
    "epub": "EPUB",
    "html": "HTML",
    "text": "Text",
    "markdown": "Markdown",
    "rtf": "RTF",
    "email": "E-mail",
    "image": "Image",
    "spreadsheet": "Spreadsheet",
    "presentation": "Presentation",
    "wordperfect": "WordPerfect",
    "xml": "XML",
    "ebook": "E-book",
    "record": "Record (no file)",
    "other": "Other",
}

FORMATS = {
    "application/pdf": "PDF document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "Word document (DOCX)"
    ),
    "application/msword": "Word 97–2003 document (DOC)",
    "application/vnd.oasis.opendocument.text": "OpenDocument text (ODT)",
    "application/epub+zip": "EPUB e-book",
    "text/html": "Web page (HTML)",
    "application/xhtml+xml": "Web page (XHTML)",
    "text/plain": "Plain text",
    "text/markdown": "Markdown text",
    "text/csv": "Table (CSV)",
    "text/rtf": "Rich Text (RTF)",
    "application/rtf": "Rich Text (RTF)",
    "message/rfc822": "E-mail message (EML)",
    "application/vnd.ms-outlook": "Outlook message (MSG)",
    "application/vnd.wordperfect": "WordPerfect document",
    "application/vnd.ms-excel": "Excel 97–2003 spreadsheet (XLS)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (
        "Excel spreadsheet (XLSX)"
    ),
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument spreadsheet (ODS)",
    "application/vnd.ms-powerpoint": "PowerPoint 97–2003 presentation (PPT)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "PowerPoint presentation (PPTX)"
    ),
    "application/vnd.oasis.opendocument.presentation": "OpenDocument presentation (ODP)",
    "text/xml": "XML document",
    "application/xml": "XML document",
    "application/x-fictionbook+xml": "FictionBook e-book (FB2)",
    "image/jpeg": "JPEG image",
    "image/png": "PNG image",
    "image/tiff": "TIFF image",
    "image/webp": "WebP image",
    "image/gif": "GIF image",
    "image/heic": "HEIC photo",
    "image/heif": "HEIF photo",
    "image/svg+xml": "SVG drawing",
    "image/bmp": "BMP image",
}


def kind(code: str) -> str:
    """ "PDF" for "pdf": a document's kind, as the type facet and browse list show it."""
    return KINDS.get(code) or code.replace("_", " ").capitalize()


def file_format(mime: str) -> str:
    """ "PDF document" for application/pdf; for a type not named here, its usual
    extension ("XYZ file"), else the MIME type itself."""
    base = mime.split(";")[0].strip().lower()
    if base in FORMATS:
        return FORMATS[base]
    extension = mimetypes.guess_extension(base) if base else None
    if extension:
        return f"{extension.lstrip('.').upper()} file"
    return base or "Unknown"


def language(code: str) -> str:
    """ "English" for "en" (any ISO 639 code); the code itself when it names none."""
    return language_name(code)


def facet(name: str, value: str) -> str:
    """What a person reads for a value of a facet or browse classifier: kinds and
    languages are kept as codes and shown by name; the others are shown as kept."""
    if name == "type":
        return kind(value)
    if name == "language":
        return language(value)
    return value
