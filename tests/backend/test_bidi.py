"""Arabic from PDFs in logical order: reversed runs are turned back, by the dictionary."""

from pathlib import Path

from backend.ingest.parsers import parse
from backend.ingest.parsers.bidi import logical_order


def test_a_visual_order_run_is_turned_back_and_the_rest_stays() -> None:
    logical = "المكتبة الوطنية 1923 and كتاب"
    visual = "ةينطولا ةبتكملا 1923 and باتك"  # each right-to-left run drawn right to left
    assert logical_order(visual) == logical
    assert logical_order(logical) == logical  # already in logical order: left alone
    assert logical_order("no right-to-left text, 1923") == "no right-to-left text, 1923"
    assert logical_order("שלום עולם") == "שלום עולם"  # Hebrew: no dictionary, as given


def test_an_arabic_pdf_drawn_right_to_left_is_read_in_logical_order(corpus: Path) -> None:
    path = corpus / "files" / "py-pdf-sample-files" / "habibi.pdf"
    page = parse(path, "application/pdf", max_pages=10).pages[0]
    assert "حَبيبي" in page and "يبيبَح" not in page
