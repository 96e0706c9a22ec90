"""Arabic and Hebrew from PDFs in logical order: reversed runs are turned back, by the
dictionary (Arabic) or by the final letters (Hebrew)."""

from pathlib import Path

from backend.ingest.parsers import parse
from backend.ingest.parsers.bidi import logical_order


def test_a_visual_order_run_is_turned_back_and_the_rest_stays() -> None:
    logical = "المكتبة الوطنية 1923 and كتاب"
    visual = "ةينطولا ةبتكملا 1923 and باتك"  # each right-to-left run drawn right to left
    assert logical_order(visual) == logical
    assert logical_order(logical) == logical  # already in logical order: left alone
    assert logical_order("no right-to-left text, 1923") == "no right-to-left text, 1923"


def test_hebrew_drawn_right_to_left_is_turned_back_by_its_final_letters() -> None:
    logical = "ספר בראשית, פרק 1: בראשית ברא אלהים את השמים ואת הארץ"
    # Each run of Hebrew words (with the spaces between them) drawn right to left.
    visual = "תישארב רפס, קרפ 1: ץראה תאו םימשה תא םיהלא ארב תישארב"
    assert logical_order(visual) == logical
    assert logical_order(logical) == logical
    assert logical_order("שלום עולם") == "שלום עולם"
    assert logical_order("םלוע םולש") == "שלום עולם"
    # Words with no letter that has a final form give no evidence: left as given.
    assert logical_order("אבא") == "אבא"


def test_an_arabic_pdf_drawn_right_to_left_is_read_in_logical_order(corpus: Path) -> None:
    path = corpus / "files" / "py-pdf-sample-files" / "habibi.pdf"
    page = parse(path, "application/pdf", max_pages=10).pages[0]
    assert "حَبيبي" in page and "يبيبَح" not in page
