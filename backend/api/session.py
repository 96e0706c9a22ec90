"""The session cookie, set and cleared only by the server (HttpOnly: no script reads it).

Login happens over the websocket, which cannot set an HttpOnly cookie. So the login
handler stores the new session under a single-use ticket (backend.auth.tickets) and sends
the browser here by a full navigation: a POST form of the page's own origin. This route
redeems the ticket, sets the cookies and redirects (303) to a local page, whose load opens
a new websocket whose handshake carries the cookie.

Cookies are SameSite=Strict: they authenticate the websocket and the REST API, and the
pages themselves are static, so no top-level navigation from another site needs them; a
link from elsewhere opens the page, whose own requests (same-site) carry the cookie.
Requests from another site are refused, so nobody can log a victim into an attacker's
account by a form of their own (login CSRF), nor log them out.
"""

from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from backend.api.deps import DbSession
from backend.auth import devices, tickets
from backend.auth import service as auth
from backend.auth.tokens import DEVICE_COOKIE, SESSION_COOKIE
from backend.redis_client import get_redis
from backend.settings import get_settings

START = "/api/v1/session"
END = "/api/v1/session/end"
router = APIRouter(prefix=START, tags=["session"])
MAX_FORM_BYTES = 4096


def safe_next(target: str) -> str:
    """A local path to go to after login or logout; anything else becomes "/"."""
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x21 or c == "\x7f" for c in target)
        or urlsplit(target).netloc
    ):
        return "/"
    return target


def same_origin(request: Request) -> bool:
    """Whether the browser says this request comes from a page of this site's own origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    # Browsers without Fetch Metadata still send Origin with every POST.
    origin = request.headers.get("origin", "")
    return bool(origin) and urlsplit(origin).netloc == request.headers.get("host", "")


async def _form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {key: values[0] for key, values in fields.items()}


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=get_settings().public_url.startswith("https://"),
        samesite="strict",
    )


def _refused() -> Response:
    return PlainTextResponse(
        "Refused: this request did not come from a page of the library.", status_code=403
    )


PAGES_ONLY: dict[int | str, dict[str, Any]] = {
    303: {"description": "Done: on to the page named by `next` (or the login page)"},
    403: {
        "description": "The request did not come from a page of the library",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
}


@router.post("", responses=PAGES_ONLY)
async def start_session(request: Request) -> Response:
    """Redeem a login ticket: set the session and device cookies, then go to `next`."""
    if not same_origin(request):
        return _refused()
    form = await _form(request)
    redis = get_redis()
    redeemed = await tickets.redeem(redis, form.get("ticket", ""))
    if redeemed is None:
        response = RedirectResponse("/login", status_code=303)
    else:
        response = RedirectResponse(safe_next(form.get("next", "/")), status_code=303)
        hours = get_settings().session_absolute_hours
        _set_cookie(response, SESSION_COOKIE, redeemed.token, hours * 3600)
        device = await devices.after_login(
            redis, request.cookies.get(DEVICE_COOKIE, ""), redeemed.user_id
        )
        _set_cookie(response, DEVICE_COOKIE, device, devices.DEVICE_DAYS * 86400)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/end", responses=PAGES_ONLY)
async def end_session(request: Request, session: DbSession) -> Response:
    """Log out: end the cookie's session (if the page has not already) and clear it."""
    if not same_origin(request):
        return _refused()
    form = await _form(request)
    await auth.logout(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    await session.commit()
    response = RedirectResponse(safe_next(form.get("next", "/")), status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        secure=get_settings().public_url.startswith("https://"),
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return response
