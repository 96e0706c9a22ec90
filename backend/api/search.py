"""Search and autocomplete in the REST API: the same query language, filters, facets,
sort, snippets (with page numbers) and paging as the search page, for the documents the
caller may see (anonymous callers: the public collections). Both spend the caller's
address's search budget (backend.ratelimits), like search events on the page."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from backend import ratelimits
from backend.api.deps import Actor, ReadSession, client_address
from backend.api.problems import problem
from backend.search import completion
from backend.search import service as search_service
from backend.search.cache import RESULTS
from backend.search.engine import FACETS, SORTS
from backend.search.schemas import SearchResults

router = APIRouter(prefix="/api/v1", tags=["search"])


async def spend_search_budget(request: Request) -> JSONResponse | None:
    """None when the caller's address may search now; else the 429 to answer. (Nothing
    more to spend when the gateway spent it with the request's other budgets.)"""
    if "search" in request.scope.get("state", {}).get("budgets_spent", ()):
        return None
    decision = await ratelimits.spend("search", client_address(request))
    if decision.allowed:
        return None
    return problem(429, decision.refusal("searches"), headers=dict(decision.headers))


@router.get(
    "/search",
    response_model=SearchResults,
    responses={
        429: {"description": "Too many searches from this address"},
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "query": "lighthouse",
                        "total": 1,
                        "page": 1,
                        "page_size": 20,
                        "hits": [
                            {
                                "document_id": 14,
                                "title": "Lighthouses of Brittany",
                                "collection_name": "Sea and shore",
                                "collection_slug": "sea-and-shore",
                                "page_no": 3,
                                "snippet": [
                                    {"text": "the ", "hit": False},
                                    {"text": "lighthouse", "hit": True},
                                ],
                                "rank": 7.2,
                                "has_thumbnail": True,
                            }
                        ],
                        "facets": {"year": [{"value": "1911", "label": "1911", "count": 1}]},
                        "sort": "relevance",
                    }
                }
            }
        },
    },
)
async def search(
    request: Request,
    session: ReadSession,
    actor: Actor,
    q: Annotated[str, Query(max_length=1000, description="Words, phrases, AND/OR/NOT")] = "",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=100)] = None,
    sort: Annotated[str, Query(pattern="^(" + "|".join(SORTS) + ")$")] = "relevance",
    collection: Annotated[list[str] | None, Query(max_length=50)] = None,
    author: Annotated[list[str] | None, Query(max_length=50)] = None,
    subject: Annotated[list[str] | None, Query(max_length=50)] = None,
    year: Annotated[list[str] | None, Query(max_length=50)] = None,
    type: Annotated[list[str] | None, Query(max_length=50)] = None,
    language: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> Response:
    """Ranked documents matching `q` and the filters (each facet may be given several
    times: any of its values), with facet counts, "did you mean" and snippets."""
    refused = await spend_search_budget(request)
    if refused is not None:
        return refused
    given = dict(
        collection=collection,
        author=author,
        subject=subject,
        year=year,
        type=type,
        language=language,
    )
    filters = {name: values for name, values in given.items() if name in FACETS and values}
    results = await search_service.search(
        session=session,
        actor=actor,
        query=q,
        page=page,
        page_size=page_size,
        filters=filters,
        sort=sort,
        client=client_address(request),
    )
    await session.commit()  # the recorded search (analytics)
    # Serialised by pydantic-core at once: the route's model is what the schema shows,
    # checked again by nothing (FastAPI would validate it field by field first).
    return Response(RESULTS.dump_json(results), media_type="application/json")


@router.get("/complete", response_model=list[completion.Completion])
async def complete(
    request: Request,
    session: ReadSession,
    actor: Actor,
    q: Annotated[str, Query(max_length=200)] = "",
) -> list[completion.Completion] | JSONResponse:
    """What the words typed may become: frequent past queries, then titles, authors and
    subjects of documents the caller may see."""
    refused = await spend_search_budget(request)
    if refused is not None:
        return refused
    return await completion.complete(session=session, actor=actor, text_typed=q)
