"""Every route of the REST API, read from the app itself, asked by every kind of actor
about a private document, a failed one, a private collection, a missing thing and ids
no row can have. Whoever may not see a thing gets exactly the answer given for a thing
that does not exist; nothing answers with a server error; nothing private is cached."""

import io
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from PIL import Image
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.routes import create_api
from backend.auth import service as auth
from backend.collections import service as collections
from backend.redis_client import get_redis
from backend.users.models import Role, User
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.worker import run_burst

# A missing thing and a refused one: the same problem document (RFC 9457).
NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Not found."}
SECRETS = {"private document": ("Quokka", "quokka"), "failed document": ("Unready", "unready")}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, "PNG")
    return out.getvalue()


async def _token(db: AsyncSession, user: User) -> str:
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    return login.token


@pytest.fixture
async def world(db: AsyncSession, data_dir: Path) -> AsyncIterator[dict[str, object]]:
    librarian = await make_user(db, Role.LIBRARIAN)
    member, patron, trusted = [await make_user(db) for _ in range(3)]
    other_librarian = await make_user(db, Role.LIBRARIAN)
    public = await make_collection(db, librarian, "Open shelf")
    private = await make_collection(db, librarian, "Private archive", is_public=False)
    other = await make_collection(db, librarian, "Other shelf")
    for collection, user, role in ((private, member, "viewer"), (other, trusted, "curator")):
        await collections.add_member(
            session=db,
            actor=librarian,
            collection_id=collection.id,  # type: ignore[arg-type]
            email=user.email,
            role=role,
        )
    ledger, _ = await upload_bytes(db, librarian, private, _png(), "quokka.png")
    failed, failed_version = await upload_bytes(db, librarian, public, b"Unready\n", "unready.pdf")
    await collections.set_cover(session=db, actor=librarian, collection_id=private.id, data=_png())  # type: ignore[arg-type]
    await db.commit()
    await run_burst()
    actors: dict[str, str] = {"anonymous": ""}
    for name, user in (
        ("patron", patron),
        ("member", member),
        ("trusted", trusted),
        ("other_librarian", other_librarian),
        ("curator", librarian),
    ):
        actors[name] = await _token(db, user)
    yield {
        "actors": actors,
        "things": {
            "private document": ledger.id,
            "failed document": failed.id,
            "private collection": private.id,
            "missing": 2_000_000_000,
            "past 32 bits": 2**40,
            "negative": -1,
            "zero": 0,
            "not a number": "abc",
        },
        "failed_version": failed_version.id,
    }


# Who may see each thing (the curator is the control: they may see everything).
MAY_SEE = {
    "private document": {"member", "other_librarian", "curator"},
    "private collection": {"member", "other_librarian", "curator"},
    "failed document": {"curator"},
}


