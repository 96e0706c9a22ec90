"""What a file is, from its content: libmagic first, then a look inside containers.

libmagic reads the start of a file. That is not enough for the formats a library is sent
most: a DOCX, an XLSX and an EPUB are all ZIP archives, and which one depends on the
archive's entries (`[Content_Types].xml`, `mimetype`, `META-INF/container.xml`), which
libmagic finds only when they happen to come first; a Word 97 document, an Excel sheet and
an Outlook message are all OLE containers, told apart by their streams. So:
- ZIP: the entries decide; an archive that cannot be read is *damaged* (a truncated
  DOCX), which is said as such, not "a ZIP archive is not accepted";
- OLE: the stream names decide (Word, Excel, PowerPoint, Outlook, or an Office file
  encrypted with a password);
- PDF with a few stray bytes before `%PDF` (which readers accept), XHTML that starts with
  an XML declaration, CSV and e-mail, which libmagic names differently.
Then the type must be accepted, and the extension must agree with it.
"""

import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import magic
import olefile

from backend.ingest.parsers import (
    DOC,
    DOCX,
    EML,
    EPUB,
    MSG,
    ODP,
    ODS,
    ODT,
    PPT,
    PPTX,
    WPD,
    XLS,
    XLSX,
)
from backend.ingest.parsers.base import PASSWORD_REASON
from backend.ingest.parsers.encoding import utf16_without_bom
from backend.ingest.parsers.xmldoc import FB2, SVG, XML

HEAD_BYTES = 65536
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")

ENCRYPTED_OFFICE = "application/x-encrypted-office"

