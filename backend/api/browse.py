"""Browse lists in the API, as the browse page walks them: a classifier's entries (title
letters, authors, subjects, decades, years, types, languages) with their counts, and the
documents under an entry by title; both keyset-paged by cursor, in the whole library or
one collection, for what the caller may see."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from backend.api import cursors
from backend.api.deps import Actor, ReadSession
from backend.api.problems import documented
from backend.browse import service as browse
from backend.ids import MAX_ID

router = APIRouter(prefix="/api/v1/browse", tags=["browse"])
Classifier = Literal["title", "author", "subject", "decade", "year", "type", "language"]
Collection = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Within one collection")]


class Entry(BaseModel):
    key: str = Field(examples=["stevenson alan"])
    label: str = Field(examples=["Stevenson, Alan"])
    count: int


class EntryPage(BaseModel):
    classifier: str
    items: list[Entry]
    next_cursor: str | None = None


class Listed(BaseModel):
    id: int
    title: str
    year: int | None
    type: str
    collection_id: int
    url: str


class ListedPage(BaseModel):
    items: list[Listed]
    next_cursor: str | None = None


@router.get("/{classifier}", response_model=EntryPage, responses=documented(400, 404))
async def entries(
    classifier: Classifier,
    session: ReadSession,
    actor: Actor,
    response: Response,
    collection: Collection = None,
    cursor: cursors.Cursor = "",
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = browse.PAGE_KEYS,
) -> EntryPage:
    """A classifier's entries in order, with how many documents each holds."""
    response.headers["Cache-Control"] = "private, no-store"
    page = await browse.keys(
        session=session,
        actor=actor,
        classifier=classifier,
        collection_id=collection,
        after=cursors.text_after(cursor),
        limit=limit,
    )
    return EntryPage(
        classifier=classifier,
        items=[Entry(key=k.key, label=k.label, count=k.count) for k in page.keys],
        next_cursor=cursors.encode(page.next_after) if page.next_after else None,
    )


@router.get("/{classifier}/documents", response_model=ListedPage, responses=documented(400, 404))
async def documents(
    classifier: Classifier,
    session: ReadSession,
    actor: Actor,
    response: Response,
    key: Annotated[str | None, Query(max_length=500, description="An entry's key")] = None,
    collection: Collection = None,
    cursor: cursors.Cursor = "",
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = browse.PAGE_DOCUMENTS,
) -> ListedPage:
    """The documents under an entry, by title (for `title` without a key: every one,
    A to Z)."""
    response.headers["Cache-Control"] = "private, no-store"
    page = await browse.documents(
        session=session,
        actor=actor,
        classifier=classifier,
        key=key,
        collection_id=collection,
        after=cursors.text_after(cursor),
        limit=limit,
    )
    return ListedPage(
        items=[
            Listed(
                id=d.id,
                title=d.title,
                year=d.year,
                type=d.kind,
                collection_id=d.collection_id,
                url=f"/api/v1/documents/{d.id}",
            )
            for d in page.documents
        ],
        next_cursor=cursors.encode(page.next_after) if page.next_after else None,
    )
