"""The REST API, version 1, mounted into the Reflex app under /api/v1.

Every id in a path or query is a PostgreSQL integer key (`Id`): one that cannot be a row's
is answered as a row that does not exist. A refusal is the same 404 as a missing thing.
Anything not public is sent with `Cache-Control: no-store`.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import metrics
from backend.analytics import dashboard, report
from backend.api.admin import router as admin_router
from backend.api.auth_routes import router as auth_router
from backend.api.browse import router as browse_router
from backend.api.collections import router as collections_router
from backend.api.deps import Actor, DbSession
from backend.api.documents import router as documents_router
from backend.api.feeds import router as feeds_router
from backend.api.oai import router as oai_router
from backend.api.problems import problem
from backend.api.saved import router as saved_router
from backend.api.schema import document_errors
from backend.api.search import router as search_router
from backend.api.session import router as session_router
from backend.api.uploads import router as uploads_router
from backend.collections import service as collections
from backend.db import sql, unavailable
from backend.documents import bulk, catalogue
from backend.documents import service as documents
from backend.errors import LibraryError, NotFound, TooManyAttempts, Unavailable
from backend.ids import MAX_ID
from backend.ingest import pages
from backend.operations import health as operations_health
from backend.operations.metrics import page as metrics_page_of
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.storage.disposition import content_disposition
from backend.storage.service import get_store

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1")
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
NOT_FOUND = "Not found."
PRIVATE = "private, no-store"


def cache_control(public: bool) -> str:
    """Public things may be kept a few minutes by the browser (never by shared caches);
    anything else is not stored at all."""
    return "private, max-age=300" if public else PRIVATE


BINARY = {"schema": {"type": "string", "format": "binary"}}
TEXT = {"schema": {"type": "string"}}
WEBP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/webp": BINARY}, "description": "The picture (WebP)"}
}
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": TEXT}, "description": "A table (CSV)"}
}


@router.get("/health")
async def health(session: DbSession, response: Response) -> dict[str, str]:
    response.headers["X-Library-Instance"] = get_settings().library_instance
    await sql(session, text("SELECT 1"))
    return {"status": "ok"}


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process answers (a liveness probe: nothing else is asked)."""
    return {"status": "ok"}


READY_TIMEOUT_SECONDS = 1.0


class Readiness(BaseModel):
    """Whether this process can serve, and each thing it needs: "ok" or what is wrong."""

    status: Literal["ok", "unready"]
    checks: dict[str, str] = Field(
        examples=[{"database": "ok", "redis": "ok", "search_engine": "ok", "worker": "ok"}]
    )


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Something it needs is missing"}},
)
async def ready(
    worker: Annotated[
        bool,
        Query(
            description="false: a silent worker is reported but is no 503 (a web "
            "process's readiness probe: pages are served while every worker restarts)"
        ),
    ] = True,
) -> JSONResponse:
    """Whether this process can serve: the database, Redis and the search engine answer
    (each within a second), and a worker has been heard from lately. 503 names what is
    missing."""
    checks = await operations_health.readiness(READY_TIMEOUT_SECONDS)
    needed = {name: why for name, why in checks.items() if worker or name != "worker"}
    failing = {name: why for name, why in needed.items() if why != "ok"}
    return JSONResponse(
        {"status": "unready" if failing else "ok", "checks": checks},
        status_code=503 if failing else 200,
        headers={"Cache-Control": PRIVATE},
    )


