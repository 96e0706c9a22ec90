"""The text of a DOCX, read from its XML parts as Word lays them out.

python-docx gives the body's top-level paragraphs and tables; a library needs everything a
reader sees and a search should find:
- the body in document order: paragraphs, tables (a row a line, cells apart, nested
  tables too), content controls, text boxes and shapes (once: the drawing, not its VML
  fallback), tracked insertions (deletions are gone), ruby text (the base, then the ruby);
- headers and footers (each different one once), footnotes, endnotes and comments (with
  their author);
- parts embedded whole (altChunk: an HTML, text or RTF part pasted into the document).
"""

import zipfile
from collections.abc import Iterator
from posixpath import dirname, join, normpath

from lxml import etree

from backend.ingest.parsers.base import ParseError
from backend.ingest.parsers.zipguard import read_member

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
REL = "http://schemas.openxmlformats.org/package/2006/relationships"
RID = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
PART_LIMIT = 256 << 20


def _w(name: str) -> str:
    return f"{{{W}}}{name}"


P, TBL, TR, TC, T, TAB, BR, CR = (_w(n) for n in ("p", "tbl", "tr", "tc", "t", "tab", "br", "cr"))
SDT, SDT_CONTENT, TXBX, DEL, RT, RUBY_BASE = (
    _w(n) for n in ("sdt", "sdtContent", "txbxContent", "del", "rt", "rubyBase")
)
NB_HYPHEN, SOFT_HYPHEN, RUBY = _w("noBreakHyphen"), _w("softHyphen"), _w("ruby")
FALLBACK = f"{{{MC}}}Fallback"
SKIPPED = {DEL, FALLBACK, _w("instrText"), _w("delInstrText")}


def _runs_text(node: etree._Element, boxes: list[etree._Element]) -> str:
    """A paragraph's own text; text boxes met on the way are kept aside in `boxes`."""
    out: list[str] = []
    for child in node:
        tag = child.tag
        if not isinstance(tag, str) or tag in SKIPPED:
            continue
        if tag == TXBX:
            boxes.append(child)
        elif tag == T:
            out.append(child.text or "")
        elif tag == TAB:
            out.append("\t")
        elif tag in (BR, CR):
            out.append("\n")
        elif tag == NB_HYPHEN:
            out.append("-")
        elif tag == RUBY:
            base = "".join(
                _runs_text(b, boxes) for b in child.iter(RUBY_BASE) if isinstance(b.tag, str)
            )
            ruby = "".join(_runs_text(r, boxes) for r in child.iter(RT))
            out.append(f"{base} ({ruby})" if ruby and base else base or ruby)
        elif tag != SOFT_HYPHEN:
            out.append(_runs_text(child, boxes))
    return "".join(out)


def _blocks(node: etree._Element) -> Iterator[str]:
    """Lines of a body, a cell, a header, a note or a text box, in reading order."""
    for child in node:
        tag = child.tag
        if not isinstance(tag, str) or tag in SKIPPED:
            continue
        if tag == P:
            boxes: list[etree._Element] = []
            text = _runs_text(child, boxes)
            if text.strip():
                yield text
            for box in boxes:
                yield from _blocks(box)
        elif tag == TBL:
            for row in child.iter(TR):
                if row.getparent() is not None and _table_of(row) is not child:
                    continue  # a nested table's row: its cell reads it
                cells = [
                    " ".join(_blocks(cell)).strip()
                    for cell in row
                    if (cell.tag == TC or cell.tag == SDT) and not _merged_away(cell)
                ]
                line = " | ".join(c for c in cells if c)
                if line:
                    yield line
        else:  # content controls, smart tags, custom XML, insertions: what they hold
            yield from _blocks(child)


def _merged_away(cell: etree._Element) -> bool:
    """A cell that continues a vertical merge: Word shows the first cell's text only."""
    merge = cell.find(f"{_w('tcPr')}/{_w('vMerge')}")
    return merge is not None and merge.get(_w("val"), "continue") != "restart"


def _table_of(row: etree._Element) -> etree._Element | None:
    node = row.getparent()
    while node is not None and node.tag != TBL:
        node = node.getparent()
    return node


def _xml(archive: zipfile.ZipFile, name: str) -> etree._Element:
    try:
        return etree.fromstring(read_member(archive, name, PART_LIMIT), _SAFE_XML)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"The DOCX part {name} is damaged ({exc}).") from exc


