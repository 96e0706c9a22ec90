"""The errors each operation may answer, written into the OpenAPI schema from what the
routes are, not route by route: a new route is documented without anyone remembering to.

- 400: a parameter or body that does not fit (backend.api.routes.invalid_request), and
  422, what a service refuses (InvalidInput), for every operation that takes any;
- 404: for every operation with a path parameter (missing, or not the caller's to see);
- 401 and 403: for every operation that acts for someone (backend.api.deps.current_user:
  a token that does not stand for anyone, or without the scope the request needs);
- 429: for every operation the gateway counts (all but the health probes), with
  `Retry-After` and the `RateLimit-*` headers;
- 503: for every operation but liveness (a dependency that does not answer: the database,
  the search engine, the object store, clamd), with `Retry-After`;
- 413: for every operation that takes a body (past the gateway's size limits).

Every error is an RFC 9457 problem document (`application/problem+json`) unless its route
says otherwise (OAI-PMH's errors, say, are its own XML with a 200)."""

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from backend.api.admin import admins_only
from backend.api.deps import current_user
from backend.api.problems import MEDIA_TYPE, Problem

UNCOUNTED = "/api/v1/health"  # the gateway's UNLIMITED: probes are never rate limited
ALWAYS_UP = "/api/v1/health/live"
PHRASES = {
    400: "A parameter or the body does not fit",
    401: "The token does not stand for anyone (anymore)",
    403: "Not allowed to the caller, or not with this token's scopes",
    404: "Not found (or not the caller's to see)",
    413: "The body is larger than this operation takes",
    422: "The request is well formed but refused (the detail says why)",
    429: "Too many requests: come back after Retry-After seconds",
    503: "A service the library needs does not answer: come back after Retry-After seconds",
}
PLAIN = {"application/json", MEDIA_TYPE}
HEADER = {"schema": {"type": "integer"}}
RETRY = {"Retry-After": {**HEADER, "description": "Seconds to wait"}}
RATES = {
    **RETRY,
    "RateLimit-Limit": {**HEADER, "description": "Requests the nearest limit allows"},
    "RateLimit-Remaining": {**HEADER, "description": "Of those, still allowed"},
    "RateLimit-Reset": {**HEADER, "description": "Seconds until that limit eases"},
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    for d in dependant.dependencies:
        yield d.call
        yield from _calls(d)


def errors_of(route: APIRoute) -> dict[int, dict[str, Any]]:
    """The error statuses an operation may answer, with their headers."""
    d = route.dependant
    found: dict[int, dict[str, Any]] = {}
    body = bool(d.body_params) or _takes_body(route)
    takes = d.path_params or d.query_params or d.header_params or d.cookie_params
    if takes or body:
        found |= {400: {}, 422: {}}
    if d.path_params:
        found[404] = {}
    calls = set(_calls(d))
    if current_user in calls:
        found |= {401: {}, 403: {}}
    if admins_only in calls:  # anyone but an admin: as for a route that does not exist
        found[404] = {}
    if not route.path.startswith(UNCOUNTED):
        found[429] = RATES
    if route.path != ALWAYS_UP:
        found[503] = RETRY
    if body:  # past the gateway's request size limit
        found[413] = {}
    return found


def _takes_body(route: APIRoute) -> bool:
    """Routes that read the request's body themselves (the streaming uploads)."""
    extra = route.openapi_extra or {}
    return "requestBody" in extra


def _unsaid(answer: dict[str, Any]) -> bool:
    """Whether an error's body is left to the default (a problem document): no content
    said, or only FastAPI's JSON with no schema or with the Problem one."""
    content: dict[str, Any] = answer.get("content") or {}
    if not set(content) <= PLAIN:
        return False
    refs = {str(c.get("schema", {}).get("$ref", "")) for c in content.values()}
    return refs <= {"", "#/components/schemas/Problem", "#/components/schemas/HTTPValidationError"}


def document_errors(api: FastAPI) -> None:
    """Make `api.openapi()` write every operation's errors (see the module's doc)."""
    plain = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = plain()
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            Problem.model_json_schema()
        )
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        for context in iter_route_contexts(api.routes):  # (through the included routers)
            route = context.route
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = schema["paths"].get(route.path, {}).get(method.lower())
                if operation is None:
                    continue
                answers = operation.setdefault("responses", {})
                for status, headers in errors_of(route).items():
                    answer = answers.setdefault(str(status), {})
                    if answer.get("description") in (None, "Validation Error"):
                        answer["description"] = PHRASES[status]  # (FastAPI's 422 is not ours)
                    if headers:
                        answer.setdefault("headers", {}).update(headers)
                for status, answer in answers.items():
                    if status.isdigit() and int(status) >= 400 and _unsaid(answer):
                        answer["content"] = {MEDIA_TYPE: {"schema": problem_ref}}
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]
