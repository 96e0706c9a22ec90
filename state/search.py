"""The search page. The URL holds the query, filters, sort and page, so results can be
shared and bookmarked and the back button works; typing searches as you go."""

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import reflex as rx
from reflex_base.event import EventSpec

from backend import labels
from backend.db import session_scope
from backend.search import completion
from backend.search import service as search
from backend.search.engine import FACETS, SORTS
from backend.search.schemas import SearchResults
from state.guard import SEARCH, budget
from state.session import acting, reading, reading_as, session_token

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
class _Typing:
    """A tab's search as you type, in this web process (a tab's websocket stays with one
    process): the newest text its box sent that no search has taken yet, and whether one
    is running. One search runs per tab at a time. Keys that arrive meanwhile only replace
    the text; when the search ends, the newest text is searched next and the texts between
    are never searched. However fast people type and however busy the process is, a tab
    costs at most one search at a time, and each search is of the newest text."""

    waiting: str | None = None
    running: bool = False
    keys: int = 0  # keys sent by the tab so far (what _Pace.settled watches)


_TYPING: dict[str, _Typing] = {}


class _Pace:
    """How long a tab's typing must pause before its text is searched, in this process.

    While no other tab's search runs here, nothing waits: every key is searched at once
    (one search per tab at a time, _Typing). While others run, the process's cores are
    shared, and each search it starts slows the rest: a key then waits until the typing
    has paused for as long as this process's recent searches took (their moving average),
    never longer than CAP. A person typing faster than results can come back costs one
    search per pause rather than one per key, and the searches that do run have the CPU.
    It tunes itself: the busier the process, the slower its searches, the fewer it runs;
    idle again, it searches every key."""

    CAP = 0.25  # s: longer than most typists' gap between keys (100-200 ms)
    WEIGHT = 0.3  # of each new search's time in the moving average

    def __init__(self) -> None:
        self.running = 0  # typed searches under way in this process
        self.recent: float | None = None  # s, the moving average of their times

    def quiet(self) -> float:
        """The pause a key must be followed by before its text is searched, now."""
        if not self.running or self.recent is None:
            return 0.0
        return min(self.CAP, self.recent)

    def took(self, seconds: float) -> None:
        r = self.recent
        self.recent = seconds if r is None else r + self.WEIGHT * (seconds - r)

    async def settled(self, slot: _Typing) -> None:
        """Back once the tab's typing has paused for `quiet()` (at once when idle)."""
        while (quiet := self.quiet()) > 0:
            keys = slot.keys
            await asyncio.sleep(quiet)
            if slot.keys == keys:
                return


PACE = _Pace()


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
    url: str  # the document, opened at the page the hit matched with the words marked
    byline: str  # "Stevenson, Alan; Woolf, Virginia · 1841"
    kind: str  # pdf, image, … (its icon)
    kind_label: str  # "PDF", "Image", …


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


search_url = search.search_address


