"""The search page. The URL holds the query, filters, sort and page, so results can be
shared and bookmarked and the back button works; typing searches as you go."""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import reflex as rx
from reflex_base.event import EventSpec

from backend.search import completion
from backend.search import service as search
from backend.search.engine import FACETS, SORTS
from backend.search.schemas import SearchResults
from state.guard import SEARCH, budget
from state.session import acting

FACET_LABELS = {
    "collection": "Collection",
    "author": "Author",
    "subject": "Subject",
    "year": "Year",
    "type": "Type",
    "language": "Language",
}
SORT_LABELS = {"relevance": "Relevance", "date": "Newest first", "title": "Title A–Z"}


@dataclass
class SegmentRow:
    text: str
    hit: bool


@dataclass
class HitRow:
    document_id: int
    title: str
    collection_name: str
    page_label: str
    snippet: list[SegmentRow]
    thumbnail_url: str


@dataclass
class CompletionRow:
    value: str
    label: str


@dataclass
class FacetRow:
    facet: str
    value: str
    label: str
    count: int
    selected: bool


@dataclass
class FacetGroup:
    name: str
    label: str
    options: list[FacetRow]


@dataclass
class Chip:
    facet: str
    value: str
    label: str


def search_url(
    query: str, filters: dict[str, list[str]], sort: str = "relevance", page: int = 1
) -> str:
    params: list[tuple[str, str | int]] = [("q", query)]
    for facet in FACETS:
        params.extend((facet, v) for v in filters.get(facet, []))
    if sort != "relevance":
        params.append(("sort", sort))
    if page > 1:
        params.append(("page", page))
    return "/search?" + urlencode(params)


