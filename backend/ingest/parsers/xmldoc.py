"""XML documents: any XML (TEI, JATS, DocBook, data), FictionBook e-books and SVG drawings.

Every one is parsed by lxml with entities left unresolved, no DTD loaded and no network
(an XML bomb or an external entity reads nothing), from at most MAX_TEXT_BYTES.
- XML: the text of its elements (not comments or processing instructions); the title is
  the first element named title (TEI's titleStmt, JATS's article-title, DocBook's title).
- FictionBook 2: the book's own description (title, authors, genres, language,
  annotation, date, publisher), one page per section of the main body, notes last, and the
  cover image the book carries (base64 in a <binary>).
- SVG: its title, description and drawn text; the picture rendered by CairoSVG in its
  safe mode (no file and no URL is fetched: only data: images inside the file).
"""

import base64
import io
from pathlib import Path
from typing import Any

from lxml import etree

from backend.ingest.parsers.base import Parsed, ParseError, clean_text, split_keywords

MAX_TEXT_BYTES = 50 * 1024 * 1024
FB2 = "application/x-fictionbook+xml"
SVG = "image/svg+xml"
XML = "text/xml"
SVG_WIDTH = 1200  # px: the rendered picture, from which the thumbnails are made
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)
_XLINK = "{http://www.w3.org/1999/xlink}href"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _root(path: Path, what: str) -> Any:
    with path.open("rb") as fh:
        raw = fh.read(MAX_TEXT_BYTES + 1)
    if len(raw) > MAX_TEXT_BYTES:
        raise ParseError(f"The {what} is larger than the {MAX_TEXT_BYTES >> 20} MB read.")
    try:
        return etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"The {what} cannot be read as XML ({exc}).") from exc


def _name(element: Any) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _text(element: Any) -> str:
    """The words of an element, a space between those of neighbouring elements."""
    parts = []
    for node in element.iter(etree.Element):
        if node.text and node.text.strip():
            parts.append(node.text.strip())
        if node is not element and node.tail and node.tail.strip():
            parts.append(node.tail.strip())
    return " ".join(parts)


def _lines(element: Any) -> str:
    """Like _text, but each paragraph-like element on its own line."""
    out: list[str] = []
    for node in element.iter(etree.Element):
        if _name(node) in ("p", "v", "subtitle", "text-author") and _text(node):
            out.append(_text(node))
    return "\n".join(out) if out else _text(element)


def _first(root: Any, *names: str) -> Any:
    """The first element so named under `root` (None when there is none, or no root)."""
    if root is None:
        return None
    for node in root.iter(etree.Element):
        if _name(node) in names:
            return node
    return None


def parse_xml(path: Path, **_: Any) -> Parsed:
    root = _root(path, "XML file")
    title = _first(root, "title", "article-title", "book-title")
    return Parsed(
        pages=[clean_text(_text(root))],
        meta={
            "title": _text(title)[:300] if title is not None else "",
            "language_declared": root.get(_XML_LANG, ""),
        },
    )


def parse_fb2(path: Path, **_: Any) -> Parsed:
    root = _root(path, "FictionBook file")
    info = _first(root, "title-info")
    publish = _first(root, "publish-info")

    def field(parent: Any, name: str) -> str:
        node = _first(parent, name)
        return _text(node) if node is not None else ""

    authors = []
    for author in _all(info, "author"):
        names = [field(author, n) for n in ("first-name", "middle-name", "last-name")]
        authors.append(" ".join(n for n in names if n) or field(author, "nickname"))
    date = field(info, "date")
    date_node = _first(info, "date")
    if date_node is not None and date_node.get("value"):
        date = date_node.get("value")
    pages: list[str] = []
    notes: list[str] = []
    for body in (n for n in root if _name(n) == "body"):
        sections = [s for s in body if _name(s) == "section"] or [body]
        texts = [clean_text(_lines(s)) for s in sections]
        (notes if body.get("name") == "notes" else pages).extend(t for t in texts if t.strip())
    cover = None
    image = _first(_first(info, "coverpage"), "image")  # a book may have no cover
    if image is not None:
        wanted = (image.get(_XLINK) or image.get("href") or "").lstrip("#")
        for binary in (n for n in root if _name(n) == "binary"):
            if binary.get("id") == wanted and binary.text:
                try:
                    cover = base64.b64decode(binary.text, validate=False)
                except ValueError:
                    cover = None
                break
    return Parsed(
        pages=[*pages, *notes] or [""],
        meta={
            "title": field(info, "book-title"),
            "authors": [a for a in authors if a],
            "subjects": [g for n in _all(info, "genre") if (g := _text(n))],
            "language_declared": field(info, "lang"),
            "description": field(info, "annotation"),
            "created": date[:10],
            "publisher": field(publish, "publisher"),
            "keywords": split_keywords(field(info, "keywords")),
        },
        cover=cover,
    )


def _all(parent: Any, name: str) -> list[Any]:
    if parent is None:
        return []
    return [n for n in parent.iter(etree.Element) if _name(n) == name]


def parse_svg(path: Path, **_: Any) -> Parsed:
    root = _root(path, "SVG drawing")
    if _name(root) != "svg":
        raise ParseError("The file is XML but not an SVG drawing (its root is not <svg>).")
    title = _first(root, "title")
    words = [_text(n) for n in root.iter(etree.Element) if _name(n) in ("title", "desc", "text")]
    warnings = []
    cover = None
    for entity in list(root.iter(etree.Entity)):  # left unresolved: drawn as nothing
        _drop(entity)
    try:
        import cairosvg

        # Safe mode (unsafe=False): no entity, no file, no URL; data: images only.
        png = cairosvg.svg2png(
            bytestring=etree.tostring(root), output_width=SVG_WIDTH, unsafe=False
        )
        from PIL import Image

        cover = Image.open(io.BytesIO(png))
        cover.load()
    except Exception as exc:  # a drawing CairoSVG cannot render: the text is still read
        warnings.append(f"The drawing could not be rendered for its picture ({exc}).")
    return Parsed(
        pages=[clean_text("\n".join(w for w in words if w))],
        meta={"title": _text(title)[:300] if title is not None else ""},
        warnings=warnings,
        cover=cover,
    )


def _drop(node: Any) -> None:
    """Remove a node, keeping the text that follows it."""
    parent = node.getparent()
    if parent is None:
        return
    if node.tail:
        previous = node.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + node.tail
        else:
            parent.text = (parent.text or "") + node.tail
    parent.remove(node)
