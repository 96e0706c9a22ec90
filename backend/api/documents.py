"""Documents in the REST API: one with its versions, its catalogue record to read and to
change, the text of its pages, and deleting it. Downloads, thumbnails, page images, the
Dublin Core record and citations are in backend.api.routes. Who may do what is decided
by the same use cases the pages call; a document the caller may not see is the same 404
as one that does not exist."""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.api.deps import Actor, DbSession, ReadSession, client_address
from backend.api.problems import documented, problem
from backend.documents import metadata
from backend.documents import service as documents
from backend.errors import NotFound
from backend.ids import MAX_ID

router = APIRouter(prefix="/api/v1", tags=["documents"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
NO_STORE = "private, no-store"


class Version(BaseModel):
    id: int
    version_no: int
    filename: str
    size: int
    mime_type: str
    page_count: int | None
    language: str
    created_at: datetime
    has_thumbnail: bool
    download_url: str = Field(examples=["/api/v1/documents/14/download?version=31"])
    # For the document's curators only: how it was processed.
    status: str | None = None
    step: str | None = None
    error: str | None = None
    warnings: str | None = None
    sha256: str | None = None
    uploaded_by: str | None = None


class DocumentOut(BaseModel):
    id: int = Field(examples=[14])
    title: str = Field(examples=["Lighthouses of Brittany"])
    collection_id: int
    collection_name: str
    created_at: datetime
    current_version_id: int | None
    versions: list[Version] = Field(description="Newest first; curators see every version")
    can_curate: bool
    record_url: str = Field(examples=["/api/v1/documents/14/record"])


class RecordBody(BaseModel):
    """A catalogue record; in a PATCH, only the fields given change."""

    title: str | None = Field(None, max_length=500, examples=["Lighthouses of Brittany"])
    description: str | None = Field(None, max_length=5000)
    publisher: str | None = Field(None, max_length=300)
    date_issued: str | None = Field(None, max_length=40, examples=["1911-05"])
    language: str | None = Field(None, max_length=12, examples=["fr"])
    identifier: str | None = Field(None, max_length=500)
    source: str | None = Field(None, max_length=500)
    relation: str | None = Field(None, max_length=500)
    coverage: str | None = Field(None, max_length=500)
    rights: str | None = Field(None, max_length=500)
    creators: list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=100)
    contributors: list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=100)
    subject_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(None, max_length=100)


class RecordOut(BaseModel):
    title: str
    description: str
    publisher: str
    date_issued: str
    language: str
    identifier: str
    source: str
    relation: str
    coverage: str
    rights: str
    creators: list[str]
    contributors: list[str]
    subject_ids: list[int]


class PageTextOut(BaseModel):
    page_no: int
    page_count: int
    text: str


@router.get("/documents/{document_id}", response_model=DocumentOut, responses=documented(404))
async def get_document(
    document_id: Id, session: ReadSession, actor: Actor, request: Request, response: Response
) -> DocumentOut:
    """A document and its versions (how each was processed: for its curators)."""
    found = await documents.get(
        session=session, actor=actor, document_id=document_id, client=client_address(request)
    )
    await session.commit()  # the view is counted
    response.headers["Cache-Control"] = NO_STORE
    versions = []
    for v in found.versions:
        staff: dict[str, Any] = {}
        if v.id in found.staff:
            staff = asdict(found.staff[v.id])
            staff.pop("duplicate_of_id", None)
        versions.append(
            Version(
                id=v.id,
                version_no=v.version_no,
                filename=v.filename,
                size=v.size,
                mime_type=v.mime_type,
                page_count=v.page_count,
                language=v.language,
                created_at=v.created_at,
                has_thumbnail=v.has_thumbnail,
                download_url=f"/api/v1/documents/{document_id}/download?version={v.id}",
                **staff,
            )
        )
    return DocumentOut(
        id=found.id,
        title=found.title,
        collection_id=found.collection_id,
        collection_name=found.collection_name,
        created_at=found.created_at,
        current_version_id=found.current.id if found.current else None,
        versions=versions,
        can_curate=found.can_curate,
        record_url=f"/api/v1/documents/{document_id}/record",
    )


@router.get(
    "/documents/{document_id}/metadata", response_model=RecordOut, responses=documented(404)
)
async def get_metadata(
    document_id: Id, session: ReadSession, actor: Actor, response: Response
) -> RecordOut:
    """The catalogue record as its curators edit it (subjects by id)."""
    record, _ = await metadata.editable(session=session, actor=actor, document_id=document_id)
    response.headers["Cache-Control"] = NO_STORE
    return RecordOut(**asdict(record))


@router.patch(
    "/documents/{document_id}/metadata",
    response_model=RecordOut,
    responses=documented(404, 422),
)
async def update_metadata(
    document_id: Id, body: RecordBody, session: DbSession, actor: Actor
) -> RecordOut | JSONResponse:
    """Change the fields given (its curators); every change goes to the audit log and the
    search index. A field that is wrong is named in `errors`, and nothing changes."""
    record, _ = await metadata.editable(session=session, actor=actor, document_id=document_id)
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(record, name, value)
    try:
        await metadata.update(session=session, actor=actor, document_id=document_id, record=record)
    except metadata.InvalidRecord as exc:
        return problem(422, str(exc), errors=exc.errors)
    await session.commit()
    record, _ = await metadata.editable(session=session, actor=actor, document_id=document_id)
    return RecordOut(**asdict(record))


@router.get(
    "/documents/{document_id}/pages/{page_no}/text",
    response_model=PageTextOut,
    responses=documented(404),
)
async def page_text(
    document_id: Id,
    page_no: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: ReadSession,
    actor: Actor,
    response: Response,
) -> PageTextOut:
    """The text read from one page of the current version (plain text)."""
    found = await documents.page_text(
        session=session, actor=actor, document_id=document_id, page_no=page_no
    )
    if found.page_no != page_no:  # past the last page
        raise NotFound("No such page.")
    response.headers["Cache-Control"] = NO_STORE
    return PageTextOut(page_no=found.page_no, page_count=found.page_count, text=found.text)


@router.delete("/documents/{document_id}", status_code=204, responses=documented(404))
async def delete_document(document_id: Id, session: DbSession, actor: Actor) -> Response:
    """Delete a document, every version and file of it (its curators)."""
    await documents.delete_document(session=session, actor=actor, document_id=document_id)
    await session.commit()
    return Response(status_code=204)
