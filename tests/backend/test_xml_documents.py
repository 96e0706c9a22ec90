"""XML, FictionBook and SVG: read from their markup, never resolving an entity or fetching
anything the file points at (fixtures: tests/fixtures/xml/make.py)."""

import io
import socket
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from backend.ingest import sniff
from backend.ingest.parsers import parse
from backend.ingest.parsers.base import ParseError
from backend.ingest.parsers.xmldoc import FB2, SVG, XML

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xml"
LIMITS = {"max_unpacked": 1 << 30, "max_files": 1000}


@pytest.mark.parametrize(
    ("name", "mime"),
    [("tale.fb2", FB2), ("harbour.svg", SVG), ("letter.tei.xml", XML)],
)
def test_xml_kinds_are_told_apart(name: str, mime: str) -> None:
    assert sniff.sniff_file(FIXTURES / name, name) == sniff.Sniffed(mime)


def test_a_fictionbook_gives_its_description_chapters_notes_and_cover() -> None:
    parsed = parse(FIXTURES / "tale.fb2", FB2, **LIMITS)
    assert parsed.pages == [
        "Глава 1\nЛедокол подошёл к берегу на рассвете. Метеоролог считал торосы.",
        "Глава 2\nПолярная ночь длилась сто дней; радист слушал Москву каждый вечер.",
        "Торосы — нагромождения льда.",  # the notes, last
    ]
    assert parsed.meta == {
        "title": "Сказка о полярной станции",
        "authors": ["Анна Лебедева"],
        "subjects": ["prose_classic", "adventure"],
        "language_declared": "ru",
        "description": "Повесть о зимовке на Шпицбергене.",
        "created": "1931-02-14",
        "publisher": "Северное издательство",
        "keywords": ["Арктика", "зимовка"],
    }
    with Image.open(io.BytesIO(parsed.cover)) as cover:
        assert cover.size == (300, 420)


def test_an_svg_is_read_and_drawn_without_its_entity_or_its_web_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the parser reached out: {args}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    parsed = parse(FIXTURES / "harbour.svg", SVG, **LIMITS)
    assert parsed.pages == [
        "Harbour of Longyearbyen\nA survey map of the quays, 1928\nCoal quay\nDepth twelve fathoms"
    ]
    hostname = Path("/etc/hostname").read_text().strip()
    assert hostname not in parsed.pages[0]
    assert parsed.meta == {"title": "Harbour of Longyearbyen"}
    assert parsed.warnings == []
    assert parsed.cover.size == (1200, 900)
    assert parsed.cover.getpixel((600, 880)) == (122, 163, 122)  # the land, drawn


def test_xml_gives_its_element_text_title_and_language() -> None:
    parsed = parse(FIXTURES / "letter.tei.xml", XML, **LIMITS)
    assert parsed.meta == {
        "title": "Lettre de Marie Curie à Paul Langevin",
        "language_declared": "fr",
    }
    assert "le polonium se comporte comme le bismuth" in parsed.pages[0]
    assert "encoder" not in parsed.pages[0]  # a comment is no text


def test_an_xml_bomb_and_an_external_entity_are_never_expanded(tmp_path: Path) -> None:
    lols = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n else "lol"}">' for n in range(10))
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(f'<?xml version="1.0"?><!DOCTYPE r [{lols}]><r>&lol9;</r>')
    with pytest.raises(ParseError, match="amplification"):  # libxml2 stops it at once
        parse(bomb, XML, **LIMITS)
    secret = tmp_path / "secret.xml"
    secret.write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s SYSTEM "file:///etc/passwd">]>'
        "<r><title>Open</title>&s;</r>"
    )
    parsed = parse(secret, XML, **LIMITS)
    assert "root:" not in parsed.pages[0] and parsed.pages[0] == "Open"


@pytest.mark.parametrize(
    ("data", "mime", "reason"),
    [
        (b"<r><p>unclosed</r>", XML, "cannot be read as XML"),
        (b'<?xml version="1.0"?><html><body>x</body></html>', SVG, "not an SVG drawing"),
        (b"<FictionBook><body>", FB2, "cannot be read as XML"),
    ],
)
def test_broken_xml_is_refused_with_its_reason(
    tmp_path: Path, data: bytes, mime: str, reason: str
) -> None:
    path = tmp_path / "file"
    path.write_bytes(data)
    with pytest.raises(ParseError, match=reason):
        parse(path, mime, **LIMITS)


def test_a_fictionbook_without_a_cover_or_description_is_read(tmp_path: Path) -> None:
    book = tmp_path / "bare.fb2"
    book.write_text(
        '<?xml version="1.0"?><FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0">'
        "<description><title-info><book-title>Без обложки</book-title></title-info>"
        "</description><body><section><p>Одна глава.</p></section></body></FictionBook>",
        encoding="utf-8",
    )
    parsed = parse(book, FB2, **LIMITS)
    assert parsed.pages == ["Одна глава."] and parsed.cover is None
    assert parsed.meta["title"] == "Без обложки"
    book.write_text(
        '<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0">'
        "<body><section><p>No description at all.</p></section></body></FictionBook>"
    )
    assert parse(book, FB2, **LIMITS).pages == ["No description at all."]
