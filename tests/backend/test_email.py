"""E-mail messages: headers as the record, the body in its own charset, attachments read
with the upload's parsers; broken messages read as far as mail programs read them."""

from email.message import EmailMessage
from pathlib import Path

import pytest

from backend.ingest import sniff
from backend.ingest.parsers import EML, ParseError, parse

LIMITS = {
    "max_pages": 5000,
    "max_unpacked": 512 << 20,
    "max_files": 10_000,
    "ocr_enabled": False,
    "ocr_languages": "eng",
    "ocr_max_pages": 0,
}


def _read(path: Path) -> tuple[dict[str, object], list[str], list[str]]:
    found = sniff.sniff_file(path, path.name)
    assert found == sniff.Sniffed(EML), found
    parsed = parse(path, EML, **LIMITS)
    return parsed.meta, parsed.pages, parsed.warnings


def test_a_message_with_a_pdf_and_a_forwarded_message(tmp_path: Path, corpus: Path) -> None:
    pdf = corpus / "files" / "py-pdf-sample-files" / "pdflatex-4-pages.pdf"
    inner = EmailMessage()
    inner["From"] = "Marta Pilot <marta@harbour.example>"
    inner["Subject"] = "Soundings"
    inner.set_content("The soundings off the north mole are 4 fathoms.\n")
    outer = EmailMessage()
    outer["From"] = "Harbour Office <office@harbour.example>"
    outer["To"] = "Library <library@example.org>, archive@example.org"
    outer["Date"] = "Tue, 03 Mar 2026 09:15:00 +0100"
    outer["Subject"] = "Tide tables and soundings"
    outer.set_content("Dear librarians,\nthe tide tables are attached.\n")
    outer.add_alternative("<p>Dear librarians,<br>the tide tables are attached.</p>", "html")
    outer.add_attachment(pdf.read_bytes(), "application", "pdf", filename="tides.pdf")
    outer.add_attachment(inner)
    outer.add_attachment(b"\xff\xfb\x90" * 500, "audio", "mpeg", filename="gulls.mp3")
    path = tmp_path / "tides.eml"
    path.write_bytes(bytes(outer))

    meta, pages, warnings = _read(path)
    assert meta == {
        "title": "Tide tables and soundings",
        "authors": ["Harbour Office"],
        "date": "2026-03-03",
    }
    assert pages[0].startswith("From: Harbour Office <office@harbour.example>\nTo: Library")
    assert pages[0].count("the tide tables are attached") == 1  # the same HTML: once
    assert [p.split("\n")[0] for p in pages[1:]] == [
        *(f"Attachment: tides.pdf (page {n})" for n in range(1, 5)),
        "Attached message",
    ]
    assert "Huardest gefburn" in pages[1]
    assert pages[5].startswith("Attached message\n\nFrom: Marta Pilot <marta@harbour.example>")
    assert "4 fathoms" in pages[5]
    assert warnings == ["attachment gulls.mp3 (audio/mpeg) is kept in the message but not read"]


def test_a_legacy_charset_and_a_lying_label(tmp_path: Path) -> None:
    import base64

    body = base64.b64encode("שלום, המפות של הנמל מוכנות.\n".encode("cp1255"))

    def message(label: bytes) -> bytes:
        return (
            b"From: =?windows-1255?B?4+nl?= <d@example.org>\r\nSubject: Maps\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + label + b"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"\r\n"
        )

    path = tmp_path / "hebrew.eml"
    path.write_bytes(message(b"windows-1255"))
    meta, pages, _ = _read(path)
    assert "שלום, המפות של הנמל מוכנות." in pages[0]
    assert meta["authors"] == ["דיו"]
    # The part says UTF-8 and is not; the sender's name says windows-1255: too few letters
    # for detection, so the message's own word is taken.
    path.write_bytes(message(b"utf-8"))
    _, pages, _ = _read(path)
    assert "שלום, המפות של הנמל מוכנות." in pages[0]


