"""Type from content (libmagic), checked against the allow-list and the file's extension."""

from dataclasses import dataclass
from pathlib import PurePosixPath

import magic

# MIME type -> extensions a file of that type may carry.
ALLOWED: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({".pdf"}),
    "text/plain": frozenset({".txt", ".text", ".md", ".markdown", ""}),
    "text/markdown": frozenset({".md", ".markdown", ".txt"}),
}


@dataclass(frozen=True)
class Sniffed:
    mime_type: str
    error: str = ""


def sniff(head: bytes, filename: str) -> Sniffed:
    mime = magic.from_buffer(head, mime=True)
    ext = PurePosixPath(filename.lower()).suffix
    if mime not in ALLOWED:
        return Sniffed(mime, f"Files of type {mime} are not accepted.")
    if ext not in ALLOWED[mime]:
        return Sniffed(
            mime, f"The content is {mime}, which does not match the extension {ext or '(none)'}."
        )
    return Sniffed(mime)
