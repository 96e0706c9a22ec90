"""Right-to-left text from PDFs in logical order.

A PDF draws glyphs; many writers draw Arabic right to left, so the text read back from the
page is in visual order: "حبيبي" comes out "يبيبح", and the word is never found. Whether a
page's Arabic is reversed cannot be told from the file, so it is told from the words:
each run of right-to-left letters (with the spaces between its words) is tried as it is
and reversed, and the page keeps the reading whose words the Arabic (or Persian)
dictionary knows more of. Left-to-right text, digits and punctuation stay where they are.

Hebrew has no dictionary here, but its spelling tells the order: five letters have a
final form (ך ם ן ף ץ) written only at a word's end, and their other form (כ מ נ פ צ) never
there. Reversed, words begin with final forms and end with the others; the reading with
fewer such impossible words is kept.
"""

import re

_RTL = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
_RUN = re.compile(f"[{_RTL}]+(?:[ \\t]+[{_RTL}]+)*")
_WORD = re.compile(f"[{_RTL}]{{2,}}")
ARABIC_SCRIPT = ("ar", "fa")  # languages whose word lists tell an Arabic-script run's order
_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")  # vowel signs


def _known(runs: list[str], language: str) -> int:
    from backend.ingest.parsers.quality import dictionary as words_of

    dictionary = words_of(language)
    words = (_MARKS.sub("", word) for run in runs for word in _WORD.findall(run))
    return sum(1 for word in words if word in dictionary)


_HEBREW = "\u0590-\u05ff\ufb1d-\ufb4f"
_HEBREW_RUN = re.compile(f"[{_HEBREW}]+(?:[ \\t]+[{_HEBREW}]+)*")
_HEBREW_WORD = re.compile("[\u05d0-\u05ea]{2,}")  # letters only: points dropped by findall
FINAL, NOT_FINAL = "ךםןףץ", "כמנפצ"


def _misspelt(words: list[str]) -> int:
    """Words with a final form not at their end, or the other form at their end."""
    return sum(1 for w in words if w[0] in FINAL or w[-1] in NOT_FINAL)


def _hebrew_in_order(text: str) -> str:
    words = [w for run in _HEBREW_RUN.findall(text) for w in _HEBREW_WORD.findall(run)]
    if not words:
        return text
    if _misspelt([w[::-1] for w in words]) < _misspelt(words):
        return _HEBREW_RUN.sub(lambda m: m.group(0)[::-1], text)
    return text


def logical_order(text: str) -> str:
    """The text with its right-to-left runs in logical order: Arabic and Persian runs
    reversed when that makes more known words, Hebrew ones when that spells them right."""
    return _arabic_in_order(_hebrew_in_order(text))


def _arabic_in_order(text: str) -> str:
    runs = _RUN.findall(text)
    if not runs:
        return text
    flipped = [run[::-1] for run in runs]
    for language in ARABIC_SCRIPT:
        as_is, reversed_ = _known(runs, language), _known(flipped, language)
        if reversed_ > as_is:
            return _RUN.sub(lambda m: m.group(0)[::-1], text)
        if as_is > reversed_:
            return text
    return text
