"""DOCX (python-docx) and ODT (its XML read directly), after the zip limits are checked."""

from pathlib import Path
from typing import Any

from lxml import etree

from backend.ingest.parsers.base import (
    PASSWORD_REASON,
    Parsed,
    ParseError,
    PasswordRequired,
    clean_text,
    split_keywords,
)
from backend.ingest.parsers.zipguard import check_zip, read_member

_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse_docx(path: Path, *, max_unpacked: int, max_files: int, **_: Any) -> Parsed:
    import docx

    from backend.ingest.parsers.wordml import docx_text

    with check_zip(path, max_unpacked=max_unpacked, max_files=max_files) as archive:
        text = docx_text(archive)
    try:
        core = docx.Document(str(path)).core_properties
    except Exception as exc:
        raise ParseError(f"The DOCX file cannot be read ({exc}).") from exc
    return Parsed(
        cover=_embedded_thumbnail(path, ("docProps/thumbnail.jpeg", "docProps/thumbnail.png")),
        pages=[clean_text(text)],
        meta={
            "title": core.title or "",
            "authors": [core.author] if core.author else [],
            "subjects": split_keywords(core.keywords or ""),
            "description": core.subject or core.comments or "",
            "created": core.created.date().isoformat() if core.created else "",
            "modified": core.modified.date().isoformat() if core.modified else "",
        },
    )


_ODF = {
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def parse_odt(path: Path, *, max_unpacked: int, max_files: int, **_: Any) -> Parsed:
    archive = check_zip(path, max_unpacked=max_unpacked, max_files=max_files)
    with archive:
        names = set(archive.namelist())
        if "content.xml" not in names:
            raise ParseError("The ODT file has no content.xml: it is damaged.")
        if "META-INF/manifest.xml" in names:
            manifest = read_member(archive, "META-INF/manifest.xml", 1 << 20)
            if b"encryption-data" in manifest:
                raise PasswordRequired(PASSWORD_REASON.format(what="document"))
        try:
            content = etree.fromstring(read_member(archive, "content.xml", max_unpacked), _SAFE_XML)
            meta_xml = (
                etree.fromstring(read_member(archive, "meta.xml", 1 << 20), _SAFE_XML)
                if "meta.xml" in names
                else None
            )
        except etree.XMLSyntaxError as exc:
            raise ParseError(f"The ODT file's XML is damaged ({exc}).") from exc
    paragraphs = [
        "".join(el.itertext())
        for el in content.iter(f"{{{_ODF['text']}}}p", f"{{{_ODF['text']}}}h")
    ]
    meta: dict[str, Any] = {}
    if meta_xml is not None:

        def first(tag: str) -> str:
            found = meta_xml.find(f".//{tag}", _ODF)
            return (found.text or "") if found is not None else ""

        meta = {
            "title": first("dc:title"),
            "authors": [a for a in [first("meta:initial-creator") or first("dc:creator")] if a],
            "subjects": [k.text for k in meta_xml.iterfind(".//meta:keyword", _ODF) if k.text],
            "description": first("dc:description") or first("dc:subject"),
            "created": first("meta:creation-date")[:10],
            "modified": first("dc:date")[:10],
        }
    return Parsed(
        pages=[clean_text("\n".join(paragraphs))],
        meta=meta,
        cover=_embedded_thumbnail(path, ("Thumbnails/thumbnail.png",)),
    )


def _embedded_thumbnail(path: Path, names: tuple[str, ...]) -> bytes | None:
    """The preview picture that office suites store inside the file, if any."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        present = set(archive.namelist())
        for name in names:
            if name in present:
                return read_member(archive, name, 8 << 20)
    return None