# MIME type -> extensions a file of that type may carry.
ALLOWED: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({".pdf"}),
    # A DOCX saved under the old name (.doc) is still read by its content.
    DOCX: frozenset({".docx", ".docm", ".dotx", ".doc"}),
    ODT: frozenset({".odt", ".ott"}),
    EPUB: frozenset({".epub"}),
    "text/html": frozenset({".html", ".htm", ".xhtml", ".xht"}),
    "text/plain": frozenset(
        {
            ".txt",
            ".text",
            ".md",
            ".markdown",
            ".csv",
            ".tsv",
            ".rst",
            ".org",
            ".adoc",
            ".tex",
            ".bib",
            "",
        }
    ),
    "text/markdown": frozenset({".md", ".markdown", ".txt"}),
    "text/rtf": frozenset({".rtf"}),
    # S/MIME messages are saved as .p7m or .p7s too.
    EML: frozenset({".eml", ".mime", ".p7m", ".p7s", ""}),
    MSG: frozenset({".msg"}),
    "image/jpeg": frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"}),
    "image/png": frozenset({".png", ".apng"}),
    "image/tiff": frozenset({".tif", ".tiff"}),
    "image/webp": frozenset({".webp"}),
    "image/gif": frozenset({".gif"}),
    "image/heic": frozenset({".heic", ".heif", ".hif"}),
    "image/heif": frozenset({".heic", ".heif", ".hif"}),
    # Read through LibreOffice (backend.ingest.office_suite).
    DOC: frozenset({".doc", ".dot", ".wbk"}),
    XLS: frozenset({".xls", ".xlt", ".xla"}),
    PPT: frozenset({".ppt", ".pps", ".pot"}),
    # Saved under the old name, as Office itself opens them: by their content.
    XLSX: frozenset({".xlsx", ".xlsm", ".xltx", ".xltm", ".xls"}),
    PPTX: frozenset({".pptx", ".pptm", ".ppsx", ".potx", ".ppt"}),
    ODS: frozenset({".ods", ".ots"}),
    ODP: frozenset({".odp", ".otp"}),
    WPD: frozenset({".wpd", ".wp", ".wp5", ".wp6", ".wpt"}),
    # Read by backend.ingest.parsers.xmldoc.
    XML: frozenset({".xml", ".xsl", ".xslt", ".tei", ".nxml", ".dbk", ".rdf", ".kml"}),
    FB2: frozenset({".fb2", ".xml"}),
    SVG: frozenset({".svg"}),
}
# Text of one kind or another: when the name says which, the name is believed (a Markdown
# file whose code blocks hold HTML is Markdown; an XSLT stylesheet is XML, not HTML).
TEXTUAL = ("text/plain", "text/html", "text/markdown", XML)
# Names libmagic uses for the same types (read as the type on the right).
ALIASES = {
    "application/rtf": "text/rtf",
    "text/x-markdown": "text/markdown",
    "application/xhtml+xml": "text/html",
    "text/csv": "text/plain",
    "text/tab-separated-values": "text/plain",
    "text/x-rst": "text/plain",
    "application/csv": "text/plain",
    "application/xml": XML,
    "image/svg": SVG,
}
LABELS = {
    "application/octet-stream": "unrecognised binary data",
    "application/zip": "a ZIP archive",
    "application/x-ole-storage": "an OLE container (an old Office file of unknown kind)",
    "image/vnd.adobe.photoshop": "a Photoshop image",
    "image/jp2": "a JPEG 2000 image",
    "image/bmp": "a BMP image",
    XLSX: "an Excel workbook (.xlsx)",
    PPTX: "a PowerPoint presentation (.pptx)",
    ODS: "an OpenDocument spreadsheet (.ods)",
    ODP: "an OpenDocument presentation (.odp)",
    DOC: "a Word 97-2003 document (.doc)",
    XLS: "an Excel 97-2003 workbook (.xls)",
    PPT: "a PowerPoint 97-2003 presentation (.ppt)",
    MSG: "an Outlook message (.msg)",
    EML: "an e-mail message (.eml)",
    WPD: "a WordPerfect document (.wpd)",
    "application/pdf": "a PDF document (.pdf)",
    DOCX: "a Word document (.docx)",
    ODT: "an OpenDocument text (.odt)",
    EPUB: "an EPUB book (.epub)",
    "text/html": "an HTML page (.html)",
    "text/plain": "plain text (.txt)",
    "text/markdown": "Markdown text (.md)",
    "text/rtf": "an RTF document (.rtf)",
    "image/jpeg": "a JPEG image (.jpg)",
    "image/png": "a PNG image (.png)",
    "image/tiff": "a TIFF image (.tif)",
    "image/webp": "a WebP image (.webp)",
    "image/gif": "a GIF image (.gif)",
    "image/heic": "a HEIC photo (.heic)",
    "image/heif": "a HEIF photo (.heif)",
    XML: "an XML document (.xml)",
    FB2: "a FictionBook e-book (.fb2)",
    SVG: "an SVG drawing (.svg)",
}
ACCEPTED = (
    "PDF, Word (.docx, .doc), Excel (.xlsx, .xls), PowerPoint (.pptx, .ppt), OpenDocument "
    "(.odt, .ods, .odp), WordPerfect, EPUB, HTML, text, CSV, Markdown, RTF, e-mail (.eml, "
    ".msg), XML, FictionBook, SVG, JPEG, PNG, TIFF, WebP, GIF, HEIC"
)
# What a ZIP's `mimetype` entry or its main part's content type says.
ZIP_TYPES = {
    EPUB: EPUB,
    ODT: ODT,
    "application/vnd.oasis.opendocument.text-template": ODT,
    ODS: ODS,
    ODP: ODP,
    "application/vnd.oasis.opendocument.spreadsheet-template": ODS,
    "application/vnd.oasis.opendocument.presentation-template": ODP,
}
OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.ms-word.document.macroEnabled.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": XLSX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": PPTX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": XLSX,
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": PPTX,
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml": PPTX,
}
# The extensions that promise a ZIP inside: a file so named that is no readable archive
# is damaged, not of an unknown type.
ZIP_EXTENSIONS = {
    ".docx": "a DOCX document",
    ".docm": "a DOCX document",
    ".xlsx": "an Excel workbook",
    ".pptx": "a PowerPoint presentation",
    ".odt": "an OpenDocument text",
    ".ods": "an OpenDocument spreadsheet",
    ".odp": "an OpenDocument presentation",
    ".epub": "an EPUB book",
}
_EMAIL_HEADER = re.compile(
    rb"^(?:From|To|Subject|Date|Received|Return-Path|Message-ID|MIME-Version|Delivered-To)"
    rb"\s*:",
    re.I | re.M,
)


_MIME_START = re.compile(rb"(?i)\s*(?:MIME-Version|Content-Type)\s*:")


class Damaged(Exception):
    """The file claims a format (by its start or its name) that it then breaks."""


@dataclass(frozen=True)
class Sniffed:
    mime_type: str
    error: str = ""
    needs_password: bool = False


