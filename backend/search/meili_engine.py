"""Meilisearch, the engine for a library served from several machines (MEILI_URL).

Spoken to over its REST API with httpx. (The Python SDK sends its own crop defaults with
every search and has no `distinct`; the few JSON bodies below are plainer to check
against the API reference.)

How the library's search maps onto Meilisearch:
- Long texts are split into chunks (Meilisearch ignores words past 65,535 positions per
  attribute, and a hard separator takes 8): one Meilisearch document per chunk of at most
  CHUNK_WORDS words, each carrying the document's title, names and filter values;
  `distinctAttribute` is the document id, so a document is one hit and one facet count.
- Meilisearch does not stem. Every chunk also carries its words stemmed by the document's
  language (`title_stems`, `stems`), and each query runs once with the words as typed
  (typo tolerance, prefix of the last word) and once per language in use with the words
  stemmed, restricted to documents of that language; federated multi-search merges them
  (a document found twice is one hit).
- Meilisearch has no OR between words. The query tree is rewritten as an OR of ANDs
  (negations pushed down to the words); each AND is one query of the federated search:
  its words in `q` (`-word` for an exclusion), its field words (title:, author:, …),
  years, types and languages as filters on word lists and values indexed for that.
- Visibility and facet choices are filters of every query; facet counts come from the
  federation, a filtered facet from a second search without its own choice.
"""

import asyncio
import bisect
import math
import re
import time
from dataclasses import dataclass, field
from itertools import product
from typing import Any
from urllib.parse import quote

import httpx
from rapidfuzz.distance import Levenshtein

from backend.search.engine import (
    ENGLISH_STOPWORDS,
    FACETS,
    Completions,
    EngineHit,
    EngineQuery,
    EngineResult,
    IndexDoc,
    fold,
    language_codes,
    minimum_should_match,
    sort_title,
    starts_a_word,
)
from backend.search.query import (
    And,
    Node,
    Not,
    Or,
    Phrase,
    Range,
    Term,
    positives,
    render,
    replace_terms,
)
from backend.search.schemas import Segment
from backend.search.tantivy_engine import analyzer, stem_language

# Meilisearch counts a word as one position and a hard separator (. , ; …) as eight:
# 7,000 words stay under 65,535 positions even in a text of comma-separated numbers.
CHUNK_WORDS = 7_000
CROP_WORDS = 30
MAX_CONJUNCTIONS = 8  # a query that rewrites into more ANDs is read more loosely
MAX_BATCH_BYTES = 50_000_000  # under the default 100 MB payload limit
TASK_TIMEOUT = 600.0
LANGUAGES_TTL = 60.0
# Highlight marks no indexed text contains (control characters are cleaned out).
PRE, POST = "\x02", "\x03"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORD = re.compile(r"[\w'’]+")
FACET_ATTRIBUTES = {
    "collection": "collection_id",
    "author": "author_f",
    "subject": "subject_f",
    "year": "year",
    "type": "type",
    "language": "language",
}
WORD_LISTS = {"title": "title_w", "author": "author_w", "subject": "subject_w"}
SETTINGS: dict[str, Any] = {
    # The order is the attribute ranking: title above names above description above text.
    "searchableAttributes": ["title", "title_stems", "people", "description", "body", "stems"],
    "displayedAttributes": ["document_id", "chunk", "title", "people", "body", "page_starts"],
    "filterableAttributes": [
        "document_id",
        "chunk",
        "collection_id",
        "author_f",
        "subject_f",
        "type",
        "language",
        "stem_lang",
        "year",
        "title_w",
        "author_w",
        "subject_w",
        "collection_w",
    ],
    "sortableAttributes": ["date_key", "title_sort"],
    "distinctAttribute": "document_id",
    # "sort" first: a search sorted by date or title is in that order, relevance breaking
    # ties; without a sort the rule does nothing.
    "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness"],
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}},
    "pagination": {"maxTotalHits": 10_000},
    "faceting": {"maxValuesPerFacet": 200, "sortFacetValuesBy": {"*": "count"}},
}
RETRIEVE = ["document_id", "page_starts"]


