"""Type from content (libmagic), checked against the allow-list and the file's extension."""

from dataclasses import dataclass
from pathlib import PurePosixPath

import magic

from backend.ingest.parsers import DOCX, EPUB, ODT

# MIME type -> extensions a file of that type may carry.
ALLOWED: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({".pdf"}),
    DOCX: frozenset({".docx"}),
    ODT: frozenset({".odt"}),
    EPUB: frozenset({".epub"}),
    "text/html": frozenset({".html", ".htm", ".xhtml"}),
    "text/plain": frozenset({".txt", ".text", ".md", ".markdown", ".csv", ""}),
    "text/markdown": frozenset({".md", ".markdown", ".txt"}),
    "text/rtf": frozenset({".rtf"}),
    "image/jpeg": frozenset({".jpg", ".jpeg", ".jpe", ".mpo"}),
    "image/png": frozenset({".png", ".apng"}),
    "image/tiff": frozenset({".tif", ".tiff"}),
    "image/webp": frozenset({".webp"}),
    "image/gif": frozenset({".gif"}),
}
# Names libmagic uses for the same types.
ALIASES = {
    "application/rtf": "text/rtf",
    "text/x-markdown": "text/markdown",
    "application/xhtml+xml": "text/html",
}
LABELS = {
    "application/octet-stream": "unrecognised binary data",
    "application/zip": "a ZIP archive",
    "image/vnd.adobe.photoshop": "a Photoshop image",
    "image/jp2": "a JPEG 2000 image",
    "image/bmp": "a BMP image",
    "image/heic": "a HEIC image",
}


@dataclass(frozen=True)
class Sniffed:
    mime_type: str
    error: str = ""


def sniff(head: bytes, filename: str) -> Sniffed:
    mime = magic.from_buffer(head, mime=True)
    mime = ALIASES.get(mime, mime)
    ext = PurePosixPath(filename.lower()).suffix
    if mime not in ALLOWED:
        label = LABELS.get(mime, mime)
        accepted = "PDF, DOCX, ODT, EPUB, HTML, text, Markdown, RTF, JPEG, PNG, TIFF, WebP, GIF"
        return Sniffed(
            mime, f"Files of this type ({label}) are not accepted. Accepted: {accepted}."
        )
    if ext not in ALLOWED[mime]:
        return Sniffed(
            mime, f"The content is {mime}, which does not match the extension {ext or '(none)'}."
        )
    return Sniffed(mime)
