"""Uploads through the REST API: the file is the request's body, streamed to the object
store as it arrives (never held whole in memory), under the same size limit as the drop
zones (MAX_UPLOAD_BYTES), then handed to the same pipeline: validation, type, virus
scan, text, thumbnails, duplicates, indexing. The answer (202) says where to follow it.

Who may send it is asked before a byte of the body is read (the collection's curators,
and a token with the write scope); a body cut short or over the limit leaves nothing
stored. Their paths are backend.web.guard.API_UPLOAD's, which gives them one file's cap
and the upload rate budget."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.access import scope
from backend.api.deps import Actor, DbSession
from backend.api.problems import documented
from backend.documents import service as documents
from backend.ids import MAX_ID
from backend.storage.service import get_store, store_stream

router = APIRouter(prefix="/api/v1", tags=["uploads"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Filename = Annotated[
    str,
    Query(min_length=1, max_length=255, description="The file's name, with its extension"),
]
BODY = {
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    "required": True,
    "description": "The file itself (any Content-Type; the pipeline finds the real one)",
}


class Received(BaseModel):
    document_id: int = Field(examples=[14])
    version_id: int = Field(examples=[31])
    version_no: int = Field(examples=[1])
    status: str = Field("pending", examples=["pending"])
    status_url: str = Field(
        examples=["/api/v1/documents/14"],
        description="Follow the version's status (ready, failed, duplicate...) there",
    )


def _declared(request: Request) -> str:
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    return "" if kind in ("", "application/octet-stream") else kind


def _accepted(document_id: int, version_id: int, version_no: int) -> JSONResponse:
    url = f"/api/v1/documents/{document_id}"
    body = Received(
        document_id=document_id,
        version_id=version_id,
        version_no=version_no,
        status="pending",
        status_url=url,
    )
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": url})


@router.post(
    "/collections/{collection_id}/documents",
    status_code=202,
    response_model=Received,
    responses=documented(400, 401, 404, 413, 507),
    openapi_extra={"requestBody": BODY},
)
async def upload_document(
    collection_id: Id,
    request: Request,
    session: DbSession,
    actor: Actor,
    filename: Filename,
    title: Annotated[str, Query(max_length=500)] = "",
) -> JSONResponse:
    """A new document in a collection (its curators), from the file in the body."""
    await scope.require_curated(session, actor, collection_id)  # before reading the body
    stored = await store_stream(get_store(), request.stream())
    try:
        document, version = await documents.add_document(
            session=session,
            actor=actor,
            collection_id=collection_id,
            stored=stored,
            filename=filename,
            declared_mime=_declared(request),
            title=title,
        )
        await session.commit()
    except BaseException:
        await get_store().delete(stored.key)  # nothing stored that no row names
        raise
    assert document.id is not None and version.id is not None
    return _accepted(document.id, version.id, version.version_no)


@router.post(
    "/documents/{document_id}/versions",
    status_code=202,
    response_model=Received,
    responses=documented(400, 401, 404, 413, 507),
    openapi_extra={"requestBody": BODY},
)
async def upload_version(
    document_id: Id,
    request: Request,
    session: DbSession,
    actor: Actor,
    filename: Filename,
) -> JSONResponse:
    """A new version of a document (its curators); it becomes current once processed."""
    await scope.require_curated_document(session, actor, document_id)
    stored = await store_stream(get_store(), request.stream())
    try:
        version = await documents.add_version(
            session=session,
            actor=actor,
            document_id=document_id,
            stored=stored,
            filename=filename,
            declared_mime=_declared(request),
        )
        await session.commit()
    except BaseException:
        await get_store().delete(stored.key)
        raise
    assert version.id is not None
    return _accepted(document_id, version.id, version.version_no)
