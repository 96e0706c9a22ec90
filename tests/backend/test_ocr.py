"""OCR in the languages installed: the script first (and the page turned upright), then
the language; a document's later pages in the language its first ones taught; warnings
that say what happened."""

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from backend.ingest.parsers import ParseError, parse
from backend.ingest.parsers.ocr import Reader, installed, read

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
RUSSIAN = [
    "Городская библиотека открывает новую коллекцию",
    "старых карт гавани. Приглашаем всех читателей",
    "посмотреть их на следующей неделе в зале.",
] * 3
FRENCH = [
    "La bibliothèque municipale ouvre une nouvelle",
    "collection de cartes anciennes du port. Les lecteurs",
    "sont invités à les voir la semaine prochaine.",
] * 3
ENGLISH = [
    "The municipal library opens a new collection of",
    "old harbour maps. All readers are invited to see",
    "them next week in the reading room.",
] * 3


def _page(lines: list[str]) -> Image.Image:
    font = ImageFont.truetype(FONT, 40)
    image = Image.new("L", (1700, 2200), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((100, 120 + 70 * i), line, font=font, fill=0)
    return image


@pytest.fixture(autouse=True)
def _languages() -> None:
    missing = {"eng", "fra", "rus"} - set(installed())
    if missing:
        pytest.skip(f"tesseract languages missing: {missing} (./test.sh installs them)")


def test_a_russian_scan_is_read_in_russian_even_on_its_side() -> None:
    for turned in (0, 90):
        found = read(_page(RUSSIAN).rotate(turned, expand=True))
        assert found.script == "Cyrillic" and found.languages == "rus"
        assert found.rotated == turned
        assert "Городская библиотека открывает новую коллекцию" in found.text


def test_latin_pages_are_read_in_their_language() -> None:
    french = read(_page(FRENCH))
    assert french.languages == "fra"
    assert "La bibliothèque municipale ouvre une nouvelle" in french.text
    english = read(_page(ENGLISH))
    assert english.languages == "eng"
    assert "old harbour maps" in english.text


def test_a_document_remembers_its_language() -> None:
    reader = Reader("")
    assert reader.read(_page(FRENCH)).languages == "fra"
    assert reader.chosen == {"Latin": ("fra",)}
    assert reader.read(_page(FRENCH[3:])).languages == "fra"  # read once, in French


def test_ocr_languages_limits_them() -> None:
    found = read(_page(FRENCH), "eng")
    assert found.languages == "eng" and "bibliothéque" in found.text.replace("è", "é")
    with pytest.raises(ParseError, match="none of the OCR languages asked for"):
        read(_page(ENGLISH), "klingon")


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ocr"


def test_lines_of_another_script_are_read_in_its_language() -> None:
    """OSD judges a page by its main script: the few lines of another are read in theirs."""
    if "kor" not in installed():
        pytest.skip("tesseract's Korean is missing (./test.sh installs it)")
    korean = read(Image.open(FIXTURES / "english-korean.png"))  # tests/fixtures/ocr/make.py
    assert korean.script == "Latin" and korean.languages == "kor+eng"
    assert "지역 도서관의 열람실은 평일에 개방됩니다" in korean.text
    assert "전자책 대출 서비스가 새로 시작되었습니다" in korean.text
    assert "Visitors asked for longer opening hours and more study desks." in korean.text

    english_first = read(_page(ENGLISH[:3] + RUSSIAN[:2] + ENGLISH[3:5]))
    assert english_first.languages == "rus+eng"
    assert "Городская библиотека открывает новую коллекцию" in english_first.text
    assert "old harbour maps. All readers are invited to see" in english_first.text

    russian_first = read(_page(RUSSIAN[:3] + ENGLISH[:2] + RUSSIAN[3:6]))
    assert set(russian_first.languages.split("+")) == {"rus", "eng"}
    assert "посмотреть их на следующей неделе в зале." in russian_first.text
    assert "old harbour maps. All readers are invited to see" in russian_first.text


def test_another_script_is_read_only_when_allowed_and_only_when_there() -> None:
    assert read(Image.open(FIXTURES / "english-korean.png"), "eng").languages == "eng"
    assert read(_page(ENGLISH + ENGLISH)).languages == "eng"  # no line in doubt: one pass


def test_a_scanned_pdf_says_which_pages_ocr_read(tmp_path: Path) -> None:
    pdf = tmp_path / "scan.pdf"
    pages = [_page(RUSSIAN).convert("RGB"), Image.new("RGB", (1700, 2200), "white")]
    pages.append(_page(RUSSIAN[3:]).convert("RGB"))
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=200)
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    document.new_page(612, 792)  # page 4: nothing drawn on it, no OCR needed to say so
    document.save(tmp_path / "with-empty.pdf")
    document.close()
    pdf = tmp_path / "with-empty.pdf"
    parsed = parse(
        pdf,
        "application/pdf",
        max_pages=100,
        ocr_enabled=True,
        ocr_languages="",
        ocr_max_pages=10,
    )
    assert "Городская библиотека" in parsed.pages[0] and parsed.pages[1].strip() == ""
    assert parsed.warnings == [
        "2 scanned page(s) read by OCR",
        "1 page(s) without a text layer where OCR found no text (blank or pictures only): 2",
        "1 page(s) with nothing on them: 4",
    ]
    assert len(parsed.pages) == 4 and parsed.pages[3] == ""


