from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    """A piece of snippet text; `hit` pieces are the matched words."""

    text: str
    hit: bool


@dataclass(frozen=True)
class Hit:
    document_id: int
    title: str
    collection_name: str
    collection_slug: str
    page_no: int | None
    snippet: list[Segment]
    rank: float
    has_thumbnail: bool = False
    authors: list[str] = field(default_factory=list)  # the first three creators
    year: int | None = None
    kind: str = ""  # pdf, docx, image, … (backend.labels.kind names it)


@dataclass(frozen=True)
class FacetValue:
    value: str  # what a filter carries (a collection's id, an author's name, a year)
    label: str  # what a person reads
    count: int
    selected: bool = False


@dataclass(frozen=True)
class SearchResults:
    query: str
    total: int  # documents found (with any of the words written side by side)
    page: int
    page_size: int
    hits: list[Hit] = field(default_factory=list)
    took_ms: float = 0.0
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: str = "relevance"
    read_as: str = ""  # the query as the parser understood it
    notes: list[str] = field(default_factory=list)  # what the parser did to a malformed query
    suggestion: str | None = None  # "did you mean"
    every_word: int | None = None  # of `total`, those with every word (None: not asked)
    search_key: str = ""  # the recorded search's event key, for its clicks ("": unrecorded)
