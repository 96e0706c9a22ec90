"""Collections in the REST API: list (cursor-paged), one with its statistics, create,
update, delete, members; and a collection's documents, newest first, cursor-paged.

Every use case is the same one the pages call (backend.collections.service,
backend.documents.service): who may do what is decided there, once. A collection the
caller may not see is the same 404 as one that does not exist."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from backend.api import cursors
from backend.api.deps import Actor, DbSession
from backend.api.problems import documented
from backend.collections import service as collections
from backend.collections.schemas import CollectionPublic
from backend.documents import service as documents
from backend.ids import MAX_ID

router = APIRouter(prefix="/api/v1", tags=["collections"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
NO_STORE = "private, no-store"


class CollectionOut(BaseModel):
    id: int = Field(examples=[3])
    name: str = Field(examples=["Sea and shore"])
    slug: str = Field(examples=["sea-and-shore"])
    description: str
    is_public: bool
    document_count: int = 0
    cover_url: str = Field("", examples=["/api/v1/collections/3/cover?v=0b1c2d3e4f5a"])

    @classmethod
    def of(cls, c: CollectionPublic) -> "CollectionOut":
        return cls(
            id=c.id,
            name=c.name,
            slug=c.slug,
            description=c.description,
            is_public=c.is_public,
            document_count=c.document_count,
            cover_url=c.cover_url,
        )


class CollectionPage(BaseModel):
    items: list[CollectionOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page")


class Statistics(BaseModel):
    documents: int = Field(description="Listed (processed) documents")
    held: int = Field(description="Every document, processed or not (curators see all)")
    pages: int
    total_bytes: int
    views: int
    downloads: int
    last_added: datetime | None


class CollectionDetail(CollectionOut):
    statistics: Statistics


class CollectionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Sea and shore"])
    description: str = Field("", max_length=10_000)
    is_public: bool = True


class CollectionChange(BaseModel):
    """Only the fields given change."""

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    is_public: bool | None = None


class MemberOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: Literal["viewer", "curator"]


class MemberIn(BaseModel):
    email: str = Field(max_length=320, examples=["reader@example.org"])
    role: Literal["viewer", "curator"] = "viewer"


class DocumentRow(BaseModel):
    id: int
    title: str
    filename: str
    size: int
    status: str = Field(description="ready for everyone; curators also see the others")
    created_at: datetime
    url: str = Field(examples=["/api/v1/documents/14"])


class DocumentPage(BaseModel):
    items: list[DocumentRow]
    next_cursor: str | None = None


async def _one(session: DbSession, actor: Actor, collection_id: int) -> CollectionDetail:
    found = await collections.get_public(session=session, actor=actor, collection_id=collection_id)
    numbers = await collections.stats(session=session, actor=actor, collection_id=collection_id)
    return CollectionDetail(
        **CollectionOut.of(found).model_dump(),
        statistics=Statistics(
            documents=numbers.documents,
            held=numbers.held,
            pages=numbers.pages,
            total_bytes=numbers.total_bytes,
            views=numbers.views,
            downloads=numbers.downloads,
            last_added=numbers.last_added,
        ),
    )


@router.get("/collections", response_model=CollectionPage, responses=documented(400))
async def list_collections(
    session: DbSession,
    actor: Actor,
    response: Response,
    cursor: cursors.Cursor = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> CollectionPage:
    """The collections the caller may see (anonymous: the public ones), by name."""
    response.headers["Cache-Control"] = NO_STORE
    after = cursors.text_and_id(cursor) if cursor else None
    rows = sorted(
        await collections.list_visible(session=session, actor=actor),
        key=lambda c: (c.name.casefold(), c.id),
    )
    if after is not None:
        rows = [c for c in rows if (c.name.casefold(), c.id) > after]
    page = rows[:limit]
    more = len(rows) > limit
    last = page[-1] if page else None
    return CollectionPage(
        items=[CollectionOut.of(c) for c in page],
        next_cursor=cursors.encode(last.name.casefold(), last.id) if more and last else None,
    )


@router.get(
    "/collections/{collection_id}", response_model=CollectionDetail, responses=documented(404)
)
async def get_collection(
    collection_id: Id, session: DbSession, actor: Actor, response: Response
) -> CollectionDetail:
    """One collection, with what it holds and how it is used."""
    response.headers["Cache-Control"] = NO_STORE
    return await _one(session, actor, collection_id)


@router.post(
    "/collections",
    status_code=201,
    response_model=CollectionDetail,
    responses=documented(400, 401, 403, 422),
)
async def create_collection(
    body: CollectionIn, session: DbSession, actor: Actor, response: Response
) -> CollectionDetail:
    """A new collection (librarians and admins); its maker becomes its curator."""
    made = await collections.create(
        session=session,
        actor=actor,
        name=body.name,
        description=body.description,
        is_public=body.is_public,
    )
    await session.commit()
    assert made.id is not None
    response.headers["Location"] = f"/api/v1/collections/{made.id}"
    return await _one(session, actor, made.id)


@router.patch(
    "/collections/{collection_id}",
    response_model=CollectionDetail,
    responses=documented(400, 404, 422),
)
async def update_collection(
    collection_id: Id, body: CollectionChange, session: DbSession, actor: Actor
) -> CollectionDetail:
    """Rename, describe, make public or private (its curators)."""
    now = await collections.get_public(session=session, actor=actor, collection_id=collection_id)
    await collections.update(
        session=session,
        actor=actor,
        collection_id=collection_id,
        name=now.name if body.name is None else body.name,
        description=now.description if body.description is None else body.description,
        is_public=now.is_public if body.is_public is None else body.is_public,
    )
    await session.commit()
    return await _one(session, actor, collection_id)


@router.delete("/collections/{collection_id}", status_code=204, responses=documented(404, 409, 422))
async def delete_collection(
    collection_id: Id,
    session: DbSession,
    actor: Actor,
    documents_: Annotated[
        Literal["", "move", "delete"],
        Query(
            alias="documents",
            description="What becomes of the documents it holds: move (to `move_to`) or "
            "delete; required when it holds any",
        ),
    ] = "",
    move_to: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Delete a collection (its curators)."""
    await collections.delete(
        session=session,
        actor=actor,
        collection_id=collection_id,
        documents=documents_,
        move_to=move_to,
    )
    await session.commit()
    return Response(status_code=204)