class SearchState(rx.State):
    query: str = ""
    _search_key: str = ""  # (a backend var: the last search's event key, for its clicks)
    page: int = 1
    sort: str = "relevance"
    filters: dict[str, list[str]] = {}
    total: int = 0
    every_word: int = -1  # of total, those with every word; -1: the query has one word
    hits: list[HitRow] = []
    groups: list[FacetGroup] = []
    chips: list[Chip] = []
    took_ms: int = 0
    searched: bool = False
    suggestion: str = ""
    read_as: str = ""
    notes: str = ""
    page_size: int = 10
    completions: list[CompletionRow] = []

    @rx.var
    def count_text(self) -> str:
        """ "12 documents found, 9 with every word (4 ms)": what the total counts."""
        found = "1 document found" if self.total == 1 else f"{self.total:,} documents found"
        if 0 <= self.every_word < self.total:
            found += f", {self.every_word:,} with every word"
        return f"{found} ({self.took_ms} ms)"

    @rx.var
    def page_count(self) -> int:
        return max(1, (self.total + self.page_size - 1) // self.page_size)

    @rx.var
    def suggestion_url(self) -> str:
        """Where "Did you mean" leads: the corrected words, with the same filters and sort."""
        return search_url(self.suggestion, self.filters, self.sort) if self.suggestion else ""

    @rx.var
    def sort_options(self) -> list[list[str]]:
        return [[s, SORT_LABELS[s]] for s in SORTS]

    @rx.event
    @budget(SEARCH)
    async def load(self) -> None:
        params = parse_qs(self.router.url.query)
        self.query = (params.get("q") or [""])[-1]
        self.filters = {f: params[f] for f in FACETS if params.get(f)}
        sort = (params.get("sort") or ["relevance"])[-1]
        self.sort = sort if sort in SORTS else "relevance"
        try:
            self.page = max(1, int((params.get("page") or ["1"])[-1]))
        except ValueError:
            self.page = 1
        await self._run()

    async def _run(self, typing: bool = False) -> None:
        if not self.query.strip() and not self.filters:
            self.searched, self.total, self.hits, self.groups, self.chips = False, 0, [], [], []
            self.suggestion = self.read_as = self.notes = ""
            return
        async with acting(self) as (session, actor):
            results = await search.search(
                session=session,
                actor=actor,
                query=self.query,
                page=self.page,
                filters=self.filters,
                sort=self.sort,
                typing=typing,
                client=self.router.session.client_ip,
            )
            await session.commit()
        self._show(results)

    def _show(self, results: SearchResults) -> None:
        self.searched = True
        self.total = results.total
        self._search_key = results.search_key
        self.every_word = -1 if results.every_word is None else results.every_word
        self.page_size = results.page_size
        self.took_ms = round(results.took_ms)
        self.suggestion = results.suggestion or ""
        self.read_as = results.read_as if results.notes else ""
        self.notes = "; ".join(results.notes)
        self.hits = [
            HitRow(
                document_id=h.document_id,
                title=h.title,
                collection_name=h.collection_name,
                page_label=f"page {h.page_no}" if h.page_no else "",
                snippet=[SegmentRow(s.text, s.hit) for s in h.snippet],
                thumbnail_url=(
                    f"/api/v1/documents/{h.document_id}/thumbnail" if h.has_thumbnail else ""
                ),
            )
            for h in results.hits
        ]
        self.groups = [
            FacetGroup(
                name=name,
                label=FACET_LABELS[name],
                options=[FacetRow(name, v.value, v.label, v.count, v.selected) for v in values],
            )
            for name, values in results.facets.items()
            if values
        ]
        labels = {(g.name, v.value): v.label for g in self.groups for v in g.options}
        self.chips = [
            Chip(f, v, f"{FACET_LABELS[f]}: {labels.get((f, v), v)}")
            for f in FACETS
            for v in self.filters.get(f, [])
        ]

    def _go(self, **changes: Any) -> EventSpec:
        return rx.redirect(
            search_url(
                changes.get("query", self.query),
                changes.get("filters", self.filters),
                changes.get("sort", self.sort),
                changes.get("page", 1),
            )
        )

    @rx.event
    def submit(self, form: dict[str, Any]) -> EventSpec:
        return self._go(query=str(form.get("q", "")).strip())

    @rx.event
    @budget(SEARCH)
    async def typed(self, text: str) -> EventSpec | None:
        """Search as you type: results follow the box; the address is replaced, not pushed."""
        if text.strip() == self.query.strip():
            return None
        self.query, self.page = text, 1
        async with acting(self) as (session, actor):
            found = await completion.complete(session=session, actor=actor, text_typed=text)
        self.completions = [CompletionRow(c.value, c.label) for c in found]
        await self._run(typing=True)
        url = search_url(self.query.strip(), self.filters, self.sort)
        return rx.call_script(
            f"window.history.replaceState(window.history.state, '', {json.dumps(url)})"
        )

    @rx.event
    async def clicked(self, document_id: int, index: int) -> None:
        """Which result was opened, and at which rank (for the analytics dashboards)."""
        rank = (self.page - 1) * self.page_size + int(index) + 1
        async with acting(self) as (session, actor):
            await search.record_click(
                session=session,
                actor=actor,
                query=self.query,
                document_id=int(document_id),
                rank=rank,
                search_key=self._search_key,
            )
            await session.commit()

    @rx.event
    def toggle(self, facet: str, value: str) -> EventSpec:
        chosen = {f: list(v) for f, v in self.filters.items()}
        values = chosen.setdefault(facet, [])
        if value in values:
            values.remove(value)
        else:
            values.append(value)
        return self._go(filters={f: v for f, v in chosen.items() if v})

    @rx.event
    def clear_filters(self) -> EventSpec:
        return self._go(filters={})

    @rx.event
    def set_sort(self, sort: str) -> EventSpec:
        return self._go(sort=sort if sort in SORTS else "relevance")

    @rx.event
    def go_to_page(self, page: int) -> EventSpec:
        return self._go(page=max(1, min(page, self.page_count)))
