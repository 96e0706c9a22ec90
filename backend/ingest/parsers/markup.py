"""HTML (selectolax), EPUB (ebooklib, chapter by chapter), plain text, Markdown and RTF."""

from pathlib import Path
from typing import Any

from backend.ingest.parsers.base import Parsed, ParseError, clean_text, split_keywords, split_people
from backend.ingest.parsers.encoding import decode
from backend.ingest.parsers.zipguard import check_zip

MAX_TEXT_BYTES = 64 << 20


def _read_limited(path: Path) -> bytes:
    with path.open("rb") as fh:
        raw = fh.read(MAX_TEXT_BYTES + 1)
    return raw[:MAX_TEXT_BYTES]


def html_text(markup: str) -> tuple[str, dict[str, Any]]:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    meta: dict[str, Any] = {}
    title = tree.css_first("title")
    if title is not None:
        meta["title"] = title.text(strip=True)
    for node in tree.css("meta[name]"):
        name = (node.attributes.get("name") or "").lower()
        content = node.attributes.get("content") or ""
        if name == "author":
            meta["authors"] = split_people(content)
        elif name == "keywords":
            meta["subjects"] = split_keywords(content)
        elif name == "description":
            meta["description"] = content
    for node in tree.css("script, style, noscript, template, svg"):
        node.decompose()
    body = tree.body or tree.root
    text = body.text(separator="\n", strip=True) if body is not None else ""
    return text, meta


def parse_html(path: Path, **_: Any) -> Parsed:
    text, meta = html_text(decode(_read_limited(path)))
    return Parsed(pages=[clean_text(text)], meta=meta)


def parse_text(path: Path, **_: Any) -> Parsed:
    text = decode(_read_limited(path))
    if not text.strip():
        raise ParseError("The file holds no text: only spaces or blank lines.")
    # A Markdown level-one heading on the first line is the title.
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    meta = {"title": first[2:].strip()[:300]} if first.startswith("# ") else {}
    # A form feed ends a page (as printers, pdftotext and old word processors have it).
    pages = [clean_text(page) for page in text.split("\f")]
    while len(pages) > 1 and not pages[-1].strip():
        pages.pop()
    return Parsed(pages=pages, meta=meta)


def parse_rtf(path: Path, **_: Any) -> Parsed:
    from striprtf.striprtf import rtf_to_text

    # RTF is 7-bit: its own escapes carry every other character, and its code page
    # directive (read by striprtf) says what the hex-escaped bytes mean.
    raw = _read_limited(path).decode("latin-1")
    try:
        text = rtf_to_text(raw, errors="ignore")
    except Exception as exc:
        raise ParseError(f"The RTF file cannot be read ({type(exc).__name__}: {exc}).") from exc
    return Parsed(pages=[clean_text(join_surrogates(text))])


def join_surrogates(text: str) -> str:
    """Characters outside the Basic Multilingual Plane, which RTF writes as two Unicode
    escapes (a UTF-16 surrogate pair), as one character; a lone half becomes U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def parse_epub(path: Path, *, max_unpacked: int, max_files: int, **_: Any) -> Parsed:
    import ebooklib
    from ebooklib import epub

    check_zip(path, max_unpacked=max_unpacked, max_files=max_files).close()
    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": True})
    except Exception as exc:
        raise ParseError(f"The EPUB file cannot be read ({exc}).") from exc

    def dc(name: str) -> list[str]:
        return [str(v[0]) for v in book.get_metadata("DC", name) if v and v[0]]

    pages = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        text, _ = html_text(decode(item.get_content()))
        if text.strip():
            pages.append(clean_text(text))
    cover = None
    covers = list(book.get_items_of_type(ebooklib.ITEM_COVER))
    if not covers:
        covers = [
            i
            for i in book.get_items_of_type(ebooklib.ITEM_IMAGE)
            if "cover" in i.get_name().lower()
        ]
    if covers:
        cover = covers[0].get_content()
    return Parsed(
        pages=pages,
        meta={
            "title": (dc("title") or [""])[0],
            "authors": dc("creator"),
            "subjects": dc("subject"),
            "description": (dc("description") or [""])[0],
            "publisher": (dc("publisher") or [""])[0],
            "created": (dc("date") or [""])[0][:10],
            "language_declared": (dc("language") or [""])[0],
        },
        cover=cover,
    )
