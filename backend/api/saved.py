"""Saved searches in the REST API: the caller's own, as on the account page: list, keep,
rename, switch the e-mail alert, give the Atom feed a new address, delete.

The use cases are the pages' (backend.search.saved): only a search's owner reads or
changes it; anyone else's is the same 404 as one that does not exist. A person keeps at
most 100, so the list is one page."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from backend.api.deps import Actor, DbSession
from backend.api.problems import documented
from backend.ids import MAX_ID
from backend.search import saved
from backend.search.engine import Sort
from backend.search.models import SavedSearch
from backend.settings import get_settings

router = APIRouter(prefix="/api/v1", tags=["saved searches"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
NO_STORE = "private, no-store"


class SavedSearchOut(BaseModel):
    id: int = Field(examples=[7])
    name: str = Field(examples=["Lighthouses in Scotland"])
    query: str = Field(examples=["lighthouse"])
    filters: dict[str, list[str]] = Field(examples=[{"subject": ["Scotland"]}])
    sort: str = Field(examples=["relevance"])
    description: str = Field(examples=["“lighthouse” · subject: Scotland"])
    alert: bool = Field(description="Mailed once a day when new documents match")
    created_at: datetime
    last_alert_at: datetime | None = None
    search_url: str = Field(examples=["https://library.example/search?q=lighthouse"])
    feed_url: str = Field(
        description="Its Atom feed; anyone holding the address reads it as you would",
        examples=["https://library.example/api/v1/saved-searches/7/feed.atom?key=…"],
    )

    @classmethod
    def of(cls, kept: SavedSearch) -> "SavedSearchOut":
        site = get_settings().public_url.rstrip("/")
        assert kept.id is not None
        return cls(
            id=kept.id,
            name=kept.name,
            query=kept.query,
            filters=kept.filters,
            sort=kept.sort,
            description=saved.describe(kept),
            alert=kept.alert,
            created_at=kept.created_at,
            last_alert_at=kept.last_alert_at,
            search_url=site + saved.page_address(kept),
            feed_url=site + saved.feed_path(kept),
        )


class SavedSearchList(BaseModel):
    items: list[SavedSearchOut]


class SavedSearchIn(BaseModel):
    query: str = Field("", max_length=2000, examples=["lighthouse"])
    filters: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Facet values, as the search's filters (author, subject, collection, "
        "year, type, language)",
        examples=[{"subject": ["Scotland"]}],
    )
    sort: Sort = "relevance"
    name: str = Field("", max_length=200, description="Empty: the words searched for")
    alert: bool = True


class SavedSearchChange(BaseModel):
    """Only the fields given change."""

    name: str | None = Field(None, max_length=200)
    alert: bool | None = None


@router.get("/saved-searches", response_model=SavedSearchList, responses=documented(401))
async def list_saved_searches(
    session: DbSession, actor: Actor, response: Response
) -> SavedSearchList:
    """The caller's saved searches, newest first."""
    response.headers["Cache-Control"] = NO_STORE
    return SavedSearchList(
        items=[SavedSearchOut.of(k) for k in await saved.mine(session=session, actor=actor)]
    )


@router.post(
    "/saved-searches",
    status_code=201,
    response_model=SavedSearchOut,
    responses={
        **documented(400, 401, 422),
        200: {"description": "The same search was kept before: that one"},
    },
)
async def keep_search(
    body: SavedSearchIn, session: DbSession, actor: Actor, response: Response
) -> SavedSearchOut:
    """Keep a search (at most 100 a person); the same words, filters and order kept again
    answer the one kept before, with 200."""
    kept, new = await saved.save(
        session=session,
        actor=actor,
        query=body.query,
        filters=body.filters,
        sort=body.sort,
        name=body.name,
        alert=body.alert,
    )
    await session.commit()
    response.status_code = 201 if new else 200
    response.headers["Location"] = f"/api/v1/saved-searches/{kept.id}"
    return SavedSearchOut.of(kept)


@router.get(
    "/saved-searches/{saved_id}", response_model=SavedSearchOut, responses=documented(401, 404)
)
async def get_saved_search(
    saved_id: Id, session: DbSession, actor: Actor, response: Response
) -> SavedSearchOut:
    response.headers["Cache-Control"] = NO_STORE
    return SavedSearchOut.of(await saved.one(session=session, actor=actor, saved_id=saved_id))


@router.patch(
    "/saved-searches/{saved_id}",
    response_model=SavedSearchOut,
    responses=documented(400, 401, 404, 422),
)
async def change_saved_search(
    saved_id: Id, body: SavedSearchChange, session: DbSession, actor: Actor
) -> SavedSearchOut:
    """Rename it, or switch its e-mail alert (switched on, it tells of documents ready from
    now on)."""
    kept = await saved.one(session=session, actor=actor, saved_id=saved_id)
    if body.name is not None:
        kept = await saved.rename(session=session, actor=actor, saved_id=saved_id, name=body.name)
    if body.alert is not None:
        kept = await saved.set_alert(
            session=session, actor=actor, saved_id=saved_id, alert=body.alert
        )
    await session.commit()
    return SavedSearchOut.of(kept)


@router.post(
    "/saved-searches/{saved_id}/feed-address",
    response_model=SavedSearchOut,
    responses=documented(401, 404),
)
async def new_feed_address(saved_id: Id, session: DbSession, actor: Actor) -> SavedSearchOut:
    """A new address for its Atom feed: the old one stops working at once."""
    kept = await saved.new_feed_address(session=session, actor=actor, saved_id=saved_id)
    await session.commit()
    return SavedSearchOut.of(kept)


@router.delete("/saved-searches/{saved_id}", status_code=204, responses=documented(401, 404))
async def delete_saved_search(saved_id: Id, session: DbSession, actor: Actor) -> Response:
    await saved.delete(session=session, actor=actor, saved_id=saved_id)
    await session.commit()
    return Response(status_code=204)