metrics_router = APIRouter()


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics_page(request: Request, session: DbSession) -> Response:
    """Prometheus's page, for the scraper holding METRICS_TOKEN (404 for anyone else, and
    while no token is set)."""
    token = get_settings().metrics_token
    given = request.headers.get("authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return problem(404, NOT_FOUND, headers={"Cache-Control": PRIVATE})
    body = await metrics_page_of(session, get_redis())
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": PRIVATE})


@router.get(
    "/documents/{document_id}/download",
    response_model=None,
    response_class=Response,
    responses={
        200: {"content": {"*/*": BINARY}, "description": "The file, in its own type"},
        307: {"description": "Where the object store serves the file (signed, short-lived)"},
    },
)
async def download(
    document_id: Id,
    session: DbSession,
    actor: Actor,
    request: Request,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> StreamingResponse | RedirectResponse:
    found = await documents.open_download(
        session=session,
        actor=actor,
        document_id=document_id,
        version_id=version,
        client=request.client.host if request.client else "",
    )
    await session.commit()
    store = get_store()
    presign = getattr(store, "download_url", None)
    if presign is not None:
        # Object stores serve the bytes themselves, through a short-lived signed URL.
        return RedirectResponse(presign(found.file_key, found.filename), status_code=307)
    return StreamingResponse(
        await opened(found.file_key),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(found.filename),
            "Content-Length": str(found.size),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": PRIVATE,
        },
    )


async def opened(key: str) -> AsyncIterator[bytes]:
    """A stored object's bytes with the first chunk already read: a store that is down, or
    an object that is gone, is answered as an error (503, 404) before any header is sent,
    not as a 200 cut short."""
    stream = get_store().read(key)
    try:
        first = await anext(stream, b"")
    except FileNotFoundError as exc:
        log.error("stored object %s is missing", key)
        raise NotFound(NOT_FOUND) from exc

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for chunk in stream:
                yield chunk
        finally:
            close = getattr(stream, "aclose", None)  # an async generator's, as stores give
            if close is not None:
                await close()

    return rest()


async def _image(key: str, public: bool) -> StreamingResponse:
    return StreamingResponse(
        await opened(key),
        media_type="image/webp",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": cache_control(public)},
    )


@router.get("/documents/{document_id}/thumbnail", response_class=Response, responses=WEBP)
async def thumbnail(
    document_id: Id,
    session: DbSession,
    actor: Actor,
    size: Annotated[str, Query(pattern="^(small|large)$")] = "small",
) -> StreamingResponse:
    found = await documents.open_thumbnail(
        session=session, actor=actor, document_id=document_id, size=size
    )
    return await _image(found.key, found.public)


@router.get(
    "/documents/{document_id}/pages/{page_no}.webp", response_class=Response, responses=WEBP
)
async def page_image(
    document_id: Id,
    page_no: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: DbSession,
    actor: Actor,
    size: Annotated[str, Query(pattern="^(small|large)$")] = "large",
) -> StreamingResponse:
    """A page's image (900 px wide), or its small picture to jump by (120 px)."""
    found = await pages.open_page_image(
        session=session,
        actor=actor,
        document_id=document_id,
        page_no=page_no,
        small=size == "small",
    )
    return await _image(found.key, found.public)


@router.get("/collections/{collection_id}/cover", response_class=Response, responses=WEBP)
async def collection_cover(
    collection_id: Id, session: DbSession, actor: Actor
) -> StreamingResponse:
    key, public = await collections.open_cover(
        session=session, actor=actor, collection_id=collection_id
    )
    return await _image(key, public)


@router.get("/collections/{collection_id}/export.csv", response_class=Response, responses=CSV)
async def collection_export(collection_id: Id, session: DbSession, actor: Actor) -> Response:
    """The collection's catalogue as CSV, in the columns the bulk import reads back."""
    data = await bulk.export_csv(session=session, actor=actor, collection_id=collection_id)
    return Response(
        data.encode("utf-8-sig"),  # spreadsheet programs read UTF-8 when it says so
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": content_disposition(f"collection-{collection_id}.csv"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": PRIVATE,
        },
    )


@router.get("/admin/analytics/{panel}.csv", response_class=Response, responses=CSV)
async def analytics_csv(
    panel: str,
    session: DbSession,
    actor: Actor,
    part: Annotated[str, Query(max_length=40)] = "series",
    days: Annotated[int | None, Query(ge=1, le=366)] = None,
    first: Annotated[str, Query(alias="from", max_length=10)] = "",
    last: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    """One table of an analytics panel as CSV: its days (`part=series`) or one of its
    lists; for admins, and for librarians their collections' (404 for anyone else)."""
    data = await dashboard.export(
        session=session, actor=actor, name=panel, part=part, days=days, first=first, last=last
    )
    return Response(
        data.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": content_disposition(f"analytics-{panel}-{part}.csv"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": PRIVATE,
        },
    )


# The printable page is ours, but whatever it holds stays inert: no script, no fetch.
REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'"


@router.get(
    "/admin/reports/usage/{month}.{fmt}",
    response_class=Response,
    responses={200: {"content": {t.split(";")[0]: TEXT for t in report.FORMATS.values()}}},
)
async def usage_report(month: str, fmt: str, session: DbSession, actor: Actor) -> Response:
    """A month's usage report, as CSV or as a printable page; for admins (404 for anyone
    else, and for a month with no report)."""
    data = await report.read_report(
        session=session, actor=actor, store=get_store(), month=month, fmt=fmt
    )
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": PRIVATE}
    if fmt == "csv":
        headers["Content-Disposition"] = content_disposition(f"usage-report-{month}.csv")
    else:
        headers["Content-Security-Policy"] = REPORT_POLICY
    return Response(data, media_type=report.FORMATS[fmt], headers=headers)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(request: Request, etag: str) -> bool:
    """Whether the request's If-None-Match names this ETag (or any, `*`)."""
    given = request.headers.get("if-none-match", "")
    names = {n.strip().removeprefix("W/") for n in given.split(",") if n.strip()}
    return "*" in names or etag in names


