"""Right-to-left text from PDFs in logical order.

A PDF draws glyphs; many writers draw Arabic right to left, so the text read back from the
page is in visual order: "حبيبي" comes out "يبيبح", and the word is never found. Whether a
page's Arabic is reversed cannot be told from the file, so it is told from the words:
each run of right-to-left letters (with the spaces between its words) is tried as it is
and reversed, and the page keeps the reading whose words the Arabic (or Persian)
dictionary knows more of. Left-to-right text, digits and punctuation stay where they are.
Hebrew has no dictionary here and is left as the PDF gives it.
"""

import re

_RTL = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
_RUN = re.compile(f"[{_RTL}]+(?:[ \\t]+[{_RTL}]+)*")
_WORD = re.compile(f"[{_RTL}]{{2,}}")
_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")  # vowel signs


def _known(runs: list[str], language: str) -> int:
    from backend.ingest.parsers.quality import dictionary as words_of

    dictionary = words_of(language)
    words = (_MARKS.sub("", word) for run in runs for word in _WORD.findall(run))
    return sum(1 for word in words if word in dictionary)


def logical_order(text: str) -> str:
    """The text with its right-to-left runs reversed when that makes more known words."""
    runs = _RUN.findall(text)
    if not runs:
        return text
    flipped = [run[::-1] for run in runs]
    for language in ("ar", "fa"):
        as_is, reversed_ = _known(runs, language), _known(flipped, language)
        if reversed_ > as_is:
            return _RUN.sub(lambda m: m.group(0)[::-1], text)
        if as_is > reversed_:
            return text
    return text
