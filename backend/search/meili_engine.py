"""Meilisearch, the engine for a library served from several machines (MEILI_URL).

Spoken to over its REST API with httpx; the few JSON bodies are plainer to check against
the API reference than an SDK's defaults. It needs Meilisearch MIN_VERSION or newer
(checked at start, from /version): federated multi-search with facets per index (1.11),
nested fields weighted as their parent attribute and faster indexing (1.12, the version
deploy/compose.yaml runs).

How the library's search maps onto Meilisearch (documents: meili_documents; queries:
meili_query):
- One Meilisearch document per library document. So federated search (which merges its
  queries' hits per Meilisearch document) de-duplicates per library document, totals and
  facet counts count documents, and exclusions, all-words and phrases are checked over the
  whole document.
- Meilisearch indexes at most 65,535 positions per attribute (a word one, a hard
  separator eight): long texts are cut into parts, each a nested field of one attribute
  (`body.0`, `body.1`, …: each nested field counts its own positions, and all have the
  weight of `body`). Parts are cut by an upper bound of the positions Meilisearch can
  give them, whatever the script or punctuation, and overlap by a few words so that a
  phrase across a cut is still found.
- Meilisearch does not stem. Every document also carries its words stemmed by the
  document's language (`title_stems`, `stems`, …), and meili_query runs each query with
  the words stemmed too, restricted to the documents of that language.
- Visibility and facet choices are filters of every query; facet counts come from the
  federation, a chosen facet's from a second search without its own choice.
"""

import asyncio
import logging
import re
import time
from typing import Any

import httpx
from rapidfuzz.distance import Levenshtein

from backend import breakers
from backend.search import ranking
from backend.search.engine import (
    FACETS,
    Completions,
    EngineHit,
    EngineQuery,
    EngineResult,
    IndexDoc,
    fold,
    starts_a_word,
)
from backend.search.meili_documents import (
    POST,
    PRE,
    batches,
    best_part,
    document,
    segments,
)
from backend.search.meili_query import (
    WORD,
    Compiler,
    one_of,
    stem,
)
from backend.search.query import Node, Term, positives, render, replace_terms
from backend.settings import get_settings

log = logging.getLogger(__name__)

MIN_VERSION = (1, 12, 0)
CROP_WORDS = 30
TASK_TIMEOUT = 600.0
LANGUAGES_TTL = 60.0
FACET_ATTRIBUTES = {
    "collection": "collection_id",
    "author": "author_f",
    "subject": "subject_f",
    "year": "year",
    "type": "type",
    "language": "language",
}
# Chosen author and subject values are matched on keys without backslashes (filter_key).
FILTER_ATTRIBUTES = {**FACET_ATTRIBUTES, "author": "author_k", "subject": "subject_k"}
RETRIEVE = ["id", "page_starts"]


def settings() -> dict[str, Any]:
    """The index settings, with the ranking parameters that map onto Meilisearch.

    Field weights become the order of the searchable attributes (Meilisearch ranks an
    attribute above the ones after it): the named fields by their weights (each is a
    bonus over the whole record's score), then the body. What cannot be mapped: BM25's
    k1 and b and the tie-breaker (Meilisearch ranks by rules, not by term statistics),
    the coordination bonus (its "words" rule always puts documents with more of the
    words first), the proximity weight and slop (its "proximity" rule is fixed) and
    pseudo-relevance feedback and its focus.
    """
    r = ranking.current("meilisearch")
    named = [
        (r.title, ["title", "title_stems"]),
        (r.people, ["authors", "subjects"]),
        (r.description, ["description", "description_stems"]),
    ]
    searchable = [
        *(name for _, names in sorted(named, key=lambda f: -f[0]) for name in names),
        "body",
        "stems",
    ]
    return {
        "searchableAttributes": searchable,
        "displayedAttributes": ["id", "title", "authors", "subjects", "body", "page_starts"],
        "filterableAttributes": [
            "id",
            "collection_id",
            "author_f",
            "subject_f",
            "author_k",
            "subject_k",
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
        "distinctAttribute": None,
        # "sort" first: a search sorted by date or title is in that order, relevance
        # breaking ties; without a sort the rule does nothing.
        "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness"],
        "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}},
        "pagination": {"maxTotalHits": 10_000},
        "faceting": {"maxValuesPerFacet": 200, "sortFacetValuesBy": {"*": "count"}},
    }


