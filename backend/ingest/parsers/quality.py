"""Is a page's text readable, or the garbage a PDF with a broken font map gives?

A PDF whose fonts lack a usable ToUnicode map yields text that is the glyph codes read as
characters: symbols from the Latin-1 supplement (ÿþ§¤), private-use characters, control
characters, or letters jumbled with punctuation. Such a page is indexed without a single
findable word. The measure here is cheap and script-neutral: the share of characters
that are letters or digits in words, against the share of characters no text contains.
"""

import unicodedata

MIN_CHARS = 40
# Characters a real text almost never holds, but glyph codes read as Latin-1 often do.
ODD = set("ÿþ¤¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿×÷") | {"\ufffd"}


def score(text: str) -> float | None:
    """1.0 for plain prose, lower for garbage; None when too short to judge."""
    chars = [c for c in text if not c.isspace()]
    if len(chars) < MIN_CHARS:
        return None
    odd = 0
    good = 0
    for c in chars:
        if c in ODD or unicodedata.category(c) in ("Co", "Cc", "Cs", "Cn"):
            odd += 1
        elif c.isalnum():
            good += 1
    # Words run together with symbols (a jumble like "%$#k&*(j") count against it too.
    words = text.split()
    jumbled = sum(1 for w in words if sum(ch.isalnum() for ch in w) < len(w) / 2 and len(w) > 3)
    return good / len(chars) - 2 * odd / len(chars) - jumbled / max(len(words), 1)


def unreadable(text: str) -> bool:
    found = score(text)
    return found is not None and found < 0.45


def better(ocr_text: str, layer_text: str) -> bool:
    """Whether OCR's reading of a page beats the text layer's."""
    ocr_score, layer_score = score(ocr_text), score(layer_text)
    if ocr_score is None:
        return False
    return layer_score is None or ocr_score > layer_score + 0.1
