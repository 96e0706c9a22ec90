"""Is a page's text readable, or the garbage a PDF with a broken font map gives?

A PDF whose fonts lack a usable ToUnicode map yields text that is the glyph codes read as
characters: symbols from the Latin-1 supplement (ÿþ§¤), private-use characters, control
characters, or letters jumbled with punctuation. Such a page is indexed without a single
findable word. The measure here is cheap and script-neutral: the share of characters
that are letters or digits in words, against the share of characters no text contains.

A scan whose text layer came from a poor OCR ("Eeairing to keep you posted", "tanntxim")
passes that measure: its characters are letters. For it, the share of its words that the
dictionary of its language (pyspellchecker's word lists: English, French, German,
Spanish, Italian, Portuguese, Dutch, Russian, Arabic...) knows; a page of prose scores
0.8-1.0, a poor OCR layer 0.6 and less.
"""

import functools
import re
import unicodedata
from collections import Counter
from typing import Any

MIN_CHARS = 40
# Characters a real text almost never holds, but glyph codes read as Latin-1 often do.
ODD = set("ÿþ¤¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿×÷") | {"\ufffd"}


def score(text: str) -> float | None:
    """1.0 for plain prose, lower for garbage; None when too short to judge."""
    total = odd = good = 0
    for c, n in Counter(text).items():  # each distinct character judged once
        if c.isspace():
            continue
        total += n
        if c in ODD or unicodedata.category(c) in ("Co", "Cc", "Cs", "Cn"):
            odd += n
        elif c.isalnum():
            good += n
    if total < MIN_CHARS:
        return None
    # Words run together with symbols (a jumble like "%$#k&*(j") count against it too.
    words = text.split()
    jumbled = sum(
        1
        for w in words
        if len(w) > 3 and not w.isalnum() and sum(ch.isalnum() for ch in w) < len(w) / 2
    )
    return good / total - 2 * odd / total - jumbled / max(len(words), 1)


def unreadable(text: str) -> bool:
    found = score(text)
    return found is not None and found < 0.45


def better(ocr_text: str, layer_text: str) -> bool:
    """Whether OCR's reading of a page beats the text layer's."""
    ocr_score, layer_score = score(ocr_text), score(layer_text)
    if ocr_score is None:
        return False
    return layer_score is None or ocr_score > layer_score + 0.1


# py3langid's codes that pyspellchecker has a word list for.
DICTIONARIES = {"en", "fr", "de", "es", "it", "pt", "nl", "ru", "ar", "lv", "eu", "fa"}
MIN_WORDS = 30
MISREAD = 0.7  # below this share of known words, a scan's text layer is read again
_WORD = re.compile(r"[^\W\d_]{3,}")


@functools.lru_cache(maxsize=4)
def dictionary(language: str) -> Any:
    from spellchecker import SpellChecker

    return SpellChecker(language=language, distance=1)


def known_share(text: str, language: str = "") -> float | None:
    """The share of the text's words (3 letters or more) its language's dictionary knows;
    None when too short, or in a language without a dictionary here."""
    from backend.ingest.language import detect

    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < MIN_WORDS:
        return None
    language = language or detect([text])
    if language not in DICTIONARIES:
        return None
    known = dictionary(language)
    return sum(1 for w in words if w in known) / len(words)


def misread(text: str) -> bool:
    found = known_share(text)
    return found is not None and found < MISREAD


def reads_better(ocr_text: str, layer_text: str) -> bool:
    """Whether OCR's reading of a scanned page has clearly more real words than its layer."""
    from backend.ingest.language import detect

    language = detect([layer_text]) or detect([ocr_text])
    ocr, layer = known_share(ocr_text, language), known_share(layer_text, language)
    return ocr is not None and (layer is None or ocr > layer + 0.1)
