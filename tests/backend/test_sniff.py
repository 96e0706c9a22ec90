"""What a file is, told from its content: containers looked into, damaged files told from
refused types, and the names libmagic gives that mean an accepted type."""

import shutil
import zipfile
from pathlib import Path

import pytest

from backend.ingest import sniff
from backend.ingest.parsers import DOCX, EPUB, MSG, ODT

OFFICE = "office/unstructured"


def _zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return path


CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Override PartName="/word/document.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)


def test_a_docx_whose_parts_come_in_an_unusual_order(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "odd.docx",
        [
            ("word/document.xml", b"<w:document/>"),
            ("docProps/core.xml", b"<cp:coreProperties/>"),
            ("[Content_Types].xml", CONTENT_TYPES),
        ],
    )
    assert sniff.sniff_file(path, "odd.docx") == sniff.Sniffed(DOCX)
    # Named .doc (an old habit): still read by what it is.
    assert sniff.sniff_file(path, "odd.doc") == sniff.Sniffed(DOCX)


def test_an_epub_whose_mimetype_is_not_first(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "book.epub",
        [
            ("META-INF/container.xml", b"<container/>"),
            ("OEBPS/content.opf", b"<package/>"),
            ("mimetype", b"application/epub+zip"),
        ],
    )
    assert sniff.sniff_file(path, "book.epub") == sniff.Sniffed(EPUB)
    odt = _zip(tmp_path / "x.odt", [("content.xml", b"<x/>"), ("mimetype", ODT.encode())])
    assert sniff.sniff_file(odt, "x.odt") == sniff.Sniffed(ODT)


def test_a_truncated_docx_is_damaged_not_refused(tmp_path: Path) -> None:
    whole = _zip(
        tmp_path / "whole.docx",
        [("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", b"<w:d/>" * 5000)],
    )
    cut = tmp_path / "cut.docx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    found = sniff.sniff_file(cut, "cut.docx")
    assert "DOCX document but is damaged" in found.error
    assert "not accepted" not in found.error
    # Garbage under a DOCX's name: damaged too, said as such.
    junk = tmp_path / "junk.docx"
    junk.write_bytes(bytes(range(256)) * 40)
    assert "is damaged" in sniff.sniff_file(junk, "junk.docx").error


def test_a_zip_that_is_only_a_zip_is_refused_as_one(tmp_path: Path) -> None:
    path = _zip(tmp_path / "photos.zip", [("a.txt", b"hello")])
    assert "(a ZIP archive) are not accepted" in sniff.sniff_file(path, "photos.zip").error


def test_stray_bytes_before_a_pdf_header(tmp_path: Path) -> None:
    pdf = (Path(__file__).parents[1] / "fixtures").glob("*.pdf")
    source = next(iter(sorted(pdf)), None)
    body = source.read_bytes() if source else b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"\r\n\x00garbage\n" + body)
    assert sniff.sniff_file(path, "scan.pdf") == sniff.Sniffed("application/pdf")
    # Words about PDFs in a text file do not make it one.
    note = tmp_path / "note.txt"
    note.write_bytes(b"Every PDF starts with %PDF-1.7 and a binary comment.\n" * 3)
    assert sniff.sniff_file(note, "note.txt") == sniff.Sniffed("text/plain")


def test_the_names_libmagic_gives_accepted_types(tmp_path: Path) -> None:
    xhtml = tmp_path / "page.xhtml"
    xhtml.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Tide tables</p></body></html>\n'
    )
    assert sniff.sniff_file(xhtml, "page.xhtml") == sniff.Sniffed("text/html")
    csv = tmp_path / "tides.csv"
    csv.write_text("port,high,low\nBrest,06:12,12:30\nCherbourg,07:01,13:15\n" * 20)
    assert sniff.sniff_file(csv, "tides.csv") == sniff.Sniffed("text/plain")
    fragment = tmp_path / "part.html"
    fragment.write_text("Tide tables for <b>Brest</b>, spring 2026.\n")
    assert sniff.sniff_file(fragment, "part.html") == sniff.Sniffed("text/html")


