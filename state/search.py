"""The search page: the URL holds the query and the page, so results can be shared."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from backend.search import service as search
from state.session import acting


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


class SearchState(rx.State):
    query: str = ""
    page: int = 1
    total: int = 0
    hits: list[HitRow] = []
    took_ms: int = 0
    searched: bool = False

    page_size: int = 10

    @rx.var
    def page_count(self) -> int:
        return max(1, (self.total + self.page_size - 1) // self.page_size)

    @rx.event
    async def load(self) -> None:
        params = self.router.url.query_parameters
        self.query = params.get("q", "")
        try:
            self.page = max(1, int(params.get("page", "1")))
        except ValueError:
            self.page = 1
        if not self.query.strip():
            self.searched, self.total, self.hits = False, 0, []
            return
        async with acting(self) as (session, actor):
            results = await search.search(
                session=session, actor=actor, query=self.query, page=self.page
            )
            await session.commit()
        self.searched = True
        self.total = results.total
        self.page_size = results.page_size
        self.took_ms = round(results.took_ms)
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

    @rx.event
    def submit(self, form: dict[str, Any]) -> rx.event.EventSpec:
        q = str(form.get("q", "")).strip()
        return rx.redirect("/search?" + urlencode({"q": q}))

    @rx.event
    def go_to_page(self, page: int) -> rx.event.EventSpec:
        return rx.redirect("/search?" + urlencode({"q": self.query, "page": page}))