def _walk(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        yield from _walk(list(getattr(route, "routes", None) or getattr(inner, "routes", [])))


def _routes() -> list[APIRoute]:
    """Every route of the app that takes something in its path (GET ones)."""
    routes = [r for r in _walk(create_api().routes) if "{" in r.path and "GET" in r.methods]
    assert len(routes) >= 7
    return routes


def _url(route: APIRoute, thing: object, kind: str) -> str | None:
    """The route's path asking about `thing`; None when the route is not about that kind."""
    names = re.findall(r"{(\w+)}", route.path)
    wants_collection = "collection_id" in names
    if "document_id" not in names and not wants_collection:
        return None  # not about a document or a collection (a feed of a search, a sitemap)
    if kind.endswith("document") and wants_collection:
        return None
    if kind == "private collection" and not wants_collection:
        return None
    values = {
        "document_id": thing,
        "collection_id": thing,
        "page_no": 1,
        "fmt": "bib",
        "panel": "documents",
        "month": "2026-03",
        "kind": "atom",
        "part": 0,
    }
    return route.path.format(**{n: values[n] for n in names})


@pytest.mark.parametrize("actor", ["anonymous", "patron", "member", "trusted", "other_librarian"])
async def test_every_route_answers_as_for_a_missing_thing(
    world: dict[str, object], actor: str
) -> None:
    transport = httpx.ASGITransport(app=create_api(), raise_app_exceptions=False)
    token = world["actors"][actor]  # type: ignore[index]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    forbidden = [s for kind, found in SECRETS.items() if actor not in MAY_SEE[kind] for s in found]
    problems = []
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:
        for route in _routes():
            missing_url = _url(route, 2_000_000_000, "missing")
            if missing_url is None:
                continue
            missing = await client.get(missing_url, headers=headers)
            for kind, thing in world["things"].items():  # type: ignore[attr-defined]
                url = _url(route, thing, kind)
                if url is None:
                    continue
                got = await client.get(url, headers=headers)
                if got.status_code >= 500:
                    problems.append(f"{url} as {actor}: {got.status_code}")
                    continue
                if any(s in got.text for s in forbidden):
                    problems.append(f"{url} as {actor} shows {got.text[:200]}")
                allowed = actor in MAY_SEE.get(kind, set())
                if allowed:
                    if got.status_code == 200 and "no-store" not in got.headers.get(
                        "cache-control", ""
                    ):
                        problems.append(f"{url} as {actor} may be cached: {got.headers}")
                    continue
                if (got.status_code, got.text) != (missing.status_code, missing.text):
                    problems.append(
                        f"{url} as {actor}: {got.status_code} {got.text[:120]} differs from a "
                        f"missing thing's {missing.status_code} {missing.text[:120]}"
                    )
    assert not problems, "\n".join(problems)


async def test_the_curator_sees_what_the_matrix_hides(world: dict[str, object]) -> None:
    """The control: the same URLs do answer their curator, so the 404s above are refusals."""
    transport = httpx.ASGITransport(app=create_api())
    token = world["actors"]["curator"]  # type: ignore[index]
    things = world["things"]
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:
        h = {"Authorization": f"Bearer {token}"}
        ledger, failed, private = (
            things["private document"],  # type: ignore[index]
            things["failed document"],  # type: ignore[index]
            things["private collection"],  # type: ignore[index]
        )
        for url in (
            f"/api/v1/documents/{ledger}/thumbnail",
            f"/api/v1/documents/{ledger}/record",
            f"/api/v1/documents/{failed}/record",
            f"/api/v1/documents/{failed}/download",
            f"/api/v1/collections/{private}/cover",
            f"/api/v1/collections/{private}/export.csv",
        ):
            got = await client.get(url, headers=h)
            assert got.status_code == 200, url
            assert got.headers["cache-control"] == "private, no-store", url
        bad = await client.get(f"/api/v1/documents/{ledger}/thumbnail?size=huge", headers=h)
        assert bad.status_code == 400
        version = world["failed_version"]
        wrong = await client.get(
            f"/api/v1/documents/{ledger}/download?version={version}", headers=h
        )
        assert wrong.status_code == 404 and wrong.json() == NOT_FOUND
        assert wrong.headers["content-type"] == "application/problem+json"


def _not_ready(path: str, got: httpx.Response) -> bool:
    """The readiness probe's own 503: the process is not ready (here: no worker heard
    from), which is what a probe answers a load balancer, not a server error."""
    if path != "/api/v1/health/ready" or got.status_code != 503:
        return False
    body = got.json()
    return bool(body["status"] == "unready" and body["checks"]["worker"] != "ok")


JUNK_BODIES = [b"", b"ticket=%00%ff&next=//evil.example", b"\xff\xfe" * 3000, b'{"ticket": [1]}']


async def test_no_route_answers_junk_with_a_server_error(world: dict[str, object]) -> None:
    """Every route and method of the app, read from it, sent junk in its path, query and
    body (as anonymous and as a member, from this site and from another): a client's
    mistake is a 4xx (or the route's ordinary answer), never a 500 with a traceback."""
    transport = httpx.ASGITransport(app=create_api(), raise_app_exceptions=False)
    token = world["actors"]["member"]  # type: ignore[index]
    problems = []
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:
        for route in _walk(create_api().routes):
            names = re.findall(r"{(\w+)}", route.path)
            for junk in ("abc", "-5", "99999999999999999999", "%00", "1.5"):
                path = route.path.format(**{n: junk for n in names})
                for method in sorted(route.methods):
                    for body in JUNK_BODIES:
                        for headers in (
                            {},
                            {"Authorization": f"Bearer {token}", "Sec-Fetch-Site": "same-origin"},
                            {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
                        ):
                            got = await client.request(
                                method,
                                f"{path}?version={junk}&size={junk}",
                                content=body,
                                headers={
                                    "Content-Type": "application/x-www-form-urlencoded",
                                    **headers,
                                },
                            )
                            if _not_ready(path, got):
                                continue  # no worker runs here: the probe says so, by design
                            if got.status_code >= 500 or "Traceback" in got.text:
                                problems.append(f"{method} {path} -> {got.status_code}")
    assert not problems, "\n".join(sorted(set(problems)))