@router.get(
    "/collections/{collection_id}/members",
    response_model=list[MemberOut],
    responses=documented(404),
)
async def list_members(
    collection_id: Id, session: DbSession, actor: Actor, response: Response
) -> list[MemberOut]:
    """Who may see or curate a private collection (its curators)."""
    response.headers["Cache-Control"] = NO_STORE
    rows = await collections.members(session=session, actor=actor, collection_id=collection_id)
    return [
        MemberOut(user_id=u.id or 0, email=u.email, name=u.display_name, role=m.role)  # type: ignore[arg-type]
        for m, u in rows
    ]


@router.put(
    "/collections/{collection_id}/members",
    response_model=list[MemberOut],
    responses=documented(404, 409, 422),
)
async def add_member(
    collection_id: Id, body: MemberIn, session: DbSession, actor: Actor
) -> list[MemberOut]:
    """Give an account access (viewer) or let it curate (curator); the members after."""
    await collections.add_member(
        session=session,
        actor=actor,
        collection_id=collection_id,
        email=body.email,
        role=body.role,
    )
    await session.commit()
    rows = await collections.members(session=session, actor=actor, collection_id=collection_id)
    return [
        MemberOut(user_id=u.id or 0, email=u.email, name=u.display_name, role=m.role)  # type: ignore[arg-type]
        for m, u in rows
    ]


@router.delete(
    "/collections/{collection_id}/members/{user_id}",
    status_code=204,
    responses=documented(404, 409),
)
async def remove_member(
    collection_id: Id, user_id: Id, session: DbSession, actor: Actor
) -> Response:
    await collections.remove_member(
        session=session, actor=actor, collection_id=collection_id, user_id=user_id
    )
    await session.commit()
    return Response(status_code=204)


@router.get(
    "/collections/{collection_id}/documents",
    response_model=DocumentPage,
    responses=documented(400, 404),
)
async def list_documents(
    collection_id: Id,
    session: DbSession,
    actor: Actor,
    response: Response,
    cursor: cursors.Cursor = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DocumentPage:
    """A collection's documents, newest first, `limit` at a time: ready ones for everyone
    who may see the collection; its curators also see those in processing or failed."""
    response.headers["Cache-Control"] = NO_STORE
    before = cursors.time_and_id(cursor) if cursor else None
    rows = await documents.list_in_collection(
        session=session,
        actor=actor,
        collection_id=collection_id,
        limit=limit + 1,
        before=before,
    )
    page = rows[:limit]
    last = page[-1] if page else None
    return DocumentPage(
        items=[
            DocumentRow(
                id=d.id,
                title=d.title,
                filename=d.filename,
                size=d.size,
                status=d.status,
                created_at=d.created_at,
                url=f"/api/v1/documents/{d.id}",
            )
            for d in page
        ],
        next_cursor=cursors.encode(last.created_at.isoformat(), last.id)
        if len(rows) > limit and last
        else None,
    )
