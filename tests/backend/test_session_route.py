"""The session route: it redeems a login ticket once, sets HttpOnly cookies, sends the
browser to a local page only, and refuses requests that come from another site."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.routes import create_api
from backend.api.session import END, START, safe_next
from backend.auth import devices, tickets
from backend.auth import service as auth
from backend.auth.tokens import DEVICE_COOKIE, SESSION_COOKIE
from backend.redis_client import get_redis
from tests.factories import PASSWORD, make_user

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
async def client(clean: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as c:
        yield c


async def _ticket(db: AsyncSession) -> tuple[str, str, int]:
    user = await make_user(db)
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    assert user.id is not None
    return (
        await tickets.issue(get_redis(), token=login.token, user_id=user.id),
        login.token,
        user.id,
    )


async def test_a_ticket_sets_httponly_cookies_once(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    ticket, token, user_id = await _ticket(db)
    response = await client.post(
        START, data={"ticket": ticket, "next": "/collections?x=1"}, headers=SAME_ORIGIN
    )
    assert response.status_code == 303 and response.headers["location"] == "/collections?x=1"
    cookies = {c.split("=")[0]: c for c in response.headers.get_list("set-cookie")}
    session_cookie = cookies[SESSION_COOKIE]
    assert f"{SESSION_COOKIE}={token};" in session_cookie
    for attribute in ("HttpOnly", "Path=/", "SameSite=strict", "Max-Age="):
        assert attribute in session_cookie and attribute in cookies[DEVICE_COOKIE]
    # http:// in tests: Secure is set only when PUBLIC_URL is https.
    assert "Secure" not in session_cookie
    device = cookies[DEVICE_COOKIE].split(";")[0].split("=", 1)[1].strip('"')
    assert devices.device_for(device, user_id) is not None
    # The API now knows the browser by its cookie.
    client.cookies.set(SESSION_COOKIE, token)
    again = await client.post(START, data={"ticket": ticket}, headers=SAME_ORIGIN)
    assert again.status_code == 303 and again.headers["location"] == "/login"
    assert "set-cookie" not in again.headers


async def test_the_secure_flag_follows_an_https_public_url(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.settings import get_settings

    monkeypatch.setattr(get_settings(), "public_url", "https://library.example.org")
    ticket, _, _ = await _ticket(db)
    response = await client.post(START, data={"ticket": ticket}, headers=SAME_ORIGIN)
    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {},
    ],
)
async def test_requests_from_another_site_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, headers: dict[str, str]
) -> None:
    ticket, _, _ = await _ticket(db)
    response = await client.post(START, data={"ticket": ticket}, headers=headers)
    assert response.status_code == 403 and "set-cookie" not in response.headers
    # The refused ticket was not spent: it is not the victim's to spend.
    assert await tickets.redeem(get_redis(), ticket) is not None
    assert (await client.post(END, headers=headers)).status_code == 403


async def test_an_old_browser_without_fetch_metadata_is_judged_by_its_origin(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    ticket, _, _ = await _ticket(db)
    response = await client.post(
        START, data={"ticket": ticket}, headers={"Origin": "http://library.test"}
    )
    assert response.status_code == 303 and SESSION_COOKIE in response.headers["set-cookie"]


async def test_logging_out_ends_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, token, _ = await _ticket(db)
    client.cookies.set(SESSION_COOKIE, token)
    response = await client.post(END, data={"next": "//evil.example/"}, headers=SAME_ORIGIN)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cleared = response.headers["set-cookie"]
    assert cleared.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" in cleared
    assert await auth.user_for_token(session=db, token=token) is None


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/documents/3?q=a", "/documents/3?q=a"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\t/evil.example", "/"),
        ("", "/"),
    ],
)
def test_only_local_pages_are_next(target: str, safe: str) -> None:
    assert safe_next(target) == safe