class MeiliError(RuntimeError):
    """Meilisearch refused a request or a task failed (the indexer retries)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def parse_version(text: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", text.split("-")[0])[:3]
    return tuple(int(n) for n in numbers) + (0,) * (3 - len(numbers))


# --- the engine --------------------------------------------------------------------------


class MeiliEngine:
    name = "meilisearch"

    def __init__(
        self,
        url: str,
        api_key: str = "",
        index: str = "library",
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.index = index
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._languages: tuple[float, list[str]] | None = None
        self._transport = transport  # tests answer for the server

    # --- talking to the server ---

    def _client(self, seconds: float = 30.0) -> httpx.AsyncClient:
        transport = (
            self._transport if isinstance(self._transport, httpx.AsyncBaseTransport) else None
        )
        timeout = httpx.Timeout(seconds, connect=get_settings().connect_timeout_seconds)
        return httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
        )

    @staticmethod
    def _answer(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("message", response.text)
            except ValueError:
                detail = response.text
            raise MeiliError(f"Meilisearch {response.status_code}: {detail}", response.status_code)
        return response.json() if response.content else None

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        """A read a request waits for (searches, counts): within the search deadline and
        through the search engine's circuit (backend.breakers). A server that cannot be
        reached, does not answer in time, or answers 5xx is the engine failing; a 4xx is
        this engine's mistake and passes through as MeiliError."""

        async def ask() -> Any:
            try:
                async with self._client(get_settings().search_timeout_seconds) as client:
                    answer = await client.request(method, path, json=body)
            except httpx.TransportError as exc:
                raise breakers.Failure(f"Meilisearch at {self.url}: {exc!r}") from exc
            if answer.status_code >= 500:
                raise breakers.Failure(f"Meilisearch answered {answer.status_code}")
            return self._answer(answer)

        return await breakers.SEARCH_ENGINE.call(ask)

    async def _task(
        self, method: str, path: str, body: Any = None, content: bytes | None = None
    ) -> None:
        """A write, waited for until Meilisearch has applied it."""
        async with self._client() as client:
            if content is not None:
                sent = client.request(
                    method, path, content=content, headers={"Content-Type": "application/json"}
                )
            else:
                sent = client.request(method, path, json=body)
            task = self._answer(await sent)
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
        """Check the server's version; the index with its settings. True when the index
        had to be made anew (missing, or laid out for an older version of this engine)."""
        transport = self._transport if isinstance(self._transport, httpx.BaseTransport) else None
        with httpx.Client(
            base_url=self.url, headers=self.headers, timeout=30.0, transport=transport
        ) as client:

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

            version = str(self._answer(client.get("/version")).get("pkgVersion", "0"))
            if parse_version(version) < MIN_VERSION:
                needed = ".".join(map(str, MIN_VERSION))
                raise MeiliError(
                    f"Meilisearch {version} is too old: the library needs {needed} or newer "
                    "(federated search with facets, nested fields weighted as their parent)"
                )
            log.info("Meilisearch %s at %s", version, self.url)
            existing = client.get(f"/indexes/{self.index}")
            created = existing.status_code == 404
            if not created:
                old = self._answer(client.get(f"/indexes/{self.index}/settings"))
                # The layout of engine versions before 1.12 (one Meilisearch document per
                # chunk of text, de-duplicated by `distinctAttribute`): rebuild.
                if old.get("distinctAttribute") or "authors" not in old.get(
                    "searchableAttributes", []
                ):
                    task("DELETE", f"/indexes/{self.index}", None)
                    created = True
            if created:
                task("POST", "/indexes", {"uid": self.index, "primaryKey": "id"})
            task("PATCH", f"/indexes/{self.index}/settings", settings())
            # title:tolk* needs STARTS WITH, experimental before it was made stable.
            client.patch("/experimental-features", json={"containsFilter": True})
        return created

    # --- writing ---

    async def apply(self, upserts: list[IndexDoc], deletes: list[int]) -> None:
        path = f"/indexes/{self.index}/documents"
        # A document is replaced whole (every part of its text), never missing between.
        for content in batches([document(d) for d in upserts]):
            await self._task("POST", path, content=content)
        if deletes:
            await self._task("POST", f"{path}/delete-batch", deletes)
        self._languages = None

    async def build_beside(self) -> "_MeiliBuild":
        build = _MeiliBuild(self)
        try:
            await build.engine.drop()  # what an earlier rebuild left, if it stopped
        except MeiliError:
            pass  # none
        await asyncio.to_thread(build.engine.prepare)  # the new index, with its settings
        return build

    async def clear(self) -> None:
        await self._task("DELETE", f"/indexes/{self.index}/documents")
        self._languages = None

    async def drop(self) -> None:
        """Delete the whole index (its settings too)."""
        await self._task("DELETE", f"/indexes/{self.index}")

    async def count(self) -> int:
        answer = await self._call("GET", f"/indexes/{self.index}/documents?limit=0&fields=id")
        return int(answer["total"])

    # --- searching ---

    async def similar(
        self, document_id: int, collections: list[int] | None, limit: int
    ) -> list[int]:
        """Meilisearch answers "similar documents" only through an embedder (vectors),
        which this library does not configure, and exposes no term statistics: with it,
        the document page shows its related documents by author and subject alone."""
        return []

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
    def _scope(collections: list[int] | None, within: list[int] | None = None) -> list[str]:
        chosen = [] if within is None else [one_of("id", within) if within else "id = -1"]
        if collections is None:
            return chosen
        return [
            one_of("collection_id", collections) if collections else "collection_id = -1",
            *chosen,
        ]

    @staticmethod
    def _filter(facet: str, values: list[str]) -> str:
        attribute = FILTER_ATTRIBUTES[facet]
        if facet in ("collection", "year"):
            return one_of(attribute, [int(v) for v in values if v.lstrip("-").isdigit()] or [-1])
        return one_of(attribute, values)

    async def _unknown(self, tree: Node, scope: list[str]) -> set[str]:
        """The plain words of the query that no visible document has."""
        words = sorted(
            {
                fold(n.text)
                for n in positives(tree)
                if isinstance(n, Term) and not n.field and not n.prefix
            }
        )
        if not words:
            return set()
        body = {
            "queries": [
                {"indexUid": self.index, "q": f'"{w}"', "limit": 0, "filter": scope} for w in words
            ]
        }
        answer = await self._call("POST", "/multi-search", body)
        counts = [int(r.get("estimatedTotalHits") or 0) for r in answer.get("results", [])]
        return {w for w, n in zip(words, counts, strict=False) if n == 0}

    def requests(
        self, query: EngineQuery, compiler: Compiler, skip_facet: str | None = None
    ) -> list[dict[str, Any]]:
        """The queries of the federated search (without the choice in `skip_facet`)."""
        base = self._scope(query.collections, query.within) + [
            self._filter(f, v)
            for f, v in query.filters.items()
            if v and f in FACETS and f != skip_facet
        ]
        sort = {"date": ["date_key:desc"], "title": ["title_sort:asc"]}.get(query.sort)
        common: dict[str, Any] = {"indexUid": self.index, "attributesToRetrieve": RETRIEVE}
        if skip_facet is None:
            # Highlighted names and titles feed "did you mean"; snippets need the text.
            shown = ["title", "authors", "subjects"] + (["body"] if query.snippets else [])
            common |= {
                "attributesToHighlight": shown,
                "highlightPreTag": PRE,
                "highlightPostTag": POST,
            }
            if query.snippets:
                common |= {
                    "attributesToCrop": ["body"],
                    "cropLength": CROP_WORDS,
                    "cropMarker": "…",
                    "showMatchesPosition": True,
                }
        else:
            common["attributesToRetrieve"] = ["id"]
        if sort:
            common["sort"] = sort
        if query.tree is None:
            return [{**common, "q": "", "filter": base}]
        return [
            {
                **common,
                "q": q.q,
                "filter": base + q.filters,
                "matchingStrategy": q.strategy,
                "federationOptions": {"weight": q.weight},
            }
            for q in compiler.queries(query.tree)
        ]

    async def _federated(
        self, queries: list[dict[str, Any]], offset: int, limit: int, facets: list[str]
    ) -> dict[str, Any]:
        federation: dict[str, Any] = {"offset": offset, "limit": limit}
        if facets:
            federation["facetsByIndex"] = {self.index: [FACET_ATTRIBUTES[f] for f in facets]}
        return dict(
            await self._call(
                "POST", "/multi-search", {"federation": federation, "queries": queries}
            )
        )

    async def search(self, query: EngineQuery) -> EngineResult:
        languages = await self._languages_in_use()
        scope = self._scope(query.collections, query.within)
        unknown = await self._unknown(query.tree, scope) if query.tree else set()
        compiler = Compiler(languages, unknown)
        chosen = [f for f, v in query.filters.items() if v and f in FACETS]
        shared = [f for f in FACETS if f not in chosen] if query.facets else []
        calls = [self._federated(self.requests(query, compiler), query.offset, query.limit, shared)]
        if query.facets:
            # A facet with a choice counts as if nothing were chosen in it (so a second
            # value can be added), under every other choice.
            calls += [
                self._federated(self.requests(query, compiler, skip_facet=f), 0, 0, [f])
                for f in chosen
            ]
        answers = await asyncio.gather(*calls)
        return result(query, answers, self.index, compiler)

    async def complete(self, text: str, collections: list[int] | None, limit: int) -> Completions:
        words = text.split()
        if not words:
            return Completions()
        scope = {"filter": self._scope(collections)} if collections is not None else {}
        typed = " ".join(words)  # the last word is the one being typed: a prefix
        titles = self._call(
            "POST",
            f"/indexes/{self.index}/search",
            {
                "q": typed,
                "attributesToSearchOn": ["title"],
                "matchingStrategy": "all",
                "limit": limit,
                **scope,
                "attributesToRetrieve": ["id"],
            },
        )

        def names(facet: str, attribute: str) -> Any:
            # The names of the documents whose names have every word (any word of the
            # name, not only its start, which is all a facetQuery matches).
            body = {
                "facetName": facet,
                "q": typed,
                "attributesToSearchOn": [attribute],
                "matchingStrategy": "all",
                **scope,
            }
            return self._call("POST", f"/indexes/{self.index}/facet-search", body)

        found, authors, subjects = await asyncio.gather(
            titles, names("author_f", "authors"), names("subject_f", "subjects")
        )

        def fitting(answer: Any) -> list[str]:
            values = [str(h["value"]) for h in answer.get("facetHits", [])]
            return [v for v in values if all(starts_a_word(v, w) for w in words)][:limit]

        return Completions(
            documents=[int(h["id"]) for h in found.get("hits", [])],
            authors=fitting(authors),
            subjects=fitting(subjects),
        )