def test_the_html_alternative_is_read_when_it_says_more(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["Subject"] = "Two bodies"
    message.set_content("Short plain version.\n")
    message.add_alternative(
        "<p>Short plain version.</p><p>The HTML adds the ferry timetable for Sundays.</p>",
        "html",
    )
    path = tmp_path / "two.eml"
    path.write_bytes(bytes(message))
    _, pages, _ = _read(path)
    assert "ferry timetable" in pages[0] and "Short plain version." in pages[0]


@pytest.mark.parametrize(
    ("name", "title", "words"),
    [
        ("email-equals-attachment-filename.eml", "Odd filename example", "Attachment:"),
        ("email-no-utf8-2008-07-16.062410.eml", "RE: שלום", "סלבה"),
        ("email-no-utf8-2014-03-17.111517.eml", "Google Account password changed", "Slava"),
        ("email-replace-mime-encodings-error-3.eml", "AWS Online Conference", "Innovate"),
        ("email-replace-mime-encodings-error-5.eml", "GLOBAL SPONSORSHIP", "BIOPROCESSING"),
        ("email-with-image.eml", "email-with-image", "Attachment: unstructured_logo.png"),
        ("eng_spa_mult.eml", "Test email with multiple languages", "Todos los seres"),
        ("fake-email-attachment.eml", "Fake email with attachment", "fake-attachment.txt"),
        ("fake-email-header.eml", "Test Email", "Cc: Fake Email"),
        ("fake-email-malformed-encoding.eml", "Test Email", "This is a test email"),
        ("fake-email-utf-16.eml", "Test Email", "This is a test email"),
        ("fake-email-utf-16-be.eml", "Test Email", "This is a test email"),
        ("fake-email.eml", "Test Email", "This is a test email"),
        ("fake-encrypted.eml", "", "From: Michael Elkins"),
        ("mime-attach-mp3.eml", "Email with MP3 Attachment", "This is an email with an MP3"),
        ("mime-different-plain-html.eml", "Example MIME Email", "text/html"),
        ("mime-html-only.eml", "Example HTML Only MIME Email", "This is a text/html part."),
        ("mime-multipart-digest.eml", "Example Multipart Digest Email", "second message"),
        ("mime-no-body.eml", "Image Only Email", "Subject: Image Only Email"),
        ("mime-word-encoded-subject.eml", "Simple email with ☸☿ Unicode subject", "Unicode"),
        ("test-invalid-date.eml", "Test invalid date format", "invalid date format"),
    ],
)
def test_real_messages_from_another_projects_tests(
    corpus: Path, name: str, title: str, words: str
) -> None:
    meta, pages, warnings = _read(corpus / "office" / "unstructured" / name)
    assert meta.get("title", "") == title or str(meta.get("title", "")).startswith(title)
    assert words in "\n".join(pages), pages
    assert all("\ufffd" not in p for p in pages)
    if name == "fake-encrypted.eml":
        assert warnings == ["the message is encrypted (PGP/MIME): only its headers are read"]
    if name == "test-invalid-date.eml":
        assert "date" not in meta
        assert warnings == ["the Date header cannot be read (INVALID-DATE-FORMAT)"]


def test_an_empty_file_is_no_message(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="holds no e-mail message"):
        parse(corpus / "office" / "unstructured" / "empty.eml", EML, **LIMITS)
    words = tmp_path / "words.eml"
    words.write_text("Just some words, no headers at all.\n")
    with pytest.raises(ParseError, match="no From, To or Subject"):
        parse(words, EML, **LIMITS)


@pytest.mark.parametrize(
    ("name", "title", "author", "words"),
    [
        ("fake-email.msg", "Test Email", "Matthew Robinson", "Roses are red"),
        (
            "fake-email-attachment.msg",
            "Fake email with attachment",
            "Mallori Harrell",
            "Attachment: fake-attachment.txt",
        ),
        (
            "fake-email-with-cc-and-bcc.msg",
            "Fake email with cc and bcc recipients",
            "John",
            "Cc: steve@unstructured.io",
        ),
    ],
)
def test_outlook_messages(corpus: Path, name: str, title: str, author: str, words: str) -> None:
    from backend.ingest.parsers import MSG

    path = corpus / "office" / "unstructured" / name
    assert sniff.sniff_file(path, name) == sniff.Sniffed(MSG)
    parsed = parse(path, MSG, **LIMITS)
    assert parsed.meta["title"] == title and parsed.meta["authors"] == [author]
    assert parsed.meta["date"].startswith("20")
    assert words in "\n".join(parsed.pages)
    assert parsed.pages[0].startswith("From: ")


def test_an_encrypted_outlook_message_says_what_it_could_not_read(corpus: Path) -> None:
    from backend.ingest.parsers import MSG

    parsed = parse(corpus / "office" / "unstructured" / "fake-encrypted.msg", MSG, **LIMITS)
    assert parsed.pages[0].startswith("From: ")
    assert any("ATT00002.bin" in w and "not read" in w for w in parsed.warnings), parsed.warnings
