"""Text in the encodings people's files come in: marks, declarations, detection."""

from pathlib import Path

import pytest

from backend.ingest.parsers import parse
from backend.ingest.parsers.encoding import codec_of, declared, decode

HEBREW = (
    "שלום לכולם. הספרייה העירונית פותחת אוסף חדש של מפות ישנות של הנמל, "
    "ואנחנו מזמינים את הציבור לבוא ולראות אותן בשבוע הבא."
)
RUSSIAN = (
    "Городская библиотека открывает новую коллекцию старых карт гавани. "
    "Приглашаем всех читателей посмотреть их на следующей неделе в читальном зале."
)
JAPANESE = "市立図書館は港の古い地図の新しいコレクションを公開します。来週、閲覧室でご覧ください。"
CHINESE = "市图书馆将展出一批关于港口的旧地图新藏品。欢迎读者下周到阅览室参观。"
FRENCH = (
    "La bibliothèque municipale ouvre une collection de cartes anciennes du port : "
    "été, hôtel, façade."
)


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (HEBREW * 3, "cp1255"),
        (RUSSIAN * 3, "koi8-r"),
        (RUSSIAN * 3, "cp1251"),
        (JAPANESE * 3, "shift_jis"),
        (CHINESE * 3, "gb18030"),
        (FRENCH * 3, "cp1252"),
    ],
)
def test_undeclared_legacy_encodings_are_detected(text: str, codec: str) -> None:
    assert decode(text.encode(codec)) == text


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_marks(codec: str) -> None:
    assert decode(RUSSIAN.encode(codec)) == RUSSIAN


def test_utf16_without_a_mark() -> None:
    assert decode(FRENCH.encode("utf-16-le")) == FRENCH
    assert decode(FRENCH.encode("utf-16-be")) == FRENCH


def test_declared_charsets_are_followed_and_lies_are_not() -> None:
    html = f'<html><head><meta charset="iso-8859-1"></head><body>{FRENCH}</body></html>'
    assert declared(html.encode("cp1252")) == "iso-8859-1"
    assert FRENCH in decode(html.encode("cp1252"))
    http_equiv = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        f"</head><body>{RUSSIAN}</body></html>"
    )
    assert RUSSIAN in decode(http_equiv.encode("cp1251"))
    xml = f'<?xml version="1.0" encoding="KOI8-R"?><doc>{RUSSIAN}</doc>'
    assert RUSSIAN in decode(xml.encode("koi8-r"))
    # A page that says UTF-8 but is not: the bytes decide.
    lying = f'<meta charset="utf-8"><p>{FRENCH}</p>'
    assert FRENCH in decode(lying.encode("cp1252"))
    # A container's hint (an e-mail part's charset), with a Python-only alias.
    assert decode(HEBREW.encode("cp1255"), hint="windows-1255") == HEBREW
    assert decode("naïve".encode(), hint="utf_8") == "naïve"
    assert codec_of("no-such-charset") == "" and codec_of("latin1") == "cp1252"


def test_real_files_in_other_encodings(corpus: Path) -> None:
    office = corpus / "office" / "unstructured"
    cp1252 = parse(office / "fake-html-cp1252.html", "text/html").pages[0]
    assert "\ufffd" not in cp1252 and "Ã" not in cp1252
    assert "L'été était très chaud" in cp1252 and "köstlich" in cp1252 and "15,50 €" in cp1252
    utf16 = parse(office / "example-steelJIS-datasheet-utf-16.html", "text/html").pages[0]
    plain = parse(office / "example-steelJIS-datasheet.html", "text/html").pages[0]
    assert utf16 == plain and len(plain) > 100
    cups = parse(office / "stanley-cups-utf-16.csv", "text/plain").pages[0]
    assert "Team,Location,Stanley Cups\nBlues,STL,1" in cups


def test_rtf_with_characters_outside_the_bmp(tmp_path: Path) -> None:
    rtf = tmp_path / "smile.rtf"
    rtf.write_bytes(
        b"{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Arial;}}\\f0 "
        b"Smile \\u-10179?\\u-8704? at the caf\\'e9, \\u8364?5.\\par}"
    )
    (page,) = parse(rtf, "text/rtf").pages
    assert page.strip() == "Smile \U0001f600 at the café, €5."
    # Half a pair: a replacement character, never a crash.
    rtf.write_bytes(b"{\\rtf1\\ansi Half \\u-10179? only.\\par}")
    assert parse(rtf, "text/rtf").pages[0].strip() == "Half \ufffd only."