def result(
    query: EngineQuery, answers: list[dict[str, Any]], index: str, compiler: Compiler
) -> EngineResult:
    """The engine's result from the answers of the federated searches."""
    main = answers[0]
    # One Meilisearch document per library document: the federation's count of the
    # documents its queries matched is the number of library documents.
    found = EngineResult(total=int(main.get("estimatedTotalHits") or 0))
    for hit in main.get("hits", []):
        snippet, page = best_part(hit) if query.snippets else ([], None)
        score = float((hit.get("_federation") or {}).get("weightedRankingScore") or 0.0)
        found.hits.append(
            EngineHit(document_id=int(hit["id"]), score=score, snippet=snippet, page_no=page)
        )
    if query.facets:
        distribution: dict[str, dict[str, int]] = {}
        for answer in answers:
            per_index = (answer.get("facetsByIndex") or {}).get(index) or {}
            distribution.update(per_index.get("distribution") or {})
        for f in FACETS:
            counts = distribution.get(FACET_ATTRIBUTES[f], {})
            found.facets[f] = _ordered(f, counts, query.facet_size)
    if query.tree is not None:
        found.suggestion = suggestion(query.tree, main.get("hits", []), compiler)
    return found


def _ordered(facet: str, counts: dict[str, int], size: int) -> list[tuple[str, int]]:
    rows = [(str(v), int(n)) for v, n in counts.items() if not (facet == "language" and v == "und")]
    if facet == "year":
        rows.sort(key=lambda r: -int(r[0]) if r[0].lstrip("-").isdigit() else 0)
    else:
        rows.sort(key=lambda r: (-r[1], r[0]))
    return rows[:size]


