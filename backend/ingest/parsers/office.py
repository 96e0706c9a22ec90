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
    return Parsed(
        pages=[clean_text("\n".join(paragraphs))],
        meta=_odf_meta(meta_xml) if meta_xml is not None else {},
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


def _odf_meta(meta_xml: Any) -> dict[str, Any]:
    def first(tag: str) -> str:
        found = meta_xml.find(f".//{tag}", _ODF)
        return (found.text or "") if found is not None else ""

    return {
        "title": first("dc:title"),
        "authors": [a for a in [first("meta:initial-creator") or first("dc:creator")] if a],
        "subjects": [k.text for k in meta_xml.iterfind(".//meta:keyword", _ODF) if k.text],
        "description": first("dc:description") or first("dc:subject"),
        "created": first("meta:creation-date")[:10],
        "modified": first("dc:date")[:10],
    }


_OOXML_CORE = {
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
}


def office_properties(path: Path) -> dict[str, Any]:
    """The title, authors, keywords and dates an office file keeps about itself, whatever
    the format: an OLE container's summary (Word, Excel, PowerPoint 97-2003), an OOXML
    package's docProps/core.xml, an ODF package's meta.xml. Empty when there is none; never
    raises for a damaged file (the conversion says what is wrong with it)."""
    import zipfile

    import olefile

    try:
        if olefile.isOleFile(str(path)):
            with olefile.OleFileIO(str(path)) as ole:
                return _ole_meta(ole.get_metadata())
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "meta.xml" in names:
                return _odf_meta(
                    etree.fromstring(read_member(archive, "meta.xml", 1 << 20), _SAFE_XML)
                )
            if "docProps/core.xml" in names:
                core = etree.fromstring(
                    read_member(archive, "docProps/core.xml", 1 << 20), _SAFE_XML
                )
                return _ooxml_meta(core)
    except Exception:  # noqa: BLE001 - a damaged file's properties are simply absent
        return {}
    return {}


def _ooxml_meta(core: Any) -> dict[str, Any]:
    def first(tag: str) -> str:
        found = core.find(tag, _OOXML_CORE)
        return (found.text or "").strip() if found is not None else ""

    return {
        "title": first("dc:title"),
        "authors": [a for a in [first("dc:creator")] if a],
        "subjects": split_keywords(first("cp:keywords")),
        "description": first("dc:subject") or first("dc:description"),
        "created": first("dcterms:created")[:10],
        "modified": first("dcterms:modified")[:10],
    }


def _ole_meta(summary: Any) -> dict[str, Any]:
    page = (summary.codepage or 0) & 0xFFFF
    encoding = {65001: "utf-8", 1200: "utf-16-le", 0: "cp1252"}.get(page, f"cp{page}")

    def text(value: Any) -> str:
        if isinstance(value, bytes):
            try:
                return value.decode(encoding).strip("\0 ")
            except (LookupError, UnicodeDecodeError):
                return value.decode("cp1252", "replace").strip("\0 ")
        return str(value or "").strip()

    def day(value: Any) -> str:
        # An unset date is the OLE epoch (1601); none before printing is plausible.
        return value.date().isoformat() if value is not None and value.year >= 1900 else ""

    return {
        "title": text(summary.title),
        "authors": [a for a in [text(summary.author)] if a],
        "subjects": split_keywords(text(summary.keywords)),
        "description": text(summary.subject) or text(summary.comments),
        "created": day(summary.create_time),
        "modified": day(summary.last_saved_time),
    }
