"""A guard in front of the whole web app (pages' websocket, uploads, REST API).

- Every request body is capped: a declared Content-Length over the cap is answered 413
  before a byte is read, and a body sent without one (chunked) is counted as it streams
  and cut off at the cap. Uploads (`POST /_upload`) have a cap sized for several files;
  the REST API's uploads (`API_UPLOAD`: one file as the body) one file's; every other
  request a small one.
- An upload is refused before its body is read unless its session cookie belongs to an
  active user who may curate at least one collection (401 / 403), and unless it names a
  handler that streams its chunks (`is_upload_handler`, 400): a buffered handler would
  have the whole body read and spooled before it could ask who sends it. Whether this
  person may curate the particular collection or document is asked by the handler, before
  it takes the first chunk.

Framework-free: plain ASGI (and Starlette's helpers); the app passes what only it knows.
"""

import json
import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from sqlalchemy import select
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.access import scope as access
from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.db import session_scope
from backend.storage.service import human_size

log = logging.getLogger(__name__)

Refusal = tuple[int, str]
# The REST API's routes whose body is a file (backend.api.uploads): one file's cap, and the
# upload rate budget (backend.web.gateway). Who may send it is asked by the route itself,
# before it reads the body.
API_UPLOAD = re.compile(r"^/api/v1/(collections/[0-9]+/documents|documents/[0-9]+/versions)/?$")


def is_api_upload(method: str, path: str) -> bool:
    return method == "POST" and API_UPLOAD.match(path) is not None


UploaderCheck = Callable[[str], Awaitable[Refusal | None]]


async def refuse_non_curators(token: str) -> Refusal | None:
    """Why the holder of this session token may not upload at all, or None if they may:
    they must be an active user who curates at least one collection."""
    async with session_scope() as session:
        actor = await auth.user_for_token(session=session, token=token)
        curates = actor is not None and bool(
            await session.scalar(select(access.curated_collection_ids(actor).exists()))
        )
        await session.commit()  # the session's last-seen time, if it moved
    if actor is None:
        return 401, "Log in to upload files."
    if not curates:
        return 403, "Only the curators of a collection may upload files to it."
    return None


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        upload_path: str,
        upload_cap: int,
        other_cap: int,
        file_cap: int | None = None,
        is_upload_handler: Callable[[str], bool],
        check_uploader: UploaderCheck = refuse_non_curators,
    ) -> None:
        self.app = app
        self.upload_path = upload_path.rstrip("/")
        self.upload_cap, self.other_cap = upload_cap, other_cap
        self.file_cap = file_cap if file_cap is not None else upload_cap
        self.is_upload_handler = is_upload_handler
        self.check_uploader = check_uploader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        upload = scope["method"] == "POST" and scope["path"].rstrip("/") == self.upload_path
        cap = self.upload_cap if upload else self.other_cap
        if is_api_upload(scope["method"], scope["path"]):
            cap = self.file_cap
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await answer(send, 400, "The Content-Length header is not a number.")
                return
            if int(declared) > cap:
                await answer(send, 413, _too_large(cap))
                return
        if upload:
            refusal = await self._refuse_upload(headers)
            if refusal is not None:
                await answer(send, *refusal)
                return
        await self._capped(scope, receive, send, cap)

    async def _refuse_upload(self, headers: Headers) -> Refusal | None:
        handler = headers.get("reflex-event-handler", "")
        if not handler or not self.is_upload_handler(handler):
            return 400, "Uploads go only to the drop zones' streaming handlers."
        token = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE, "")
        try:
            return await self.check_uploader(token)
        except Exception:
            log.exception("could not check who sends an upload")
            return 503, "The library cannot check who you are just now; try again shortly."

    async def _capped(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        """Pass the request on, counting its body; past the cap the app is told the client
        went away, and the client gets a 413 (if the app has not begun to answer)."""
        received = 0
        cut = started = False

        async def counting_receive() -> Message:
            nonlocal received, cut
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    cut = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut and not started:
                return  # the app's answer to a body it never got whole: ours goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not cut:
                raise
        if cut and not started:
            await answer(send, 413, _too_large(cap))


def _too_large(cap: int) -> str:
    return f"The request is larger than the limit of {human_size(cap)}."


async def answer(send: Send, status: int, detail: str) -> None:
    """The guard's refusal; the connection is closed, since the body was not read."""
    await send_problem(send, status, detail, (b"connection", b"close"))


async def send_problem(send: Send, status: int, detail: str, *headers: tuple[bytes, bytes]) -> None:
    """An answer sent from outside the app: a problem document (RFC 9457, as the API's
    other errors), with `headers` besides its type and length."""
    problem = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    body = json.dumps({**problem, "detail": detail}).encode()
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