def _relations(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """id -> (type, target part) of a part's relationships."""
    rels = join(dirname(part), "_rels", part.rsplit("/", 1)[-1] + ".rels")
    if rels not in archive.namelist():
        return {}
    root = _xml(archive, rels)
    found = {}
    for rel in root.iter(f"{{{REL}}}Relationship"):
        if rel.get("TargetMode") == "External":
            continue
        target = normpath(join(dirname(part), rel.get("Target", ""))).lstrip("/")
        found[rel.get("Id", "")] = (rel.get("Type", "").rsplit("/", 1)[-1], target)
    return found


def _main_part(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    if "_rels/.rels" in names:
        for rel_type, target in _relations_root(archive).values():
            if rel_type == "officeDocument" and target in names:
                return target
    if "word/document.xml" in names:
        return "word/document.xml"
    raise ParseError("The DOCX file has no document part: it is damaged.")


def _relations_root(archive: zipfile.ZipFile) -> dict[str, tuple[str, str]]:
    root = _xml(archive, "_rels/.rels")
    return {
        rel.get("Id", ""): (
            rel.get("Type", "").rsplit("/", 1)[-1],
            rel.get("Target", "").lstrip("/"),
        )
        for rel in root.iter(f"{{{REL}}}Relationship")
    }


def _notes(archive: zipfile.ZipFile, part: str, tag: str) -> list[str]:
    root = _xml(archive, part)
    lines = []
    for note in root.iter(_w(tag)):
        if note.get(_w("type")) in ("separator", "continuationSeparator", "continuationNotice"):
            continue
        text = " ".join(_blocks(note)).strip()
        if text:
            lines.append(text)
    return lines


def _comments(archive: zipfile.ZipFile, part: str) -> list[str]:
    root = _xml(archive, part)
    lines = []
    for comment in root.iter(_w("comment")):
        text = " ".join(_blocks(comment)).strip()
        if text:
            author = comment.get(_w("author"), "")
            lines.append(f"{author}: {text}" if author else text)
    return lines


def _chunk(archive: zipfile.ZipFile, part: str) -> str:
    """An altChunk part: HTML (or MHT), plain text or RTF pasted into the document whole."""
    from backend.ingest.parsers.encoding import decode
    from backend.ingest.parsers.markup import html_text

    raw = read_member(archive, part, PART_LIMIT)
    lower = part.lower()
    if lower.endswith((".htm", ".html", ".mht", ".mhtml", ".xhtml")) or b"<html" in raw[:4096]:
        return html_text(decode(raw))[0]
    if lower.endswith(".rtf") or raw.startswith(b"{\\rtf"):
        from striprtf.striprtf import rtf_to_text

        return str(rtf_to_text(raw.decode("latin-1"), errors="ignore"))
    return decode(raw)


def docx_text(archive: zipfile.ZipFile) -> str:
    main = _main_part(archive)
    root = _xml(archive, main)
    rels = _relations(archive, main)
    body = root.find(_w("body"))
    sections: list[str] = ["\n".join(_blocks(body if body is not None else root))]
    chunks = [
        _chunk(archive, rels[c.get(f"{{{RID}}}id", "")][1])
        for c in root.iter(_w("altChunk"))
        if c.get(f"{{{RID}}}id", "") in rels
        and rels[c.get(f"{{{RID}}}id", "")][1] in archive.namelist()
    ]
    sections += [c for c in chunks if c.strip()]
    seen: set[str] = set()
    margins: list[str] = []
    for kind in ("header", "footer"):
        for rel_type, target in sorted(rels.values(), key=lambda r: r[1]):
            if rel_type == kind and target in archive.namelist():
                text = "\n".join(_blocks(_xml(archive, target))).strip()
                if text and text not in seen:
                    seen.add(text)
                    margins.append(text)
    if margins:
        sections.append("Headers and footers:\n" + "\n".join(margins))
    for rel_type, heading, tag in (
        ("footnotes", "Footnotes", "footnote"),
        ("endnotes", "Endnotes", "endnote"),
    ):
        for kind, target in rels.values():
            if kind == rel_type and target in archive.namelist():
                notes = _notes(archive, target, tag)
                if notes:
                    sections.append(f"{heading}:\n" + "\n".join(notes))
    for kind, target in rels.values():
        if kind == "comments" and target in archive.namelist():
            comments = _comments(archive, target)
            if comments:
                sections.append("Comments:\n" + "\n".join(comments))
    return "\n\n".join(s for s in sections if s.strip())
