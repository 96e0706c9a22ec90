"""Text extraction by MIME type. Pages are kept where the format has them."""

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
MAX_TEXT_CHARS = 20_000_000
# Private-use characters mark highlights in snippets; none may come from a document.
_MARKERS = str.maketrans({"\ue000": " ", "\ue001": " ", "\x00": " "})


@dataclass
class Extracted:
    pages: list[str]
    title: str = ""
    warnings: list[str] = field(default_factory=list)


class ExtractionError(Exception):
    """The file cannot be read; the message is shown to the librarian."""


def _clean(text: str) -> str:
    # NFKC folds ligatures ("ﬁ" -> "fi") so the words can be found.
    return unicodedata.normalize("NFKC", text).translate(_MARKERS)


def extract_pdf(path: Path) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    return Extracted(pages=[], warnings=["encrypted: no text"])
            except Exception:
                return Extracted(pages=[], warnings=["encrypted: no text"])
        pages = []
        total = 0
        for page in reader.pages:
            try:
                text = page.extract_text() or ""
            except Exception as exc:  # one broken page must not lose the others
                log.warning("page text failed in %s: %s", path.name, exc)
                text = ""
            total += len(text)
            if total > MAX_TEXT_CHARS:
                break
            pages.append(_clean(text))
        title = ""
        try:
            meta = reader.metadata
            title = str(meta.title or "") if meta else ""
        except Exception:
            title = ""
        return Extracted(pages=pages, title=_clean(title).strip())
    except PdfReadError as exc:
        raise ExtractionError(f"The PDF is damaged and cannot be read ({exc}).") from exc


def extract_text(path: Path) -> Extracted:
    raw = path.read_bytes()[:MAX_TEXT_CHARS]
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = raw.decode("cp1252", errors="replace")
    return Extracted(pages=[_clean(text)])


EXTRACTORS: dict[str, Callable[[Path], Extracted]] = {
    "application/pdf": extract_pdf,
    "text/plain": extract_text,
    "text/markdown": extract_text,
}