class MeiliError(RuntimeError):
    """Meilisearch refused a request or a task failed (the indexer retries)."""


# --- documents -------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


def _stems(lang: str, text: str) -> str:
    return " ".join(analyzer(lang).analyze(text)) if lang != "plain" and text else ""


def _words(values: list[str]) -> list[str]:
    return sorted({w for v in values for w in _WORD.findall(fold(v))})


def split_pages(pages: list[str], limit: int = CHUNK_WORDS) -> list[list[tuple[int, str]]]:
    """Pages grouped into chunks of at most `limit` words, each page with its number; a
    page longer than that is cut into parts that keep its number."""
    chunks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    size = 0
    for number, page in enumerate(pages, start=1):
        words = page.split()
        parts = (
            [page]
            if len(words) <= limit
            else [" ".join(words[i : i + limit]) for i in range(0, len(words), limit)]
        )
        for part in parts:
            n = len(part.split()) if len(parts) > 1 else len(words)
            if current and size + n > limit:
                chunks.append(current)
                current, size = [], 0
            current.append((number, part))
            size += n
    if current:
        chunks.append(current)
    return chunks or [[]]


def chunk_documents(d: IndexDoc) -> list[dict[str, Any]]:
    """The Meilisearch documents of one library document: one per chunk of its text."""
    lang = stem_language(d.language)
    title = _clean(d.title)
    description = _clean(d.description)
    added = int(d.added.timestamp()) if d.added else 0
    year = d.year if d.year is not None else (d.added.year if d.added else 0)
    common: dict[str, Any] = {
        "document_id": d.document_id,
        "collection_id": d.collection_id,
        "title": title,
        "title_stems": _stems(lang, title),
        "people": [*d.authors, *d.subjects],
        "description": description,
        "author_f": d.authors,
        "subject_f": d.subjects,
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
        common["year"] = d.year
    out = []
    for n, pages in enumerate(split_pages(d.pages)):
        body, starts = "", []
        for number, text in pages:
            starts.append([len(body.encode()), number])
            body += _clean(text) + "\n\n"
        out.append(
            {
                **common,
                "id": f"{d.document_id}-{n}",
                "chunk": n,
                "body": body,
                "page_starts": starts,
                "stems": _stems(lang, f"{description} {body}"),
            }
        )
    return out


def page_of(starts: list[list[int]], byte_offset: int) -> int | None:
    """The page a match at `byte_offset` of a chunk's body lies on."""
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


# --- queries -----------------------------------------------------------------------------


def quote_value(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _one_of(attribute: str, values: list[str] | list[int]) -> str:
    return f"{attribute} IN [{', '.join(quote_value(v) for v in values)}]"


class TooComplex(Exception):
    """The tree rewrites into more than MAX_CONJUNCTIONS ANDs."""


Literal = tuple[Node, bool]  # a word, phrase, field value or range, and whether negated


def dnf(node: Node, negated: bool = False) -> list[list[Literal]]:
    """The tree as an OR of ANDs of (negated) leaves (negations pushed to the leaves)."""
    if isinstance(node, Not):
        return dnf(node.child, not negated)
    if isinstance(node, And | Or):
        conjunction = isinstance(node, And) != negated
        parts = [dnf(child, negated) for child in node.children]
        if not conjunction:
            out = [c for part in parts for c in part]
        elif math.prod(len(p) for p in parts) > MAX_CONJUNCTIONS:
            raise TooComplex
        else:
            out = [[lit for conj in combo for lit in conj] for combo in product(*parts)]
        if len(out) > MAX_CONJUNCTIONS:
            raise TooComplex
        return out
    return [[(node, negated)]]


@dataclass
class Conjunction:
    words: list[Term] = field(default_factory=list)
    phrases: list[tuple[str, ...]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # words and "phrases", as typed
    filters: list[str] = field(default_factory=list)
    strategy: str = "all"


class Compiler:
    """The query tree as the queries of one federated Meilisearch search."""

    def __init__(self, languages: list[str]) -> None:
        self.languages = [lang for lang in languages if lang != "plain"]

    def stem(self, lang: str, word: str) -> str:
        tokens = analyzer(lang).analyze(word)
        return tokens[0] if len(tokens) == 1 else fold(word)

    def conjunctions(self, tree: Node) -> list[Conjunction]:
        loose = isinstance(tree, And) and tree.implicit
        try:
            ors = dnf(tree)
        except TooComplex:
            # Too many combinations for one federated search: every wanted word, the
            # documents with most of them first.
            ors = [[(n, False) for n in positives(tree)]]
            loose = True
        out = []
        for literals in ors:
            c = Conjunction()
            for node, negated in literals:
                self._literal(c, node, negated)
            content = [w for w in c.words if fold(w.text) not in ENGLISH_STOPWORDS]
            if content and (loose or len(content) < len(c.words)):
                c.words = content  # "what is known about X": X
            if loose and minimum_should_match(len(c.words)) < len(c.words):
                c.strategy = "frequency"
            out.append(c)
        return out

    def _literal(self, c: Conjunction, node: Node, negated: bool) -> None:
        if isinstance(node, Range):
            low, high = node.low, node.high
            if low is not None and high is not None:
                f = f"year {low} TO {high}"
            elif low is not None:
                f = f"year >= {low}"
            elif high is not None:
                f = f"year <= {high}"
            else:
                f = "year EXISTS"
            c.filters.append(f"NOT ({f})" if negated else f)
            return
        if isinstance(node, Term | Phrase) and node.field:
            f = self._field_filter(node)
            c.filters.append(f"NOT ({f})" if negated else f)
            return
        if isinstance(node, Phrase):
            if negated:
                c.excluded.append('"' + " ".join(node.words) + '"')
            else:
                c.phrases.append(node.words)
            return
        if isinstance(node, Term):
            if negated:
                c.excluded.append(node.text)
            else:
                c.words.append(node)

    def _field_filter(self, node: Term | Phrase) -> str:
        name = node.field or ""
        text = node.text if isinstance(node, Term) else " ".join(node.words)
        if name == "type":
            return _one_of("type", [fold(text)])
        if name == "language":
            return _one_of("language", language_codes(text) or [fold(text)])
        if name == "year":
            return f"year = {int(text)}" if text.isdigit() else "year NOT EXISTS"
        attribute = WORD_LISTS.get(name, "collection_w")
        words = _WORD.findall(fold(text)) or [fold(text)]
        parts = []
        for i, w in enumerate(words):
            if isinstance(node, Term) and node.prefix and i == len(words) - 1:
                parts.append(f"{attribute} STARTS WITH {quote_value(w)}")
                continue
            forms = {w}
            if name == "title":
                forms |= {self.stem(lang, w) for lang in self.languages}
            parts.append(_one_of(attribute, sorted(forms)))
        return " AND ".join(parts)

    def texts(self, c: Conjunction) -> list[tuple[str, list[str]]]:
        """The `q` of the conjunction as typed (for every document), then stemmed, with the
        languages whose stemmer gives that form (only where it differs from the typed)."""
        excluded = set()
        for e in c.excluded:
            excluded.add(e)
            if not e.startswith('"'):
                excluded |= {self.stem(lang, e) for lang in self.languages}

        def q(words: list[str]) -> str:
            parts = [*words, *('"' + " ".join(p) + '"' for p in c.phrases)]
            parts += ["-" + e for e in sorted(excluded)]
            return " ".join(parts)

        # A word marked prefix* goes last: Meilisearch reads only the last word as a prefix.
        ordered = [w for w in c.words if not w.prefix] + [w for w in c.words if w.prefix]
        typed = [w.text for w in ordered]
        stemmed: dict[str, list[str]] = {}
        for lang in self.languages:
            words = [w.text if w.prefix else self.stem(lang, w.text) for w in ordered]
            if words != [fold(t) for t in typed]:
                stemmed.setdefault(q(words), []).append(lang)
        return [(q(typed), []), *stemmed.items()]


# --- the engine --------------------------------------------------------------------------


class MeiliEngine:
    name = "meilisearch"

    def __init__(self, url: str, api_key: str = "", index: str = "library") -> None:
        self.url = url.rstrip("/")
        self.index = index
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._languages: tuple[float, list[str]] | None = None

    # --- talking to the server ---

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=30.0)

    @staticmethod
    def _answer(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("message", response.text)
            except ValueError:
                detail = response.text
            raise MeiliError(f"Meilisearch {response.status_code}: {detail}")
        return response.json() if response.content else None

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with self._client() as client:
            return self._answer(await client.request(method, path, json=body))

    async def _task(self, method: str, path: str, body: Any = None) -> None:
        """A write, waited for until Meilisearch has applied it."""
        async with self._client() as client:
            task = self._answer(await client.request(method, path, json=body))
            deadline = time.monotonic() + TASK_TIMEOUT
            delay = 0.02
            while True:
                state = self._answer(await client.get(f"/tasks/{task['taskUid']}"))
                if state["status"] == "succeeded":
                    return
                if state["status"] in ("failed", "canceled"):
                    error = (state.get("error") or {}).get("message", state["status"])
                    raise MeiliError(f"Meilisearch task {task['taskUid']}: {error}")
                if time.monotonic() > deadline:
                    raise MeiliError(f"Meilisearch task {task['taskUid']} is still running")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    def prepare(self) -> bool:
        """The index with its settings; True when it had to be created."""
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30.0) as client:

            def task(method: str, path: str, body: Any) -> None:
                uid = self._answer(client.request(method, path, json=body))["taskUid"]
                deadline = time.monotonic() + TASK_TIMEOUT
                while True:
                    state = self._answer(client.get(f"/tasks/{uid}"))
                    if state["status"] == "succeeded":
                        return
                    if state["status"] in ("failed", "canceled") or time.monotonic() > deadline:
                        raise MeiliError(f"Meilisearch task {uid}: {state.get('error')}")
                    time.sleep(0.05)

            created = client.get(f"/indexes/{self.index}").status_code == 404
            if created:
                task("POST", "/indexes", {"uid": self.index, "primaryKey": "id"})
            task("PATCH", f"/indexes/{self.index}/settings", SETTINGS)
            # title:tolk* needs STARTS WITH, experimental before it was made stable.
            client.patch("/experimental-features", json={"containsFilter": True})
        return created

    # --- writing ---

    async def apply(self, upserts: list[IndexDoc], deletes: list[int]) -> None:
        path = f"/indexes/{self.index}/documents"
        stale = [f"document_id = {i}" for i in deletes]
        batch: list[dict[str, Any]] = []
        size = 0
        for d in upserts:
            chunks = chunk_documents(d)
            # Replaced in place (same ids), then chunks the new text no longer has go:
            # the document is never missing from the index in between.
            stale.append(f"(document_id = {d.document_id} AND chunk >= {len(chunks)})")
            for c in chunks:
                n = len(c["body"]) + len(c["stems"]) + 1000
                if batch and size + n > MAX_BATCH_BYTES:
                    await self._task("POST", path, batch)
                    batch, size = [], 0
                batch.append(c)
                size += n
        if batch:
            await self._task("POST", path, batch)
        if stale:
            await self._task("POST", f"{path}/delete", {"filter": " OR ".join(stale)})
        self._languages = None

    async def clear(self) -> None:
        await self._task("DELETE", f"/indexes/{self.index}/documents")
        self._languages = None

    async def drop(self) -> None:
        """Delete the whole index (its settings too)."""
        await self._task("DELETE", f"/indexes/{self.index}")

    async def count(self) -> int:
        answer = await self._call(
            "GET",
            f"/indexes/{self.index}/documents?limit=0&fields=document_id"
            f"&filter={quote('chunk = 0')}",
        )
        return int(answer["total"])

    # --- searching ---

    async def _languages_in_use(self) -> list[str]:
        now = time.monotonic()
        if self._languages and now - self._languages[0] < LANGUAGES_TTL:
            return self._languages[1]
        answer = await self._call(
            "POST", f"/indexes/{self.index}/search", {"q": "", "limit": 0, "facets": ["stem_lang"]}
        )
        langs = sorted((answer.get("facetDistribution") or {}).get("stem_lang", {}))
        self._languages = (now, langs)
        return langs

    @staticmethod
    def _scope(collections: list[int] | None) -> list[str]:
        if collections is None:
            return []
        return [_one_of("collection_id", collections) if collections else "collection_id = -1"]

    @staticmethod
    def _filter(facet: str, values: list[str]) -> str:
        attribute = FACET_ATTRIBUTES[facet]
        if facet in ("collection", "year"):
            return _one_of(attribute, [int(v) for v in values if v.lstrip("-").isdigit()] or [-1])
        return _one_of(attribute, values)

    def _queries(
        self, query: EngineQuery, compiler: Compiler, skip_facet: str | None = None
    ) -> list[dict[str, Any]]:
        base = self._scope(query.collections) + [
            self._filter(f, v)
            for f, v in query.filters.items()
            if v and f in FACETS and f != skip_facet
        ]
        sort = {"date": ["date_key:desc"], "title": ["title_sort:asc"]}.get(query.sort)
        common: dict[str, Any] = {
            "indexUid": self.index,
            "attributesToRetrieve": RETRIEVE,
            "attributesToHighlight": ["title", "people", "body"],
            "attributesToCrop": ["body"],
            "cropLength": CROP_WORDS,
            "cropMarker": "…",
            "highlightPreTag": PRE,
            "highlightPostTag": POST,
            "showMatchesPosition": True,
        }
        if sort:
            common["sort"] = sort
        if query.tree is None:
            return [{**common, "q": "", "filter": base}]
        out = []
        for c in compiler.conjunctions(query.tree):
            for q, langs in compiler.texts(c):
                filters = base + c.filters + ([_one_of("stem_lang", langs)] if langs else [])
                out.append({**common, "q": q, "filter": filters, "matchingStrategy": c.strategy})
        return out

    async def _federated(
        self, queries: list[dict[str, Any]], offset: int, limit: int, facets: list[str]
    ) -> dict[str, Any]:
        federation: dict[str, Any] = {"offset": offset, "limit": limit}
        if facets:
            federation["facetsByIndex"] = {
                self.index: [FACET_ATTRIBUTES[f] for f in facets],
            }
        return dict(
            await self._call(
                "POST", "/multi-search", {"federation": federation, "queries": queries}
            )
        )

    async def search(self, query: EngineQuery) -> EngineResult:
        compiler = Compiler(await self._languages_in_use())
        queries = self._queries(query, compiler)
        chosen = [f for f, v in query.filters.items() if v and f in FACETS]
        shared = [f for f in FACETS if f not in chosen] if query.facets else []
        calls = [self._federated(queries, query.offset, query.limit, shared)]
        if query.facets:
            # A facet with a choice counts as if nothing were chosen in it (so a second
            # value can be added), under every other choice.
            calls += [
                self._federated(self._queries(query, compiler, skip_facet=f), 0, 0, [f])
                for f in chosen
            ]
        answers = await asyncio.gather(*calls)
        main = answers[0]
        result = EngineResult(total=int(main.get("estimatedTotalHits") or 0))
        for hit in main.get("hits", []):
            formatted = hit.get("_formatted") or {}
            positions = (hit.get("_matchesPosition") or {}).get("body") or []
            snippet = segments(str(formatted.get("body") or ""))
            page = (
                page_of(hit.get("page_starts") or [], positions[0]["start"]) if positions else None
            )
            score = float((hit.get("_federation") or {}).get("weightedRankingScore") or 0.0)
            result.hits.append(
                EngineHit(
                    document_id=int(hit["document_id"]),
                    score=score,
                    snippet=snippet,
                    page_no=page if snippet else None,
                )
            )
        if query.facets:
            distribution: dict[str, dict[str, int]] = {}
            for answer in answers:
                per_index = (answer.get("facetsByIndex") or {}).get(self.index) or {}
                distribution.update(per_index.get("distribution") or {})
            for f in FACETS:
                counts = distribution.get(FACET_ATTRIBUTES[f], {})
                result.facets[f] = _ordered(f, counts, query.facet_size)
        if query.tree is not None:
            result.suggestion = suggestion(query.tree, main.get("hits", []), compiler)
        return result

    async def complete(self, text: str, collections: list[int] | None, limit: int) -> Completions:
        words = text.split()
        if not words:
            return Completions()
        scope = {"filter": self._scope(collections)} if collections is not None else {}
        titles = self._call(
            "POST",
            f"/indexes/{self.index}/search",
            {
                "q": text,
                "attributesToSearchOn": ["title"],
                "matchingStrategy": "all",
                "limit": limit,
                **scope,
                "attributesToRetrieve": ["document_id"],
            },
        )

        def names(attribute: str) -> Any:
            body = {"facetName": attribute, "facetQuery": words[0], **scope}
            return self._call("POST", f"/indexes/{self.index}/facet-search", body)

        found, authors, subjects = await asyncio.gather(
            titles, names("author_f"), names("subject_f")
        )

        def fitting(answer: Any) -> list[str]:
            values = [str(h["value"]) for h in answer.get("facetHits", [])]
            return [v for v in values if all(starts_a_word(v, w) for w in words)][:limit]

        return Completions(
            documents=[int(h["document_id"]) for h in found.get("hits", [])],
            authors=fitting(authors),
            subjects=fitting(subjects),
        )


def _ordered(facet: str, counts: dict[str, int], size: int) -> list[tuple[str, int]]:
    rows = [(str(v), int(n)) for v, n in counts.items() if not (facet == "language" and v == "und")]
    if facet == "year":
        rows.sort(key=lambda r: -int(r[0]) if r[0].lstrip("-").isdigit() else 0)
    else:
        rows.sort(key=lambda r: (-r[1], r[0]))
    return rows[:size]


def suggestion(tree: Node, hits: list[dict[str, Any]], compiler: Compiler) -> str | None:
    """ "Did you mean": each word typed that no hit has, replaced by the nearest word the
    hits were found by (Meilisearch's typo tolerance and prefix search found them)."""
    found: set[str] = set()
    for hit in hits:
        formatted = hit.get("_formatted") or {}
        for value in (formatted.get("title"), formatted.get("people"), formatted.get("body")):
            for text in value if isinstance(value, list) else [value]:
                for s in segments(str(text or "")):
                    if s.hit:
                        found |= set(_WORD.findall(fold(s.text)))
    if not found:
        return None
    corrections: dict[str, str] = {}
    for node in positives(tree):
        if not isinstance(node, Term) or node.field or node.prefix:
            continue
        word = fold(node.text)
        stems = {compiler.stem(lang, word) for lang in compiler.languages}
        if word in found or any(
            compiler.stem(lang, w) in stems for w in found for lang in compiler.languages
        ):
            continue
        near = [
            (0 if w.startswith(word) else Levenshtein.distance(word, w), len(w), w)
            for w in found
            if w.startswith(word) or Levenshtein.distance(word, w) <= 2
        ]
        if near:
            corrections[node.text] = min(near)[2]
    return render(replace_terms(tree, corrections)) if corrections else None
