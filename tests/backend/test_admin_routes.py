"""Every admin route of the REST API, read from the app itself (a route added tomorrow is
in this test without anyone adding it), asked by visitors, patrons and librarians with
every method it takes: each answers exactly as for a thing that does not exist."""

import re

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.routes import create_api
from backend.auth import service as auth
from backend.redis_client import get_redis
from backend.users.models import Role, User
from tests.backend.test_route_matrix import NOT_FOUND, _walk
from tests.factories import PASSWORD, make_user

ADMIN = "/api/v1/admin"
# Routes librarians may use too (their collections' figures); every other is admins' only.
STAFF_ROUTES = {
    f"{ADMIN}/analytics/{{panel}}.csv",
    f"{ADMIN}/analytics",
    f"{ADMIN}/analytics/{{panel}}",
}
SAMPLE = {"panel": "documents"}


async def _token(db: AsyncSession, user: User) -> str:
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    return login.token


async def test_no_admin_route_answers_anyone_but_admins(db: AsyncSession) -> None:
    routes = [r for r in _walk(create_api().routes) if r.path.startswith(ADMIN)]
    assert routes, "no admin route found: the walk is broken"
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    admin = await make_user(db, Role.ADMIN)
    tokens = {
        "anonymous": "",
        "patron": await _token(db, patron),
        "librarian": await _token(db, librarian),
        "admin": await _token(db, admin),
    }
    transport = httpx.ASGITransport(app=create_api(), raise_app_exceptions=False)
    problems = []
    async with httpx.AsyncClient(transport=transport, base_url="http://library.test") as client:
        for route in routes:
            path = re.sub(r"{(\w+)}", lambda m: SAMPLE.get(m.group(1), "1"), route.path)
            for who, token in tokens.items():
                if who == "admin" or who == "librarian" and route.path in STAFF_ROUTES:
                    continue
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                    got = await client.request(method, path, headers=headers)
                    if (got.status_code, got.json()) != (404, NOT_FOUND):
                        problems.append(f"{method} {path} as {who}: {got.status_code} {got.text}")
        # The control: the admin is answered.
        got = await client.get(
            f"{ADMIN}/analytics/documents.csv",
            headers={"Authorization": f"Bearer {tokens['admin']}"},
        )
        assert got.status_code == 200, got.text
    assert not problems, "\n".join(problems)
