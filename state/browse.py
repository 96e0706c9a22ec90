"""The browse page: the URL says which classifier, which entry and where in the list, so
every page can be linked to and the back button works."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import reflex as rx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import labels
from backend.browse import service as browse
from backend.collections import service as collections
from backend.errors import LibraryError
from backend.users.models import User
from state.session import reading

TABS = [
    ("title", "Titles A–Z"),
    ("author", "Authors"),
    ("subject", "Subjects"),
    ("date", "Dates"),
    ("type", "Types"),
    ("language", "Languages"),
]


@dataclass(frozen=True)
class Scope:
    """What every browse call takes: the unit of work, the actor, the collection (or all)."""

    session: AsyncSession
    actor: User | None
    collection_id: int | None

    def args(self) -> dict[str, Any]:
        return {"session": self.session, "actor": self.actor, "collection_id": self.collection_id}


@dataclass
class Link:
    label: str
    url: str
    count: int = 0
    current: bool = False


@dataclass
class Row:
    id: int
    title: str
    details: str  # authors · year · type


def browse_url(collection: str = "", **params: str | int | None) -> str:
    query = [(k, str(v)) for k, v in params.items() if v not in (None, "")]
    if collection:
        query.append(("in", collection))
    return "/browse" + ("?" + urlencode(query) if query else "")


def _year(year: int | None) -> str:
    if year is None:
        return ""
    return f"{-year} BC" if year < 0 else str(year)


class BrowseState(rx.State):
    by: str = "title"
    key: str = ""
    heading: str = ""
    collection_name: str = ""
    collection_slug: str = ""
    tabs: list[Link] = []
    trail: list[Link] = []
    letters: list[Link] = []
    entries: list[Link] = []
    entries_heading: str = ""
    rows: list[Row] = []
    rows_heading: str = ""
    next_url: str = ""
    prev_url: str = ""
    error: str = ""
    loaded: bool = False

    @rx.event
    async def load(self) -> None:
        params = {k: v[-1] for k, v in parse_qs(self.router.url.query).items()}
        by = params.get("by", "title")
        self.by = by if by in dict(TABS) else "title"
        self.key = params.get("key", "")
        self.collection_slug = params.get("in", "")
        self.error = ""
        self.trail, self.letters, self.entries, self.rows = [], [], [], []
        self.entries_heading = self.heading = self.rows_heading = ""
        self.next_url = self.prev_url = ""
        self.tabs = [
            Link(label, browse_url(self.collection_slug, by=name), current=name == self.by)
            for name, label in TABS
        ]
        try:
            async with reading(self) as (session, actor):
                collection_id = None
                self.collection_name = ""
                if self.collection_slug:
                    found = await collections.get_by_slug(
                        session=session, actor=actor, slug=self.collection_slug
                    )
                    collection_id, self.collection_name = found.id, found.name
                await self._fill(session, actor, collection_id, params)
        except LibraryError as exc:
            self.error = str(exc)
        self.loaded = True

    def _url(self, **params: str | int | None) -> str:
        return browse_url(self.collection_slug, by=self.by, **params)

    async def _fill(
        self,
        session: AsyncSession,
        actor: User | None,
        collection_id: int | None,
        params: dict[str, str],
    ) -> None:
        after, before = params.get("after"), params.get("before")
        scope = Scope(session, actor, collection_id)
        if self.by == "title":
            letters = await browse.keys(classifier="title", **scope.args())
            self.letters = [
                Link(k.key, self._url(key=k.key), k.count, k.key == self.key) for k in letters.keys
            ]
            self.heading = f"Titles beginning with {self.key}" if self.key else "All titles, A to Z"
            await self._documents("title", self.key or None, after, before, scope)
        elif self.by == "subject":
            await self._subject(params, scope)
        elif self.by == "date":
            await self._date(params, scope)
        elif self.key:
            self.heading = labels.facet(self.by, params.get("label") or self.key)
            self.trail = [Link(dict(TABS)[self.by], self._url())]
            await self._documents(self.by, self.key, after, before, scope)
        else:
            await self._keys(self.by, after, before, scope)

    async def _keys(
        self,
        classifier: str,
        after: str | None,
        before: str | None,
        scope: Scope,
        low: str | None = None,
        high: str | None = None,
    ) -> None:
        page = await browse.keys(
            classifier=classifier, after=after, before=before, low=low, high=high, **scope.args()
        )
        self.entries = [Link(k.label, self._entry_url(classifier, k), k.count) for k in page.keys]
        self.entries_heading = self.entries_heading or dict(TABS).get(classifier, "")
        if page.next_after:
            self.next_url = self._url(after=page.next_after)
        if page.prev_before:
            self.prev_url = self._url(before=page.prev_before)

    def _entry_url(self, classifier: str, k: browse.Key) -> str:
        if classifier == "year":
            return self._url(year=k.key, label=k.label)
        # Keys are sort keys ("smith, john", "11950"): the heading shows the label.
        return self._url(key=k.key, label=k.label if k.label != k.key else None)

    async def _documents(
        self,
        classifier: str,
        key: str | None,
        after: str | None,
        before: str | None,
        scope: Scope,
    ) -> None:
        page = await browse.documents(
            classifier=classifier, key=key, after=after, before=before, **scope.args()
        )
        self.rows = [
            Row(
                d.id,
                d.title,
                " · ".join(x for x in (d.authors, _year(d.year), labels.kind(d.kind)) if x),
            )
            for d in page.documents
        ]
        here = {"key": self.key or None}
        if self.by == "date" and classifier == "year":
            here["year"] = key
        if page.next_after:
            self.next_url = self._url(after=page.next_after, **here)
        if page.prev_before:
            self.prev_url = self._url(before=page.prev_before, **here)

    async def _subject(self, params: dict[str, str], scope: Scope) -> None:
        parent = int(self.key) if self.key.isdigit() else None
        if parent is not None:
            self.trail = [Link("Subjects", self._url())]
            for sid, name in await browse.subject_trail(scope.session, parent):
                self.trail.append(Link(name, self._url(key=sid)))
            self.heading = self.trail[-1].label
            self.trail = self.trail[:-1]
        children, following = await browse.subject_children(
            parent_id=parent, after=params.get("more"), **scope.args()
        )
        self.entries = [Link(n.name, self._url(key=n.id), n.count) for n in children]
        self.entries_heading = "Narrower subjects" if parent is not None else "Subjects"
        if following:
            self.next_url = self._url(key=self.key or None, more=following)
        if parent is not None:
            self.rows_heading = "Documents"
            await self._documents(
                "subject", str(parent), params.get("after"), params.get("before"), scope
            )

    async def _date(self, params: dict[str, str], scope: Scope) -> None:
        after, before = params.get("after"), params.get("before")
        year = params.get("year", "")
        self.trail = [Link("Dates", self._url())]
        if year.isdigit():
            decade = browse.decade_of(year)
            rows = await browse.keys(
                classifier="decade", after=f"{int(decade) - 1:05d}", limit=1, **scope.args()
            )
            label = rows.keys[0].label if rows.keys and rows.keys[0].key == decade else decade
            self.trail.append(Link(label, self._url(key=decade)))
            self.heading = params.get("label", year)
            await self._documents("year", year, after, before, scope)
        elif self.key.isdigit():
            low, high = browse.decade_years(self.key)
            self.heading = params.get("label", self.key)
            self.entries_heading = "Years"
            await self._keys("year", None, None, scope, low=low, high=high)
            self.next_url = self.prev_url = ""
            self.rows_heading = "Documents"
            await self._documents("decade", self.key, after, before, scope)
        else:
            self.trail = []
            self.entries_heading = "Decades"
            await self._keys("decade", after, before, scope)