def _highlighted(hit: dict[str, Any]) -> list[str]:
    formatted = hit.get("_formatted") or {}
    out: list[str] = []
    for name in ("title", "authors", "subjects", "body"):
        value = formatted.get(name)
        if isinstance(value, dict):
            out += [str(v) for v in value.values()]
        elif isinstance(value, list):
            out += [str(v) for v in value]
        elif value:
            out.append(str(value))
    return out


def suggestion(tree: Node, hits: list[dict[str, Any]], compiler: Compiler) -> str | None:
    """ "Did you mean": each word typed that no hit has, replaced by the nearest word the
    hits were found by (Meilisearch's typo tolerance and prefix search found them)."""
    found: set[str] = set()
    for hit in hits:
        for text in _highlighted(hit):
            for s in segments(text):
                if s.hit:
                    found |= set(WORD.findall(fold(s.text)))
    if not found:
        return None
    langs = compiler.languages
    corrections: dict[str, str] = {}
    for node in positives(tree):
        if not isinstance(node, Term) or node.field or node.prefix:
            continue
        word = fold(node.text)
        stems = {stem(lang, word) for lang in langs}
        if word in found or any(stem(lang, w) in stems for w in found for lang in langs):
            continue
        near = [
            (0 if w.startswith(word) else Levenshtein.distance(word, w), len(w), w)
            for w in found
            if w.startswith(word) or Levenshtein.distance(word, w) <= 2
        ]
        if near:
            corrections[node.text] = min(near)[2]
    return render(replace_terms(tree, corrections)) if corrections else None


class _MeiliBuild:
    """A new index (`<index>_rebuild`) filled beside the live one, then swapped with it by
    Meilisearch's own atomic swap (`/swap-indexes`); the old documents, now under the new
    index's name, are deleted."""

    def __init__(self, live: MeiliEngine) -> None:
        self.live = live
        self.engine = MeiliEngine(
            live.url, index=f"{live.index}_rebuild", transport=live._transport
        )
        self.engine.headers = live.headers

    async def apply(self, upserts: list[IndexDoc]) -> None:
        await self.engine.apply(upserts, [])

    async def switch(self) -> None:
        swap = [{"indexes": [self.live.index, self.engine.index]}]
        await self.live._task("POST", "/swap-indexes", swap)
        self.live._languages = None
        await self.engine.drop()

    async def abort(self) -> None:
        await self.engine.drop()
