"""Library documents as Meilisearch documents, and Meilisearch's highlights as snippets.

One Meilisearch document per library document. Meilisearch indexes at most 65,535
positions per attribute (a word one, a hard separator eight), so long texts are cut into
parts, each a nested field of one attribute (`body.0`, `body.1`, …): each nested field
counts its own positions, and all have the weight of `body`.
"""

import bisect
import json
import re
from typing import Any

from backend.search.engine import IndexDoc, fold, sort_title
from backend.search.meili_query import WORD, filter_key
from backend.search.schemas import Segment
from backend.search.tantivy_engine import analyzer, stem_language

# Meilisearch keeps positions 0..65,534 of an attribute; parts stay under this bound.
MAX_POSITIONS = 65_000
OVERLAP_POSITIONS = 200  # a phrase across a cut is in both parts
MAX_BATCH_BYTES = 50_000_000  # under the default 100 MB payload limit
# Highlight marks no indexed text contains (control characters are cleaned out).
PRE, POST = "\x02", "\x03"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What Meilisearch's tokenizer may make words of: letters and digits (a run of them may
# be cut into as many words as it has characters: Chinese, camelCase), and any other
# visible character (a symbol may be a word). Whitespace never is.
_PIECE = re.compile(r"[^\W_]{1,4000}|\S")


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


def _stems(lang: str, text: str) -> str:
    return " ".join(analyzer(lang).analyze(text)) if lang != "plain" and text else ""


def _words(values: list[str]) -> list[str]:
    return sorted({w for v in values for w in WORD.findall(fold(v))})


def _costs(text: str) -> list[tuple[int, int, int]]:
    """(start, end, positions at most) of each piece of `text` Meilisearch may make words of.

    Meilisearch moves one position per word, eight after a hard separator. A visible
    character that is not a letter or digit may be a word after a hard separator (8); a
    run of letters and digits may be one word per character (Chinese, camelCase): 1 each
    inside it, and 1 before it only where spaces alone follow another run (8 otherwise).
    So the bound holds for text with no spaces, any script and any punctuation."""
    out: list[tuple[int, int, int]] = []
    previous_end, previous_alnum = -1, False
    for m in _PIECE.finditer(text):
        s, e = m.start(), m.end()
        if m.group()[0].isalnum():
            plain = previous_alnum and text[previous_end:s].strip(" ") == ""
            out.append((s, e, (1 if plain else 8) + e - s - 1))
            previous_alnum = True
        else:
            out.append((s, e, 8))
            previous_alnum = False
        previous_end = e
    return out


def position_bound(text: str) -> int:
    """At least the last position Meilisearch gives a word of `text`."""
    return sum(c for _, _, c in _costs(text))


def cut(text: str, limit: int = MAX_POSITIONS) -> list[tuple[int, int]]:
    """`text` as parts (start, end) whose words all get positions under `limit`. A part
    starts with the last words of the one before (OVERLAP_POSITIONS), so that a phrase
    across a cut is found in one of them."""
    pieces = _costs(text)
    parts: list[tuple[int, int]] = []
    first, total = 0, 0
    for i, (_, _, cost) in enumerate(pieces):
        if total + cost > limit and i > first:
            parts.append((pieces[first][0], pieces[i - 1][1]))
            back, carried = i, 0
            while back - 1 > first and carried + pieces[back - 1][2] <= OVERLAP_POSITIONS:
                back -= 1
                carried += pieces[back][2]
            if back < i:  # the part's first piece follows nothing: counted as such
                s, e, c = pieces[back]
                carried += (e - s - 1 + 8) - c
            first, total = back, carried
        total += cost
    if pieces:
        parts.append((pieces[first][0], len(text)))
    return parts


def _parts(text: str) -> dict[str, str]:
    return {str(n): text[s:e] for n, (s, e) in enumerate(cut(text))}


