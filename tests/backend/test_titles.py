"""A document's first title: the file's own unless it is a placeholder, else its first
heading, else nothing (the file's name stays)."""

import pytest

from backend.ingest.titles import declared, first_heading, title_for


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ("Annual report 2025", "Annual report 2025"),
        ("  Annual\n report  ", "Annual report"),
        ("Microsoft Word - Annual report.docx", ""),  # the file's name, written by Word
        ("Microsoft PowerPoint - Tides", "Tides"),
        ("Untitled", ""),
        ("untitled document", ""),
        ("Document1", ""),
        ("Slide 1", ""),
        ("PowerPoint Presentation", ""),
        ("report_final_v2.pdf", ""),
        ("Title", ""),
        ("—", ""),
        ("Les phares de Bretagne", "Les phares de Bretagne"),
        ("Война и мир", "Война и мир"),
        ("الحرب والسلام", "الحرب والسلام"),
        ("战争与和平", "战争与和平"),
    ],
)
def test_a_declared_title_is_kept_unless_software_wrote_it(meta: str, expected: str) -> None:
    assert declared(meta) == expected


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        (["# The Harbour Book\n\nChapter one."], "The Harbour Book"),
        (["\n\n  A Study of Lighthouses:  \nby A. Keeper"], "A Study of Lighthouses"),
        (["== Setup ==\ntext"], "Setup"),
        (
            ["12 34 56\n2024-01-01\nTide tables for the spring\nHigh water"],
            "Tide tables for the spring",
        ),
        (["", "Second page title\nbody"], "Second page title"),
        # A paragraph's first line is no heading; nor are symbols, noise, scattered letters.
        (["This is the first sentence of a long paragraph that goes on and on.\nMore"], ""),
        (["It was the best of times, it was the worst of times,\nit was"], ""),
        (["Lit the lamp at dusk.\nCalm sea."], ""),  # a sentence, not a heading
        (["Only line of a note"], ""),  # the whole text: no heading of anything
        (["What is life?\nA lecture."], "What is life?"),
        (["%%% ### ***\n| | |\n"], ""),
        (["12 34 56\nTide tables"], ""),  # the line that reads as one is the last
        (["a b c d e f\nmore"], ""),
        (["\n".join(["1234"] * 20) + "\nToo far down"], ""),
        ([], ""),
        (["Война и мир\nТом первый"], "Война и мир"),
    ],
)
def test_the_first_heading_is_the_first_line_that_reads_as_one(
    pages: list[str], expected: str
) -> None:
    assert first_heading(pages) == expected


def test_ocr_text_gives_no_title_but_a_declared_one_is_kept() -> None:
    noise = ["Hopper Grace\nee ;a 1=\n"]  # (a line follows: a heading, if the text is read)
    assert title_for("", noise, text_is_reliable=False) == ""
    assert title_for("", noise, text_is_reliable=True) == "Hopper Grace"
    assert title_for("Portrait", noise, text_is_reliable=False) == "Portrait"
    assert title_for("Untitled", ["Real heading\nbody"], text_is_reliable=True) == "Real heading"


def test_plain_text_has_a_heading_only_where_a_blank_line_sets_it_apart() -> None:
    assert first_heading(["kept before the cancel\n" * 20], set_apart=True) == ""
    assert first_heading(["The Harbour\n\nIt was calm."], set_apart=True) == "The Harbour"
    assert first_heading(["\n\nTITLE PAGE\n\nby A. Keeper\n"], set_apart=True) == "TITLE PAGE"
    assert title_for("", ["A log line\nanother"], text_is_reliable=True, plain_text=True) == ""
