"""The guard in front of the app, through real HTTP requests against its ASGI app: request
bodies are capped (declared or counted), and uploads are refused before their body is
read unless a curator sends them to a streaming handler."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import app.app as composition
from backend.api.routes import create_api
from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import Role, User
from backend.web.guard import RequestGuard
from state.bulk_import import ImportState
from state.collections import CollectionState
from tests.factories import PASSWORD, make_collection, make_user

MB = 1 << 20


class Metered:
    """Counts the body bytes the app behind it pulled from the client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.read += len(message.get("body", b""))
            return message

        await self.app(scope, counting, send)


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lib.test")


async def body(total: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body sent without a Content-Length (chunked), as a hostile client may."""
    block = b"x" * chunk
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def handler_name(handler: Any) -> str:
    from reflex_base.utils.format import format_event_handler

    return str(format_event_handler(handler))


async def _token(db: AsyncSession, user: User) -> str:
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    return login.token


@pytest.fixture
def guarded() -> Metered:
    """The app's own guard around the REST API, as `app.app` composes them."""
    return Metered(composition.guard(create_api()))


async def test_an_anonymous_upload_of_300_mb_is_refused_after_a_few_kb(
    guarded: Metered, clean: None
) -> None:
    upload = handler_name(CollectionState.upload)
    async with client(guarded) as c:
        answer = await c.post(
            "/_upload",
            content=body(300 * MB),
            headers={"Reflex-Event-Handler": upload, "Reflex-Client-Token": "tab"},
        )
        assert answer.status_code == 401
        assert answer.json()["detail"] == "Log in to upload files."
        assert answer.headers["content-type"] == "application/problem+json"
        assert guarded.read <= 64 * 1024  # not one chunk of the body was taken
        declared = await c.post(
            "/_upload",
            content=b"x" * 100,
            headers={"Reflex-Event-Handler": upload, "Content-Length": str(300 * MB)},
        )
        assert declared.status_code == 401
    assert guarded.read == 0


async def test_only_curators_reach_a_streaming_upload_handler(
    guarded: Metered, db: AsyncSession
) -> None:
    curator = await make_user(db, Role.LIBRARIAN)
    await make_collection(db, curator)
    idle_librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    await db.commit()
    upload = handler_name(ImportState.check)
    refused = {
        "patron": (await _token(db, patron), upload, 403),
        "librarian of nothing": (await _token(db, idle_librarian), upload, 403),
        "unknown session": ("not-a-session", upload, 401),
        "buffered handler": (await _token(db, curator), handler_name(CollectionState.load), 400),
        "unknown handler": (await _token(db, curator), "state.nothing.here", 400),
        "no handler": (await _token(db, curator), "", 400),
    }
    async with client(guarded) as c:
        for who, (token, handler, status) in refused.items():
            c.cookies.set(SESSION_COOKIE, token)
            answer = await c.post(
                "/_upload", content=body(10 * MB), headers={"Reflex-Event-Handler": handler}
            )
            assert answer.status_code == status, who
            assert guarded.read == 0, who
        # A curator with a streaming handler passes the guard (here the REST API behind it
        # has no upload route: 404; in the app, Reflex's upload route takes it from here).
        c.cookies.set(SESSION_COOKIE, await _token(db, curator))
        answer = await c.post(
            "/_upload", content=b"small", headers={"Reflex-Event-Handler": upload}
        )
        assert answer.status_code == 404


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    monkeypatch: pytest.MonkeyPatch, clean: None
) -> None:
    monkeypatch.setattr(get_settings(), "max_request_bytes", 10 * MB)
    guarded = Metered(composition.guard(create_api()))
    async with client(guarded) as c:
        answer = await c.post(
            "/_upload",
            content=b"x",
            headers={"Content-Length": str(10 * MB + 1), "Reflex-Event-Handler": "x"},
        )
        assert answer.status_code == 413
        assert "larger than the limit of 10.0 MB" in answer.json()["detail"]
        assert answer.headers["content-type"] == "application/problem+json"
        assert (
            answer.json()["title"] == "Request Entity Too Large" and answer.json()["status"] == 413
        )
        small_cap = get_settings().max_other_request_bytes
        answer = await c.post(
            "/api/v1/health", content=b"x", headers={"Content-Length": str(small_cap + 1)}
        )
        assert answer.status_code == 413
    assert guarded.read == 0


async def test_a_chunked_body_is_cut_off_at_the_cap() -> None:
    seen: list[int] = []

    async def echo(request: Request) -> JSONResponse:
        data = b""
        async for chunk in request.stream():
            data += chunk
        seen.append(len(data))
        return JSONResponse({"bytes": len(data)})

    inner = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    metered = Metered(
        RequestGuard(
            inner,
            upload_path="/_upload",
            upload_cap=8 * MB,
            other_cap=1 * MB,
            is_upload_handler=lambda name: False,
        )
    )
    async with client(metered) as c:
        answer = await c.post("/echo", content=body(50 * MB))
        assert answer.status_code == 413
        assert answer.json()["detail"].startswith("The request is larger than the limit")
        assert metered.read <= 1 * MB + 64 * 1024  # the cap, and the chunk that passed it
        assert seen == []  # the app never saw the body whole
        fine = await c.post("/echo", content=body(MB // 2))
        assert fine.json() == {"bytes": MB // 2}
