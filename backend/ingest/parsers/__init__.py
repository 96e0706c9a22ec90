"""Parsers chosen by MIME type; each returns pages of text, metadata and a cover image."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.ingest.parsers.base import Parsed, ParseError
from backend.ingest.parsers.image import parse_image
from backend.ingest.parsers.markup import parse_epub, parse_html, parse_rtf, parse_text
from backend.ingest.parsers.message import parse_eml, parse_msg
from backend.ingest.parsers.office import parse_docx, parse_odt
from backend.ingest.parsers.pdf import parse_pdf
from backend.ingest.parsers.xmldoc import FB2, SVG, XML, parse_fb2, parse_svg, parse_xml

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
EPUB = "application/epub+zip"
EML = "message/rfc822"
MSG = "application/vnd.ms-outlook"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
WPD = "application/vnd.wordperfect"
# Formats read through LibreOffice (backend.ingest.office_suite): turned into PDF by the
# worker, then read by parse_pdf, with the properties of the file itself as its record.
CONVERTED = {
    DOC: "Word 97-2003 document (.doc)",
    XLS: "Excel 97-2003 workbook (.xls)",
    PPT: "PowerPoint 97-2003 presentation (.ppt)",
    XLSX: "Excel workbook (.xlsx)",
    PPTX: "PowerPoint presentation (.pptx)",
    ODS: "OpenDocument spreadsheet (.ods)",
    ODP: "OpenDocument presentation (.odp)",
    WPD: "WordPerfect document (.wpd)",
}

PARSERS: dict[str, Callable[..., Parsed]] = {
    "application/pdf": parse_pdf,
    DOCX: parse_docx,
    ODT: parse_odt,
    EPUB: parse_epub,
    "text/html": parse_html,
    "text/plain": parse_text,
    "text/markdown": parse_text,
    "text/rtf": parse_rtf,
    EML: parse_eml,
    MSG: parse_msg,
    "image/jpeg": parse_image,
    "image/png": parse_image,
    "image/tiff": parse_image,
    "image/webp": parse_image,
    "image/gif": parse_image,
    "image/heic": parse_image,
    "image/heif": parse_image,
    XML: parse_xml,
    FB2: parse_fb2,
    SVG: parse_svg,
}


def parse(path: Path, mime: str, **limits: Any) -> Parsed:
    parser = PARSERS.get(mime)
    if parser is None:
        raise ParseError(f"No parser reads {mime}.")
    return parser(path, **limits)


__all__ = ["CONVERTED", "PARSERS", "Parsed", "ParseError", "parse"]