def _zip_type(path: Path, ext: str) -> str:
    """The format of a ZIP-based file, from its entries; Damaged when unreadable."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "mimetype" in names:
                declared = z.read("mimetype")[:200].decode("ascii", "replace").strip()
                if declared in ZIP_TYPES:
                    return ZIP_TYPES[declared]
            if "[Content_Types].xml" in names:
                types = z.read("[Content_Types].xml")[:1_000_000].decode("utf-8", "replace")
                for content_type, mime in OOXML_MAIN.items():
                    if content_type in types:
                        return mime
            if "META-INF/container.xml" in names:
                return EPUB
            if "word/document.xml" in names:
                return DOCX  # a DOCX whose [Content_Types].xml is odd but whose body is there
            return "application/zip"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError) as exc:
        what = ZIP_EXTENSIONS.get(ext, "a ZIP archive")
        raise Damaged(
            f"The file looks like {what} but is damaged (its ZIP structure cannot be "
            f"read: {exc}); it may be incomplete."
        ) from exc


def _ole_type(path: Path) -> str:
    """The kind of an OLE (Compound File) container, from its stream names."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(s).lower() for s in ole.listdir(streams=True, storages=True)}
    except (OSError, struct.error, ValueError) as exc:
        raise Damaged(
            f"The file looks like an old Office file (OLE) but is damaged ({exc})."
        ) from exc
    if "encryptedpackage" in streams or "encryptioninfo" in streams:
        return ENCRYPTED_OFFICE
    if "worddocument" in streams:
        return DOC
    if "workbook" in streams or "book" in streams:
        return XLS
    if "powerpoint document" in streams:
        return PPT
    if any(s.startswith("__substg1.0_") for s in streams):
        return MSG
    return "application/x-ole-storage"


def _text_type(head: bytes, mime: str, ext: str) -> str:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:2048].lower()
    if mime in (XML, "application/xml") and b"<fictionbook" in start:
        return FB2
    if mime in (XML, "application/xml") and b"<svg" in start and ext == ".svg":
        return SVG
    if (
        mime in (XML, "application/xml")
        and (b"<html" in start or b"xhtml" in start)
        and ext not in ALLOWED[XML]  # an XSLT stylesheet that writes XHTML is XML
    ):
        return "text/html"
    if mime == "text/plain" and ext in (".html", ".htm", ".xhtml") and b"<" in start:
        return "text/html"  # a fragment of HTML (no <html> for libmagic to see)
    if ext == ".eml" and (mime.startswith("text/") or mime in (EML, "application/octet-stream")):
        return EML  # (the parser tells an empty or header-less file from a message)
    if mime == "text/plain" and not ext and len(_EMAIL_HEADER.findall(head[:16384])) >= 3:
        return EML  # a message saved without an extension (a .txt quoting one stays text)
    if mime == "text/plain" and ext in (".mime", ".p7m", ".p7s") and _MIME_START.match(head):
        return EML  # an S/MIME message (a signature alone is binary DER, not accepted)
    mime = ALIASES.get(mime, mime)
    if mime in TEXTUAL and ext not in ALLOWED[mime]:
        named = next((t for t in TEXTUAL if ext in ALLOWED[t]), None)
        if named is not None:
            return named
    return mime


def _binary(head: bytes) -> bool:
    return b"\0" in head[:8192]


def _ends_like_pdf(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 2048))
        return b"%%EOF" in fh.read()


def identify(path: Path, filename: str) -> str:
    """The file's MIME type (raises Damaged)."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    ext = PurePosixPath(filename.lower()).suffix
    mime = magic.from_buffer(head, mime=True)
    mime = ALIASES.get(mime, mime)
    if head.startswith(OLE_MAGIC):
        return _ole_type(path)
    pdf_at = head.find(b"%PDF-", 0, 1024)
    if pdf_at > 0 and _binary(head) and _ends_like_pdf(path):
        return "application/pdf"  # stray bytes before the header, which readers skip
    if pdf_at > 0 and mime == "application/pdf" and not _binary(head):
        mime = "text/plain"  # words about PDFs in a text (libmagic looks near the start)
    if head.startswith(ZIP_MAGIC) or (ext in ZIP_EXTENSIONS and mime not in ALLOWED):
        return _zip_type(path, ext)
    if mime == "application/octet-stream" and (codec := utf16_without_bom(head)):
        # UTF-16 text without a byte-order mark: libmagic sees binary data.
        text = head[: len(head) // 2 * 2].decode(codec, "replace").encode("utf-8")
        mime = ALIASES.get(magic.from_buffer(text, mime=True), "text/plain")
    return ALIASES.get(_text_type(head, mime, ext), _text_type(head, mime, ext))


def sniff_file(path: Path, filename: str) -> Sniffed:
    """The type, checked against what is accepted and against the file's extension."""
    try:
        mime = identify(path, filename)
    except Damaged as exc:
        return Sniffed("application/octet-stream", str(exc))
    ext = PurePosixPath(filename.lower()).suffix
    if mime == ENCRYPTED_OFFICE:
        return Sniffed(mime, PASSWORD_REASON.format(what="Office file"), needs_password=True)
    if mime not in ALLOWED:
        label = LABELS.get(mime, mime)
        return Sniffed(
            mime, f"Files of this type ({label}) are not accepted. Accepted: {ACCEPTED}."
        )
    if ext not in ALLOWED[mime]:
        return Sniffed(
            mime,
            f"The file holds {LABELS.get(mime, mime)}, which does not match the extension "
            f"{ext or '(none)'} of its name: rename it and upload it again.",
        )
    return Sniffed(mime)