def test_a_multi_page_tiff_is_a_page_per_frame(tmp_path: Path) -> None:
    tiff = tmp_path / "fax.tiff"
    frames = [_page(ENGLISH), _page(RUSSIAN), Image.new("L", (1700, 2200), 255)]
    frames[0].save(tiff, save_all=True, append_images=frames[1:], compression="tiff_deflate")
    parsed = parse(
        tiff,
        "image/tiff",
        max_pages=100,
        ocr_enabled=True,
        ocr_languages="",
        ocr_max_pages=10,
    )
    assert len(parsed.pages) == 3 and parsed.meta["frames"] == 3
    assert "old harbour maps" in parsed.pages[0]
    assert "Городская библиотека" in parsed.pages[1]
    assert parsed.pages[2].strip() == ""


def _garbled_layer(text: bytes) -> bytes:
    """A one-page PDF whose only content is `text` in Helvetica, invisible (render mode 3),
    as a scanner's or a broken converter's text layer is."""
    stream = b"BT /F1 11 Tf 3 Tr 72 700 Td (" + text + b") Tj ET"
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]"
        b"/Resources<</Font<</F1 4 0 R>>>>/Contents 5 0 R>>",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>",
        b"<</Length %d>>stream\n" % len(stream) + stream + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_a_text_layer_of_glyph_codes_is_read_again_by_ocr(tmp_path: Path) -> None:
    import io

    from pypdf import PdfReader, PdfWriter

    scan = tmp_path / "scan.pdf"
    _page(ENGLISH).convert("RGB").resize((1275, 1650)).save(scan, resolution=150)
    garbage = bytes(range(0xA4, 0xBF)) * 6 + b" \xff\xfe\xa7 \xa4\xa6 \xb6\xb1\xbc"
    writer = PdfWriter(clone_from=scan)
    writer.pages[0].merge_page(PdfReader(io.BytesIO(_garbled_layer(garbage))).pages[0])
    broken = tmp_path / "broken.pdf"
    with broken.open("wb") as fh:
        writer.write(fh)
    args = {"max_pages": 10, "ocr_languages": "", "ocr_max_pages": 10}
    parsed = parse(broken, "application/pdf", ocr_enabled=True, **args)
    assert "old harbour maps" in parsed.pages[0] and "§" not in parsed.pages[0]
    assert parsed.warnings == [
        "1 page(s) whose text layer is unreadable (a broken font map) read by OCR instead: 1"
    ]
    kept = parse(broken, "application/pdf", ocr_enabled=False, **args)
    assert "§" in kept.pages[0]
    assert kept.warnings == [
        "1 page(s) whose text layer looks unreadable (a broken font map?), kept as it is: 1"
    ]


def test_a_poor_ocr_layer_is_told_from_prose_by_its_known_words(corpus: Path) -> None:
    import pypdfium2 as pdfium

    from backend.ingest.parsers import quality

    prose = (
        "Desiring to keep you posted on the progress of the Foundation, you will be "
        "interested to know that to date the Foundation has received the following: a "
        "letter from the Sugar Company accepting membership and enclosing their cheque, "
        "and executed contracts from the members of the board of trustees."
    )
    # A typewritten letter scanned with a poor OCR layer ("Eeairing to keep you posted").
    pdf = pdfium.PdfDocument(corpus / "office" / "unstructured" / "pdf-with-ocr-text.pdf")
    poor = pdf[0].get_textpage().get_text_range()
    assert not quality.unreadable(poor)  # letters, not glyph codes: the first test passes it
    assert quality.misread(poor) and not quality.misread(prose)
    assert quality.reads_better(prose, poor) and not quality.reads_better(poor, prose)
    assert quality.known_share("too short to judge") is None


async def test_marked_words_of_another_script_are_boxed_on_a_scanned_page(
    tmp_path: Path,
) -> None:
    """The marks on a scanned page are found by OCR in the languages of the words marked,
    not only in the document's: a Korean word on an English page is boxed."""
    from backend.ingest import sandbox
    from backend.ingest.parsers.ocr import languages_for_words

    if "kor" not in installed():
        pytest.skip("tesseract's Korean is missing (./test.sh installs it)")
    assert languages_for_words(["도서관의", "report"], "en") == ("kor", "eng")
    assert languages_for_words(["report"], "en") == ("eng",)
    assert languages_for_words(["Отчёт"], "ru") == ("rus",)
    assert languages_for_words(["日本語"], "ja") == ("jpn",)  # kanji are Japanese's too
    assert languages_for_words(["도서관의"], "en", "eng") == ("eng",)  # OCR_LANGUAGES holds
    pdf = tmp_path / "mixed.pdf"
    Image.open(FIXTURES / "english-korean.png").convert("RGB").save(pdf, "PDF", resolution=150)
    words = ["만족도", "Visitors"]
    in_english = await sandbox.find_words(pdf, 1, words, tmp_path, ocr=("eng",))
    assert len(in_english.boxes) == 1  # "Visitors" only
    both = await sandbox.find_words(pdf, 1, words, tmp_path, ocr=languages_for_words(words, "en"))
    assert not both.error and len(both.boxes) == 2
    korean = min(both.boxes, key=lambda box: box[1])  # its line stands above the English one
    assert 0.15 < korean[0] < korean[2] < 0.5, korean
