"""What every search engine takes and gives back, so the search service can use any of them.

The engines (tantivy in-process, Meilisearch, PostgreSQL full-text search) all pass one
contract test suite (tests/backend/test_engines.py).
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from backend.languages import CODES_BY_NAME
from backend.search.query import Node, without_points
from backend.search.schemas import Segment

FACETS = ("collection", "author", "subject", "year", "type", "language")
# ISO 639-1 code -> the Snowball stemmer's name, the same in tantivy and PostgreSQL.
SNOWBALL_LANGUAGES = {
    "ar": "arabic",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "hu": "hungarian",
    "it": "italian",
    "nl": "dutch",
    "no": "norwegian",
    "nb": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
}
Sort = Literal["relevance", "date", "title"]
SORTS: tuple[Sort, ...] = ("relevance", "date", "title")
# "More like this": the document's most significant words asked for (as Lucene's
# MoreLikeThis), each in at least one other document, and none shorter than this (but
# for the ideographs of scripts without spaces, each a word of its own: IDEOGRAPHIC_RANGES).
LIKE_TERMS = 25
LIKE_MIN_WORD = 3
# A document sharing only a trace of that weight (one common word, "txt" of a file name) is
# not "like" it: kept are those scoring at least this share of the best one's score.
LIKE_MIN_SHARE = 0.1


# Words in more than a quarter of a large library are passed over (Lucene's maxDocFreq):
# they say little, and their postings are long.
def like_max_documents(library_size: int) -> int:
    return max(library_size // 4, 1000)


SNIPPET_CHARS = 220
# Chinese characters (with 々 〆 〇 and the Suzhou numerals), hiragana and katakana: scripts
# written without spaces between words. Every engine reads each such character as a word
# of its own, as Lucene's standard tokenizer does, and a word of them asked for is the
# phrase of its characters, so "甘草" is found inside "新鲜甘草黄酮养分" and "草甘膦" is not
# found by it. (Meilisearch segments these scripts itself.) Korean is written with
# spaces, and Thai's words need a dictionary: both stay runs of letters.
IDEOGRAPHIC_RANGES = (
    (0x3005, 0x3007),
    (0x3021, 0x3029),
    (0x3038, 0x303B),
    (0x3041, 0x3096),
    (0x309D, 0x309F),
    (0x30A1, 0x30FA),
    (0x30FC, 0x30FF),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x20000, 0x3134F),
)
# The ranges as the inside of a bracketed class, in the syntax Python's re, Rust's regex
# (tantivy) and PostgreSQL's regular expressions share: the characters themselves.
IDEOGRAPHIC = "".join(f"{chr(a)}-{chr(b)}" for a, b in IDEOGRAPHIC_RANGES)
_IDEOGRAPH = re.compile(f"[{IDEOGRAPHIC}]")
# What an engine sets ideographs apart by in the text it stores (U+0001: a space to every
# word parser, in no real text); dropped from what is shown (split_segments).
APART = "\x01"
LEADING_ARTICLES = ("the ", "a ", "an ", "le ", "la ", "les ", "l'", "der ", "die ", "das ")
# The Snowball project's English stop words: dropped from a query of words written side
# by side (never from a "phrase"), so "what is known about X" searches for X.
_NUMBER = re.compile(r"\d+")
_LEADING_MARKS = re.compile(r"^[\W_]+")
ENGLISH_STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing would should could ought i'm you're he's she's it's we're they're i've
    you've we've they've i'd you'd he'd she'd we'd they'd i'll you'll he'll she'll we'll
    they'll isn't aren't wasn't weren't hasn't haven't hadn't doesn't don't didn't won't
    wouldn't shan't shouldn't can't cannot couldn't mustn't let's that's who's what's here's
    there's when's where's why's how's a an the and but if or because as until while of at by
    for with about against between into through during before after above below to from up
    down in out on off over under again further then once here there when where why how all
    any both each few more most other some such no nor not only own same so than too very
    can will just must""".split()
)


@dataclass
class IndexDoc:
    """One document as the engines index it (built from PostgreSQL by the indexer)."""

    document_id: int
    collection_id: int
    collection: str  # the collection's name and slug, for collection:… queries
    title: str
    authors: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    description: str = ""
    pages: list[str] = field(default_factory=list)  # text of page 1, 2, …
    year: int | None = None
    type: str = ""  # a short lower-case label: pdf, docx, epub, html, text, image, …
    language: str = ""  # ISO 639-1, or "" when unknown
    added: datetime | None = None

    def __post_init__(self) -> None:
        # Indexed as searched (backend.search.query.parse): without vowel points.
        self.title = without_points(self.title)
        self.authors = [without_points(a) for a in self.authors]
        self.subjects = [without_points(s) for s in self.subjects]
        self.description = without_points(self.description)
        self.pages = [without_points(p) for p in self.pages]


@dataclass
class EngineQuery:
    tree: Node | None  # None: every document (with filters)
    # The collections the actor may see; None for staff, who see all. Part of the
    # engine's query, never a filter on its results.
    collections: list[int] | None
    filters: dict[str, list[str]] = field(default_factory=dict)  # facet -> chosen values
    sort: Sort = "relevance"
    offset: int = 0
    limit: int = 10
    facets: bool = True
    facet_size: int = 10
    # Snippets and page numbers for the hits; off where only the order is wanted
    # (bench/relevance's tuning).
    snippets: bool = True
    # Only these documents (None: any): which of a day's new documents match a saved
    # search. Part of the scope, like the collections.
    within: list[int] | None = None


