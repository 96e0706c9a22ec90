"""Admins' API: analytics panels as JSON, accounts listed by cursor and changed, with the
same rules as the admin pages (changes need an admin with a second factor)."""

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import personal_tokens
from backend.auth import service as auth
from backend.redis_client import get_redis
from backend.users.models import Role, User
from tests.factories import PASSWORD, enable_second_factor, make_user


async def _bearer(db: AsyncSession, user: User) -> dict[str, str]:
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    return {"Authorization": f"Bearer {login.token}"}


async def test_accounts_listed_by_cursor_and_changed(
    api: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await make_user(db, Role.ADMIN, email="aa-admin@example.org")
    people = [await make_user(db, email=f"reader{n}@example.org") for n in range(5)]
    librarian = await make_user(db, Role.LIBRARIAN, email="shelver@example.org")
    await db.commit()
    staff = await _bearer(db, admin)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/admin/users", params=params, headers=staff)).json()
        seen += [a["email"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen) and len(seen) == 7
    readers = await api.get("/api/v1/admin/users", params={"q": "reader"}, headers=staff)
    assert [a["email"] for a in readers.json()["items"]] == [p.email for p in people]
    assert (
        await api.get("/api/v1/admin/users", headers=await _bearer(db, librarian))
    ).status_code == 404  # as every admin route answers anyone else

    url = f"/api/v1/admin/users/{people[0].id}"
    refused = await api.patch(url, json={"role": "librarian"}, headers=staff)
    assert refused.status_code == 403 and "two-factor" in refused.json()["detail"]
    await enable_second_factor(db, admin)
    await db.commit()
    promoted = await api.patch(url, json={"role": "librarian"}, headers=staff)
    assert promoted.status_code == 200 and promoted.json()["role"] == "librarian"
    reader_token = await _bearer(db, people[1])
    assert (await api.get("/api/v1/collections", headers=reader_token)).status_code == 200
    disabled = await api.patch(
        f"/api/v1/admin/users/{people[1].id}", json={"active": False}, headers=staff
    )
    assert disabled.json()["active"] is False
    # Ended at once: the token is nobody now.
    mine = await api.post("/api/v1/collections", json={"name": "x"}, headers=reader_token)
    assert mine.status_code == 401
    assert (
        await api.patch("/api/v1/admin/users/2000000000", json={"active": True}, headers=staff)
    ).status_code == 404


async def test_analytics_panels_as_json(api: httpx.AsyncClient, db: AsyncSession) -> None:
    admin = await make_user(db, Role.ADMIN)
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    await db.commit()
    staff = await _bearer(db, admin)
    listed = (await api.get("/api/v1/admin/analytics", headers=staff)).json()["panels"]
    assert "searches" in listed and "users" in listed
    searches = await api.get("/api/v1/admin/analytics/searches", params={"days": 7}, headers=staff)
    assert searches.status_code == 200 and isinstance(searches.json(), dict)
    theirs = (await api.get("/api/v1/admin/analytics", headers=await _bearer(db, librarian))).json()
    assert "users" not in theirs["panels"]
    assert (
        await api.get("/api/v1/admin/analytics", headers=await _bearer(db, patron))
    ).status_code == 404
    assert (await api.get("/api/v1/admin/analytics/nothing", headers=staff)).status_code == 404
    # A personal token with the read scope reads them (a librarian cannot hold the admin
    # scope, and reads their own collections' figures); accounts need the admin scope.
    for who in (admin, librarian):
        made = await personal_tokens.create(session=db, actor=who, name="x", scopes=["read"])
        await db.commit()
        read_only = {"Authorization": f"Bearer {made.secret}"}
        panels = await api.get("/api/v1/admin/analytics", headers=read_only)
        assert panels.status_code == 200 and ("users" in panels.json()["panels"]) == (who is admin)
    for who in (admin, librarian):
        made = await personal_tokens.create(session=db, actor=who, name="y", scopes=["read"])
        await db.commit()
        read_only = {"Authorization": f"Bearer {made.secret}"}
        accounts = await api.get("/api/v1/admin/users", headers=read_only)
        assert accounts.status_code == 403 and "needs the admin scope" in accounts.text