def document(d: IndexDoc) -> dict[str, Any]:
    """The Meilisearch document of one library document."""
    lang = stem_language(d.language)
    title = _clean(d.title)
    description = _clean(d.description)
    added = int(d.added.timestamp()) if d.added else 0
    year = d.year if d.year is not None else (d.added.year if d.added else 0)
    body = ""
    page_offsets: list[tuple[int, int]] = []  # (character offset, page number)
    for number, text in enumerate(d.pages, start=1):
        page_offsets.append((len(body), number))
        body += _clean(text) + "\n\n"
    parts, page_starts = {}, {}
    for n, (s, e) in enumerate(cut(body)):
        parts[str(n)] = body[s:e]
        i = max(bisect.bisect_right([o for o, _ in page_offsets], s) - 1, 0)
        starts = [[0, page_offsets[i][1]]]
        for offset, number in page_offsets[i + 1 :]:
            if offset >= e:
                break
            starts.append([len(body[s:offset].encode()), number])
        page_starts[str(n)] = starts
    out: dict[str, Any] = {
        "id": d.document_id,
        "collection_id": d.collection_id,
        "title": title,
        "title_stems": _stems(lang, title),
        "authors": d.authors,
        "subjects": d.subjects,
        "description": _parts(description),
        "description_stems": _parts(_stems(lang, description)),
        "body": parts,
        "stems": _parts(_stems(lang, body)),
        "page_starts": page_starts,
        "author_f": d.authors,
        "subject_f": d.subjects,
        "author_k": [filter_key(a) for a in d.authors],
        "subject_k": [filter_key(s) for s in d.subjects],
        "type": d.type or "other",
        "language": d.language or "und",
        "stem_lang": lang,
        "title_w": sorted({*_words([title]), *_stems(lang, title).split()}),
        "author_w": _words(d.authors),
        "subject_w": _words(d.subjects),
        "collection_w": _words([d.collection]),
        "date_key": year * 10_000_000_000 + added % 10_000_000_000,
        "title_sort": sort_title(d.title)[:200] or "~",
    }
    if d.year is not None:
        out["year"] = d.year
    return out


def batches(docs: list[dict[str, Any]], limit: int = MAX_BATCH_BYTES) -> list[bytes]:
    """JSON arrays of documents, each at most `limit` bytes (a larger document alone)."""
    out: list[bytes] = []
    batch: list[bytes] = []
    size = 2
    for d in docs:
        encoded = json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode()
        if batch and size + len(encoded) + 1 > limit:
            out.append(b"[" + b",".join(batch) + b"]")
            batch, size = [], 2
        batch.append(encoded)
        size += len(encoded) + 1
    if batch:
        out.append(b"[" + b",".join(batch) + b"]")
    return out


def page_of(starts: list[list[int]], byte_offset: int) -> int | None:
    """The page a match at `byte_offset` of a part lies on."""
    if not starts:
        return None
    i = bisect.bisect_right([s for s, _ in starts], byte_offset) - 1
    return starts[max(i, 0)][1]


def segments(formatted: str) -> list[Segment]:
    """A cropped, highlighted text as plain segments (matched words whole)."""
    if PRE not in formatted:
        return []
    out: list[Segment] = []
    text = " ".join(formatted.split())
    pos = 0
    while (start := text.find(PRE, pos)) != -1:
        end = text.find(POST, start)
        end = len(text) if end == -1 else end
        before, word, after_from = text[pos:start], text[start + 1 : end], end + 1
        # Meilisearch marks only the matched start of a word found by its prefix: the
        # whole word is the hit.
        head = re.search(r"[\w'’]*$", before)
        tail = re.match(r"[\w'’]*", text[after_from:].split(PRE, 1)[0])
        lead = head.group() if head else ""
        rest = tail.group() if tail else ""
        if before[: len(before) - len(lead)]:
            out.append(Segment(before[: len(before) - len(lead)], False))
        out.append(Segment(lead + word + rest, True))
        pos = after_from + len(rest)
    if pos < len(text):
        out.append(Segment(text[pos:], False))
    return [Segment(s.text.replace(PRE, "").replace(POST, ""), s.hit) for s in out if s.text]


def best_part(hit: dict[str, Any]) -> tuple[list[Segment], int | None]:
    """The snippet of the part of the text with the most matched words, and its page."""
    formatted = (hit.get("_formatted") or {}).get("body") or {}
    if not isinstance(formatted, dict):
        return [], None
    best: tuple[int, int, str, list[Segment]] | None = None
    for part, text in formatted.items():
        found = segments(str(text or ""))
        hits = len({fold(s.text) for s in found if s.hit})
        key = (hits, -int(part) if part.isdigit() else 0)
        if hits and (best is None or key > best[:2]):
            best = (*key, part, found)
    if best is None:
        return [], None
    part, snippet = best[2], best[3]
    positions = (hit.get("_matchesPosition") or {}).get(f"body.{part}") or []
    starts = (hit.get("page_starts") or {}).get(part) or []
    page = page_of(starts, int(positions[0]["start"])) if positions else None
    return snippet, page