class SearchState(rx.State):
    query: str = ""
    box: str = ""  # what the search box is set to when the page loads (the URL's query)
    box_version: int = 0  # each page load sets the box afresh, even to the same text
    shown_for: str = ""  # the text whose results are on the page (as typed, or the URL's)
    # While a word is being typed that begins no word, the results shown stay, and say so.
    held_note: str = ""
    _typed_seq: int = 0  # (a backend var: the latest keystroke's number; older ones yield)
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
        self.query = self.box = (params.get("q") or [""])[-1]
        self.box_version += 1
        self._typed_seq += 1  # a search still running for an earlier keystroke is stale
        self.filters = {f: params[f] for f in FACETS if params.get(f)}
        sort = (params.get("sort") or ["relevance"])[-1]
        self.sort = sort if sort in SORTS else "relevance"
        try:
            self.page = max(1, int((params.get("page") or ["1"])[-1]))
        except ValueError:
            self.page = 1
        await self._run()

    async def _run(self) -> None:
        if not self.query.strip() and not self.filters:
            self._clear()
            return
        async with reading(self) as (session, actor):
            results = await search.search(
                session=session,
                actor=actor,
                query=self.query,
                page=self.page,
                filters=self.filters,
                sort=self.sort,
                client=self.router.session.client_ip,
            )
            await session.commit()
        self._show(results, self.query)

    def _clear(self) -> None:
        self.held_note = ""
        self.searched, self.total, self.hits, self.groups, self.chips = False, 0, [], [], []
        self.suggestion = self.read_as = self.notes = ""
        self.shown_for = self.query

    def _show(self, results: SearchResults, shown_for: str) -> None:
        self.searched = True
        self.held_note = ""
        self.shown_for = shown_for
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
                url=f"/documents/{h.document_id}?"
                + urlencode({"page": h.page_no or 1, "q": self.query.strip()}),
                byline=" · ".join(
                    part for part in ("; ".join(h.authors), str(h.year or "")) if part
                ),
                kind=h.kind,
                kind_label=labels.kind(h.kind) if h.kind else "",
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
        named = {(g.name, v.value): v.label for g in self.groups for v in g.options}
        self.chips = [
            Chip(f, v, f"{FACET_LABELS[f]}: {named.get((f, v), v)}")
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

    @rx.event(background=True)
    @budget(SEARCH)
    async def typed(self, text: str) -> EventSpec | None:
        """Search as you type: results follow the box, the previous ones staying until the
        new ones arrive. One search per tab at a time (_Typing): a key that comes while one
        runs waits for it, and only the newest text waiting is searched then. While other
        tabs' searches keep this process busy, a key waits for a pause in the typing
        (_Pace). The address is replaced, not pushed."""
        tab = self.router.session.client_token
        slot = _TYPING.setdefault(tab, _Typing())
        slot.waiting = text
        slot.keys += 1
        if slot.running:
            return None  # the search running for this tab takes the text when it ends
        slot.running = True
        shown: EventSpec | None = None
        try:
            while slot.waiting is not None:
                await PACE.settled(slot)  # (a busy process waits for a pause in the typing)
                text, slot.waiting = slot.waiting, None
                shown = await self._typed(text, slot) or shown
            return shown
        finally:
            slot.running = False
            if _TYPING.get(tab) is slot:  # (a text left waiting when a search failed goes too)
                del _TYPING[tab]

    async def _typed(self, text: str, slot: _Typing) -> EventSpec | None:
        # Read from the state as this event (or this handler's last `async with self`)
        # found it, without taking the tab's lock: a search takes it once, to show.
        if text.strip() == self.query.strip() and text[-1:].isspace() == self.query[-1:].isspace():
            return None
        mine, token, page_filters, sort = (
            self._typed_seq,
            session_token(self),
            dict(self.filters),
            self.sort,
        )
        words = text.split()
        if words and len(words[-1]) == 1 and not text[-1].isspace():
            async with self:  # one letter tells nothing yet: what is shown stays
                self.query, self.page = text, 1
            return None
        started = time.perf_counter()
        PACE.running += 1
        try:
            found, results = await self._search_typed(text, token, page_filters, sort, slot)
        finally:
            PACE.running -= 1
        if found is None:
            return None  # a newer key came while this one waited: it is searched next
        PACE.took(time.perf_counter() - started)
        if slot.waiting is not None:
            return None  # newer text is searched next: these results would only flash
        async with self:
            if mine != self._typed_seq:
                return None  # a page load (or another process's search) has overtaken it
            self._typed_seq += 1
            self.query, self.page = text, 1
            self.completions = [CompletionRow(c.value, c.label) for c in found]
            if results is None:
                self._clear()
            elif results.total == 0 and self.total > 0 and not text[-1].isspace():
                # Mid-word, no flash of "nothing matched": what was found stays, said so.
                self.held_note = (
                    f"Nothing yet for “{text.strip()}”: the results for “{self.shown_for.strip()}”"
                    " stay until the word is finished."
                )
            else:
                self._show(results, text)
        url = search_url(text.strip(), page_filters, sort)
        return rx.call_script(
            f"window.history.replaceState(window.history.state, '', {json.dumps(url)})"
        )

    async def _search_typed(
        self, text: str, token: str, page_filters: dict[str, list[str]], sort: str, slot: _Typing
    ) -> tuple[list[completion.Completion] | None, SearchResults | None]:
        """The suggestions and results for the text typed (None, None: a newer key came
        while this one waited for a connection)."""
        async with reading_as(token) as (session, actor):
            if slot.waiting is not None:
                return None, None

            async def suggestions() -> list[completion.Completion]:
                async with session_scope() as own:  # (beside the search, not after it)
                    return await completion.complete(session=own, actor=actor, text_typed=text)

            async def results_of_search() -> SearchResults | None:
                if not (text.strip() or page_filters):
                    return None
                found = await search.search(
                    session=session,
                    actor=actor,
                    query=text,
                    filters=page_filters,
                    sort=sort,
                    typing=True,
                    client=self.router.session.client_ip,
                )
                await session.commit()
                return found

            return await asyncio.gather(suggestions(), results_of_search())

    @rx.event
    @budget(SEARCH)
    async def suggest(self, text: str) -> None:
        """Suggestions for a search box that is not the results page's (the home page's)."""
        async with acting(self) as (session, actor):
            found = await completion.complete(session=session, actor=actor, text_typed=text)
        self.completions = [CompletionRow(c.value, c.label) for c in found]

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