@dataclass
class EngineHit:
    document_id: int
    score: float
    snippet: list[Segment] = field(default_factory=list)
    page_no: int | None = None


@dataclass
class EngineResult:
    total: int
    hits: list[EngineHit] = field(default_factory=list)
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    suggestion: str | None = None  # "did you mean", as a whole query
    # Of `total` (the documents with any wanted word), those with every one; None when
    # the query has no words side by side.
    every_word: int | None = None


@dataclass
class Completions:
    """What the words typed so far (the last one unfinished) may become."""

    documents: list[int] = field(default_factory=list)  # ids of documents whose title fits
    authors: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


class IndexBuild(Protocol):
    """A new index being filled beside the live one (which keeps answering searches), then
    put in its place at once by `switch`, or dropped by `abort`."""

    async def apply(self, upserts: list[IndexDoc]) -> None: ...
    async def switch(self) -> None: ...
    async def abort(self) -> None: ...


class SearchEngine(Protocol):
    name: str

    async def build_beside(self) -> IndexBuild:
        """Start a new, empty index beside the live one (a rebuild without downtime)."""
        ...

    def prepare(self) -> bool:
        """Create what the engine needs (an index, its settings) if missing.

        Returns True when the index was created empty, so every document must be queued.
        """

    async def apply(self, upserts: list[IndexDoc], deletes: list[int]) -> None:
        """Add or replace `upserts` and remove `deletes` (document ids), durably."""

    async def search(self, query: EngineQuery) -> EngineResult: ...

    async def clear(self) -> None:
        """Remove every document (before a rebuild)."""

    async def count(self) -> int: ...

    async def complete(self, text: str, collections: list[int] | None, limit: int) -> Completions:
        """Titles, authors and subjects that start with the words typed, visibility applied."""
        ...

    async def similar(
        self, document_id: int, collections: list[int] | None, limit: int
    ) -> list[int]:
        """ "More like this": documents that share the document's significant words (frequent
        in it, rare in the library, by the engine's own statistics), best first, within
        the visible collections; never the document itself."""
        ...


def starts_a_word(value: str, prefix: str) -> bool:
    """Whether some word of `value` begins with `prefix` (both folded)."""
    p = fold(prefix)
    return any(w.startswith(p) for w in re.split(r"[\W_]+", fold(value)) if w)


def has_ideographs(text: str) -> bool:
    return _IDEOGRAPH.search(text) is not None


def ideographs_apart(text: str, mark: str = " ") -> str:
    """The text with `mark` after each of its ideographic characters (IDEOGRAPHIC_RANGES),
    so that a parser of words reads each as one: "甘草 tea" -> "甘 草  tea"."""
    return _IDEOGRAPH.sub(r"\g<0>" + mark, text)


def fold(text: str) -> str:
    """Lower case without accents: the form sort keys and facet matching use."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def sort_title(title: str) -> str:
    """Titles sort without case, accents, leading quotes and marks or a leading article,
    and numbers by value ("volume 2" before "volume 10")."""
    key = " ".join(fold(title).split())
    key = _LEADING_MARKS.sub("", key) or key  # '"Salem's Lot", "#1 Bestseller"
    for article in LEADING_ARTICLES:
        if key.startswith(article) and len(key) > len(article):
            key = key[len(article) :]
            break
    return _NUMBER.sub(lambda m: m.group().zfill(10), key)


def split_segments(fragment: str, spans: list[tuple[int, int]]) -> list[Segment]:
    """A snippet as plain segments: matched words flagged, nothing parsed as markup."""
    out: list[Segment] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        if start > pos:
            out.append(Segment(fragment[pos:start], False))
        out.append(Segment(fragment[start:end], True))
        pos = end
    if pos < len(fragment):
        out.append(Segment(fragment[pos:], False))
    merged = [Segment(" ".join(f".{s.text}.".split())[1:-1].replace(APART, ""), s.hit) for s in out]
    if merged:
        merged[0] = Segment(merged[0].text.lstrip(), merged[0].hit)
        merged[-1] = Segment(merged[-1].text.rstrip(), merged[-1].hit)
    return joined(merged)


def joined(segments: list[Segment]) -> list[Segment]:
    """Segments without empty ones, neighbours alike made one: Chinese characters marked
    one by one are one mark."""
    kept: list[Segment] = []
    for s in segments:
        if not s.text:
            continue
        if kept and kept[-1].hit == s.hit:
            kept[-1] = Segment(kept[-1].text + s.text, s.hit)
        else:
            kept.append(s)
    return kept


def opening(pages: list[str], description: str = "") -> list[Segment]:
    """The start of a document, for a hit whose body did not match."""
    text = description or next((p for p in pages if p.strip()), "")
    text = " ".join(text.split())
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
    return [Segment(text, False)] if text else []


def language_codes(text: str) -> list[str]:
    """ISO 639-1 codes for a language named in English (language:french)."""
    code = CODES_BY_NAME.get(fold(text))
    return [code] if code else []
