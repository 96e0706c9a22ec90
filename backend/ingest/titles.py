"""A document's title when it is first processed: the one its file declares, unless that is
a placeholder its software wrote ("Untitled", "Microsoft Word - report.doc", a file name);
else its first heading (the first line of its text that reads as a title); else nothing,
and the file's name stays."""

import re
import unicodedata

# Titles that software writes when the author wrote none.
PLACEHOLDERS = re.compile(
    r"^(untitled( document| presentation| spreadsheet)?\d*|title|document\d*|"
    r"(microsoft )?(word|powerpoint|excel) ?(document|presentation|worksheet)?|"
    r"slide ?\d*|new document|no title|none|null|unknown|default|sheet\d*|page \d+)$",
    re.IGNORECASE,
)
# "Microsoft Word - report.docx", "Microsoft PowerPoint - slides.ppt": the file's name.
GENERATOR_PREFIX = re.compile(r"^microsoft (word|powerpoint|excel) - ", re.IGNORECASE)
FILE_NAME = re.compile(
    r"^[\w ().,'-]+\.(pdf|docx?|odt|rtf|txt|md|html?|xlsx?|pptx?|od[sp]|epub|tex|dvi|ps|qxd|indd)$",
    re.IGNORECASE,
)
MARKUP = re.compile(r"^(#{1,6}\s+|=+\s*|\*+\s+)|(\s*=+|\s+#+)$")
MAX_WORDS = 20
MAX_CHARS = 200


def declared(title: str) -> str:
    """The title a file declares, or "" when it is a placeholder or a file's name."""
    title = " ".join(title.split())
    title = GENERATOR_PREFIX.sub("", title)
    if not title or PLACEHOLDERS.match(title) or FILE_NAME.match(title):
        return ""
    if sum(ch.isalnum() for ch in title) < 2:
        return ""
    return title


def _reads_as_title(line: str) -> bool:
    words = line.split()
    if not 1 <= len(words) <= MAX_WORDS or len(line) > MAX_CHARS:
        return False
    letters = sum(ch.isalpha() for ch in line)
    if letters < 3 or letters < 0.6 * sum(not ch.isspace() for ch in line):
        return False  # numbers, symbols, OCR noise
    if len(words) > 1 and sum(len(w) for w in words) / len(words) < 2.5:
        return False  # "a b c d": scattered letters
    # A sentence (a paragraph's first line, a one-line note) is no heading: headings do
    # not end in a full stop or run on with a comma.
    return not line.endswith((".", ",", ";", "-", "…"))


def first_heading(pages: list[str], max_lines: int = 12, set_apart: bool = False) -> str:
    """The first line of the text that reads as a title (a heading's markup removed), among
    its first non-empty lines, when more text follows it; "" when none does. With
    `set_apart` (plain text, where nothing but layout marks a heading), only a line
    followed by a blank line counts."""
    lines: list[tuple[str, bool]] = []  # (line, followed by a blank line)
    for page in pages[:3]:
        raws = page.splitlines()
        for i, raw in enumerate(raws):
            line = " ".join(unicodedata.normalize("NFC", raw).split())
            if line:
                apart = i + 1 < len(raws) and not raws[i + 1].strip()
                lines.append((line, apart))
            if len(lines) > max_lines:
                break
    for n, (line, apart) in enumerate(lines[:max_lines]):
        line = MARKUP.sub("", line).strip()
        if n + 1 < len(lines) and (apart or not set_apart) and _reads_as_title(line):
            return line.rstrip(":").strip()
    return ""


def title_for(
    meta_title: str, pages: list[str], *, text_is_reliable: bool, plain_text: bool = False
) -> str:
    """The best title found in the file, or "" (the file's name then stays). A heading is
    taken only from text that was written, not read by OCR from a picture
    (`text_is_reliable`), which gives noise more often than a title; in plain text, only
    a line set apart by a blank line."""
    return declared(meta_title) or (
        first_heading(pages, set_apart=plain_text) if text_is_reliable else ""
    )
