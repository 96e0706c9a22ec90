"""The gateway: the outermost layer of the web process, in front of pages, the websocket,
uploads and the REST API alike (installed once in app/app.py, so every route, present
and future, passes through it).

For every HTTP request and websocket connection:
- a request id: the client's `X-Request-ID` when it is a short token of safe characters,
  otherwise a new one; returned in the `X-Request-ID` header and bound to every log line
  written while the request runs, and to the worker's lines of the jobs it queued
  (backend.queue keeps it beside the job for a day);
- rate limits (backend.ratelimits): requests per client address and per session or
  API token, uploads per address; a refusal is a 429 problem document (RFC 9457) with
  `Retry-After` and `RateLimit-*` headers, and the request goes no further;
- security headers on every answer: the Content-Security-Policy below, `nosniff`, a
  referrer policy, no framing, and HSTS when the public address is https;
- one access log line when the answer is sent: method, path, status, duration, address,
  user (when the request said who it was), request id.

Framework-free: plain ASGI, like backend.web.guard.
"""

import os
import re
import time
from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend import metrics, ratelimits
from backend.auth.tokens import SESSION_COOKIE
from backend.db import set_reader
from backend.settings import Settings
from backend.web.guard import is_api_upload, send_problem

access_log = structlog.get_logger("library.access")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

# As strict as a Reflex page allows. Reflex's compiled pages hydrate through inline
# scripts and its components set inline styles (Emotion, Radix), so scripts and styles
# allow 'unsafe-inline'; and Reflex runs the scripts a handler sends (`rx.call_script`:
# history updates, post navigations, downloads) with `eval` in its state.js, so scripts
# also allow 'unsafe-eval'. Everything else comes from the library itself: the websocket
# and the API ('self' covers ws:/wss: to the same host), images (and data:/blob:
# previews), fonts. No plugin, no other origin, no framing, forms post only here.
PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The interactive API documentation (FastAPI's Swagger UI) loads its script and styles
# from a public CDN; only that page may.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {DOCS_CDN}",
        f"style-src 'self' 'unsafe-inline' {DOCS_CDN}",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)
DOCS_PATH = "/api/v1/docs"
# Probes of the orchestrator: never limited.
UNLIMITED = ("/api/v1/health",)
# Searches over the API: their address's search budget is spent here with the others, in
# the same script (one Redis round trip less), and named in `state["budgets_spent"]`, so
# the route spends none of its own (backend.api.search.spend_search_budget). A search
# route not listed here spends its budget itself.
SEARCH_PATHS = frozenset({"/api/v1/search", "/api/v1/complete"})
# What a refusal by each budget says there were too many of.
TOO_MANY = {"search": "searches", "upload": "uploads"}


def request_id(headers: Headers) -> str:
    given = headers.get(REQUEST_ID_HEADER, "")
    return given if _SAFE_ID.match(given) else os.urandom(16).hex()


def client_address(scope: Scope, headers: Headers, proxy_hops: int) -> str:
    """The visitor's address: the connecting one, or, behind `proxy_hops` trusted proxies,
    the one the nearest of them saw (X-Forwarded-For is appended to at each hop)."""
    if proxy_hops:
        forwarded = [p.strip() for p in headers.get("x-forwarded-for", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= proxy_hops:
            return forwarded[-proxy_hops]
    client = scope.get("client")
    return str(client[0]) if client else ""


def identity(headers: Headers) -> str:
    """The session or API token the request carries, if any (not checked here: a budget
    per credential, so one account's scripts cannot spend the others' share)."""
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE, "")


class Gateway:
    def __init__(self, app: ASGIApp, *, settings: Settings, upload_path: str) -> None:
        self.app = app
        self.upload_path = upload_path.rstrip("/")
        self.proxy_hops = settings.trusted_proxy_hops
        self.hsts = settings.public_url.startswith("https://")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = request_id(headers)
        address = client_address(scope, headers, self.proxy_hops)
        scope.setdefault("state", {})
        scope["state"].update(request_id=rid, client_address=address)
        token = identity(headers)
        # Whose own changes this request must read back (backend.db.read_scope).
        set_reader(token)
        with structlog.contextvars.bound_contextvars(request_id=rid):
            if scope["type"] == "websocket":
                # Counted as one request at connection; its events are counted one by one
                # by the event guard (state.guard).
                metrics.WS_CONNECTIONS.inc()
                if not (await self._spend(scope, token, address)).allowed:
                    await send({"type": "websocket.close", "code": 1013})
                    return
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, token, rid, address)

    async def _spend(self, scope: Scope, token: str, address: str) -> ratelimits.Decision:
        path = scope["path"]
        if path.startswith(UNLIMITED):
            return ratelimits.ALLOWED
        spent = [("address", address)]
        if token:
            spent.append(("identity", ratelimits.subject_of(token)))
        method = scope.get("method", "")
        if (method == "POST" and path.rstrip("/") == self.upload_path) or is_api_upload(
            method, path
        ):
            spent.append(("upload", address))
        if method == "GET" and path in SEARCH_PATHS:
            spent.append(("search", address))
        decision = await ratelimits.spend_all(spent)
        scope["state"]["budgets_spent"] = frozenset(name for name, _ in spent)
        return decision

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, token: str, rid: str, address: str
    ) -> None:
        started = time.perf_counter()
        status = 0
        decision = await self._spend(scope, token, address)
        policy = DOCS_POLICY if scope["path"] == DOCS_PATH else PAGE_POLICY

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = self._headers(message.get("headers", []), rid, policy)
                message["headers"] += [
                    (k.lower().encode(), v.encode()) for k, v in decision.headers
                ]
            await send(message)

        try:
            if decision.allowed:
                await self.app(scope, receive, send_with_headers)
            else:
                await _too_many(send_with_headers, decision)
        finally:
            took = time.perf_counter() - started
            route = metrics.route_of(scope)
            metrics.HTTP_REQUESTS.labels(route, scope["method"], str(status or 500)).inc()
            metrics.HTTP_SECONDS.labels(route).observe(took)
            user = scope["state"].get("user_id")
            access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status or 500,
                duration_ms=round(1000 * took, 1),
                client=address,
                user_id=user,
                request_id=rid,
            )

    def _headers(self, raw: Any, rid: str, policy: str) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in raw}
        out = list(raw)

        def add(name: bytes, value: str) -> None:
            if name not in present:
                out.append((name, value.encode()))

        add(b"x-request-id", rid)
        add(b"content-security-policy", policy)
        add(b"x-content-type-options", "nosniff")
        add(b"referrer-policy", "strict-origin-when-cross-origin")
        add(b"x-frame-options", "DENY")
        add(b"cross-origin-opener-policy", "same-origin")
        if self.hsts:
            add(b"strict-transport-security", "max-age=31536000; includeSubDomains")
        return out


async def _too_many(send: Send, decision: ratelimits.Decision) -> None:
    """A 429 as an RFC 9457 problem document."""
    what = TOO_MANY.get(decision.budget, "requests")
    await send_problem(send, 429, decision.refusal(what), (b"cache-control", b"no-store"))


def wrap(app: ASGIApp, settings: Settings, upload_path: str) -> ASGIApp:
    """The gateway around the app, with CORS inside it when origins are configured."""
    if settings.cors_list:
        from starlette.middleware.cors import CORSMiddleware

        app = CORSMiddleware(
            app,
            allow_origins=settings.cors_list,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "ETag",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
            max_age=600,
        )
    return Gateway(app, settings=settings, upload_path=upload_path)