def test_an_email_is_named_for_what_it_is(tmp_path: Path) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "harbour@example.org"
    message["To"] = "library@example.org"
    message["Subject"] = "Tide tables"
    message.set_content("The spring tide tables are attached.\n")
    path = tmp_path / "tides.eml"
    path.write_bytes(bytes(message))
    found = sniff.sniff_file(path, "tides.eml")
    assert found.mime_type == sniff.EML
    assert found.error == ""


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("fake-doc-emphasized-text.doc", sniff.DOC),
        ("simple.doc", sniff.DOC),
        ("eng_spa_mult.doc", DOCX),  # a DOCX under an old name
        ("tests-example.xls", sniff.XLS),
        ("fake-power-point.ppt", sniff.PPT),
        ("fake-email.msg", MSG),
        ("fake-email-attachment.msg", MSG),
        ("docx-hdrftr.docx", DOCX),
        ("grid_offset_error.docx", DOCX),  # libmagic: octet-stream
        ("emoji.xlsx", sniff.XLSX),
        ("password_protected.xlsx", sniff.ENCRYPTED_OFFICE),
        ("science-exploration-1p.pptx", sniff.PPTX),  # libmagic: octet-stream
        ("sample-presentation.pptx", sniff.PPTX),
        ("simple.odt", ODT),
        ("winter-sports.epub", EPUB),
        ("example-10k.html", "text/html"),  # libmagic: text/xml
        ("fake-html-with-base64-image.html", "text/html"),  # libmagic: text/plain
        ("csv-with-escaped-commas.csv", "text/plain"),
        ("stanley-cups.tsv", "text/plain"),
        ("email-no-utf8-2008-07-16.062410.eml", sniff.EML),  # libmagic: text/plain
    ],
)
def test_real_files_from_other_projects(corpus: Path, name: str, mime: str) -> None:
    assert sniff.identify(corpus / OFFICE / name, name) == mime


def test_an_encrypted_office_file_asks_for_its_password(corpus: Path, tmp_path: Path) -> None:
    path = tmp_path / "budget.xlsx"
    shutil.copy(corpus / OFFICE / "password_protected.xlsx", path)
    found = sniff.sniff_file(path, "budget.xlsx")
    assert "protected by a password" in found.error


def test_every_accepted_type_has_a_parser() -> None:
    """Read by a parser, or turned into a PDF by LibreOffice first (office_suite)."""
    from backend.ingest.parsers import CONVERTED, PARSERS

    assert set(sniff.ALLOWED) <= set(PARSERS) | set(CONVERTED)
    assert not set(CONVERTED) & set(PARSERS)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "office"


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("report.doc", "application/msword"),
        ("ledger.xls", "application/vnd.ms-excel"),
        ("slides.ppt", "application/vnd.ms-powerpoint"),
        ("ledger.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (
            "slides.pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        ("ledger.ods", "application/vnd.oasis.opendocument.spreadsheet"),
        ("slides.odp", "application/vnd.oasis.opendocument.presentation"),
        ("minutes.wpd", "application/vnd.wordperfect"),
        # Locked: the container is still known (the password is found by the converter).
        ("locked.doc", "application/msword"),
        ("locked.xls", "application/vnd.ms-excel"),
        ("locked.ods", "application/vnd.oasis.opendocument.spreadsheet"),
        ("locked.odp", "application/vnd.oasis.opendocument.presentation"),
    ],
)
def test_office_formats_are_accepted_by_what_they_hold(name: str, mime: str) -> None:
    found = sniff.sniff_file(FIXTURES / name, name)
    assert (found.mime_type, found.error) == (mime, "")


@pytest.mark.parametrize(
    ("name", "called"), [("report.doc", "ledger.xls"), ("ledger.xlsx", "report.docx")]
)
def test_an_office_file_under_another_office_name_is_refused_with_its_real_kind(
    tmp_path: Path, name: str, called: str
) -> None:
    path = tmp_path / called
    shutil.copy(FIXTURES / name, path)
    found = sniff.sniff_file(path, called)
    assert found.error.startswith("The file holds a"), found.error
    assert "does not match the extension" in found.error


def test_every_accepted_type_has_a_name_people_read() -> None:
    assert set(sniff.ALLOWED) <= set(sniff.LABELS)