@router.get(
    "/documents/{document_id}/record",
    response_model=None,
    responses={304: {"description": "Not modified: the record has the ETag of If-None-Match"}},
)
async def record(document_id: Id, session: DbSession, actor: Actor, request: Request) -> Response:
    """The catalogue record as Dublin Core elements (each a list of values), with an ETag:
    sent back in If-None-Match, an unchanged record is a 304 without a body."""
    found = await catalogue.catalogued(session=session, actor=actor, document_id=document_id)
    body = json.dumps(
        {"id": document_id, "dublin_core": dict(found.dublin_core().items())},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    headers = {"Cache-Control": PRIVATE, "ETag": etag_of(body)}
    if matches(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


CITATIONS = {
    "bib": (catalogue.bibtex, "application/x-bibtex; charset=utf-8"),
    "ris": (catalogue.ris, "application/x-research-info-systems; charset=utf-8"),
}


@router.get(
    "/documents/{document_id}/citation.{fmt}",
    response_class=Response,
    responses={200: {"content": {t.split(";")[0]: TEXT for _, t in CITATIONS.values()}}},
)
async def citation(document_id: Id, fmt: str, session: DbSession, actor: Actor) -> Response:
    """The citation to import into a reference manager: BibTeX (.bib) or RIS (.ris)."""
    if fmt not in CITATIONS:
        return problem(404, NOT_FOUND, headers={"Cache-Control": PRIVATE})
    make, media_type = CITATIONS[fmt]
    found = await catalogue.catalogued(session=session, actor=actor, document_id=document_id)
    return Response(
        make(found),
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(f"document-{document_id}.{fmt}"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": PRIVATE,
        },
    )


async def library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LibraryError)
    if exc.status_code == 404:
        # One answer for "missing" and "not yours": the same body whatever the reason.
        return problem(404, NOT_FOUND, headers={"Cache-Control": PRIVATE})
    if isinstance(exc, (TooManyAttempts, Unavailable)):  # when to come back
        return problem(
            exc.status_code, str(exc), headers={"Retry-After": str(max(1, exc.retry_after))}
        )
    return problem(exc.status_code, str(exc))


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A path no row can answer is a missing row; any other bad parameter is a 400."""
    assert isinstance(exc, RequestValidationError)
    if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
        return problem(404, NOT_FOUND, headers={"Cache-Control": PRIVATE})
    where = ", ".join(str(e.get("loc", ("?",))[-1]) for e in exc.errors())
    return problem(400, f"Invalid parameter: {where}.")


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (a body that is not JSON, a method a route does not take)
    as problem documents too."""
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    if "parsing the body" in detail:
        detail = "The body could not be read: it is not the JSON this operation takes."
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that is busy or away: 503 with when to come back (backend.db.unavailable);
    any other database error is a fault of ours."""
    said = unavailable(exc)
    if said is None:
        return await unexpected_error(request, exc)
    log.warning("%s %s: %s (%s)", request.method, request.url.path, said, type(exc).__name__)
    return await library_error(request, said)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A failure of ours: logged with its traceback, answered without it."""
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(500, "Something went wrong on our side.")


def create_api() -> FastAPI:
    api = FastAPI(
        title="Library API",
        version="1",
        docs_url="/api/v1/docs",
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
        # The server span of each request is backend.tracing's, around the gateway (whose
        # Redis calls it then holds too); FastAPI's own would start a second trace inside.
        telemetry={"tracing": False},
    )
    api.include_router(router)
    api.include_router(metrics_router)
    api.include_router(search_router)
    api.include_router(collections_router)
    api.include_router(documents_router)
    api.include_router(uploads_router)
    api.include_router(oai_router)
    api.include_router(feeds_router)
    api.include_router(saved_router)
    api.include_router(admin_router)
    api.include_router(browse_router)
    api.include_router(auth_router)
    api.include_router(session_router)
    api.add_exception_handler(LibraryError, library_error)
    api.add_exception_handler(RequestValidationError, invalid_request)
    api.add_exception_handler(StarletteHTTPException, http_error)
    api.add_exception_handler(SQLAlchemyError, database_error)
    api.add_exception_handler(Exception, unexpected_error)
    document_errors(api)
    return api
