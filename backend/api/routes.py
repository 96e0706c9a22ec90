"""The REST API, version 1, mounted into the Reflex app under /api/v1."""

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import text

from backend.api.deps import Actor, DbSession
from backend.api.session import router as session_router
from backend.collections import service as collections
from backend.documents import bulk, catalogue
from backend.documents import service as documents
from backend.errors import LibraryError
from backend.storage.disposition import content_disposition
from backend.storage.service import get_store

router = APIRouter(prefix="/api/v1")


@router.get("/health")
async def health(session: DbSession) -> dict[str, str]:
    await session.exec(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/documents/{document_id}/download", response_model=None)
async def download(
    document_id: int, session: DbSession, actor: Actor, version: int | None = None
) -> StreamingResponse | RedirectResponse:
    found = await documents.open_download(
        session=session, actor=actor, document_id=document_id, version_id=version
    )
    await session.commit()
    store = get_store()
    presign = getattr(store, "download_url", None)
    if presign is not None:
        # Object stores serve the bytes themselves, through a short-lived signed URL.
        return RedirectResponse(presign(found.file_key, found.filename), status_code=307)
    return StreamingResponse(
        get_store().read(found.file_key),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(found.filename),
            "Content-Length": str(found.size),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/documents/{document_id}/thumbnail")
async def thumbnail(
    document_id: int, session: DbSession, actor: Actor, size: str = "small"
) -> StreamingResponse:
    key = await documents.open_thumbnail(
        session=session, actor=actor, document_id=document_id, size=size
    )
    return StreamingResponse(
        get_store().read(key),
        media_type="image/webp",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
    )


@router.get("/documents/{document_id}/pages/{page_no}.webp")
async def page_image(
    document_id: int, page_no: int, session: DbSession, actor: Actor
) -> StreamingResponse:
    key = await documents.open_page_image(
        session=session, actor=actor, document_id=document_id, page_no=page_no
    )
    return StreamingResponse(
        get_store().read(key),
        media_type="image/webp",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
    )


@router.get("/collections/{collection_id}/cover")
async def collection_cover(
    collection_id: int, session: DbSession, actor: Actor
) -> StreamingResponse:
    key = await collections.open_cover(session=session, actor=actor, collection_id=collection_id)
    return StreamingResponse(
        get_store().read(key),
        media_type="image/webp",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
    )


@router.get("/collections/{collection_id}/export.csv")
async def collection_export(collection_id: int, session: DbSession, actor: Actor) -> Response:
    """The collection's catalogue as CSV, in the columns the bulk import reads back."""
    data = await bulk.export_csv(session=session, actor=actor, collection_id=collection_id)
    return Response(
        data.encode("utf-8-sig"),  # spreadsheet programs read UTF-8 when it says so
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": content_disposition(f"collection-{collection_id}.csv"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/documents/{document_id}/record")
async def record(document_id: int, session: DbSession, actor: Actor) -> dict[str, object]:
    """The catalogue record as Dublin Core elements (each a list of values)."""
    found = await catalogue.catalogued(session=session, actor=actor, document_id=document_id)
    return {"id": document_id, "dublin_core": dict(found.dublin_core().items())}


CITATIONS = {
    "bib": (catalogue.bibtex, "application/x-bibtex; charset=utf-8"),
    "ris": (catalogue.ris, "application/x-research-info-systems; charset=utf-8"),
}


@router.get("/documents/{document_id}/citation.{fmt}")
async def citation(document_id: int, fmt: str, session: DbSession, actor: Actor) -> Response:
    """The citation to import into a reference manager: BibTeX (.bib) or RIS (.ris)."""
    if fmt not in CITATIONS:
        return JSONResponse({"detail": "Citations come as .bib or .ris."}, status_code=404)
    make, media_type = CITATIONS[fmt]
    found = await catalogue.catalogued(session=session, actor=actor, document_id=document_id)
    return Response(
        make(found),
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(f"document-{document_id}.{fmt}"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


async def library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LibraryError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)


def create_api() -> FastAPI:
    api = FastAPI(
        title="Library API",
        version="1",
        docs_url="/api/v1/docs",
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )
    api.include_router(router)
    api.include_router(session_router)
    api.add_exception_handler(LibraryError, library_error)
    return api
