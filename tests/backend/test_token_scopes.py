"""The scope rule of personal API tokens holds on every route of the API, read from the
app itself: every route that acts for someone takes the acting user through
backend.api.deps.current_user (which checks the token's scopes), and a personal token
without the scope a request needs is refused on every one of them, whatever it asks."""

import re

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.deps import current_user
from backend.api.routes import create_api
from backend.auth import personal_tokens
from backend.users.models import Role
from tests.backend.test_route_matrix import _walk
from tests.factories import make_user

# Routes that act for nobody: probes, the scraper's page (its own token), the routes that
# make or end login sessions and their tokens (a personal token cannot), and what
# harvesters and crawlers read (the public collections only, whoever asks), and a saved
# search's feed (it answers for its owner by the key in its address, whoever fetches it).
FOR_NOBODY = {
    "/api/v1/saved-searches/{saved_id}/feed.atom",
    "/oai",
    "/sitemap.xml",
    "/sitemaps/collections.xml",
    "/sitemaps/documents-{part}.xml",
    "/robots.txt",
    "/api/v1/health",
    "/api/v1/health/live",
    "/api/v1/health/ready",
    "/metrics",
    "/api/v1/auth/token",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/session",
    "/api/v1/session/end",
}


def _depends_on_current_user(dependant: Dependant) -> bool:
    return any(
        d.call is current_user or _depends_on_current_user(d) for d in dependant.dependencies
    )


def _routes() -> list[APIRoute]:
    return list(_walk(create_api().routes))


def test_every_route_that_acts_for_someone_checks_the_tokens_scopes() -> None:
    routes = _routes()
    assert len(routes) >= 25
    unchecked = [
        r.path
        for r in routes
        if r.path not in FOR_NOBODY and not _depends_on_current_user(r.dependant)
    ]
    assert unchecked == []
    # The list of exceptions names only routes that exist.
    assert FOR_NOBODY <= {r.path for r in routes}


async def test_a_token_without_the_scope_is_refused_on_every_route(
    api: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await make_user(db, Role.ADMIN)
    tokens = {}
    for scopes in (["read"], ["write"], ["read", "write"]):
        made = await personal_tokens.create(session=db, actor=admin, name="t", scopes=scopes)
        tokens[" ".join(scopes)] = made.secret
    await db.commit()
    checked, problems = 0, []
    for route in _routes():
        if route.path in FOR_NOBODY:
            continue
        names = re.findall(r"{(\w+)}", route.path)
        path = route.path.format(**{n: "1" for n in names}).replace("{fmt}", "csv")
        for method in sorted(route.methods - {"HEAD"}):
            wanted = personal_tokens.needed(method, path)
            for scopes, secret in tokens.items():
                if wanted in scopes.split():
                    continue
                got = await api.request(
                    method, path, headers={"Authorization": f"Bearer {secret}"}, json={}
                )
                checked += 1
                if got.status_code != 403 or f"needs the {wanted} scope" not in got.text:
                    problems.append(f"{method} {path} with {scopes}: {got.status_code}")
    assert checked >= 25
    assert problems == []
