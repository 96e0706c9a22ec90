"""Collections and documents through the REST API, as an integrator uses them: with an
access token from /auth/token or a personal token with scopes, cursor-paged lists, the
same permission rules as the pages (a refusal is the same 404 as a missing thing)."""

from typing import Any

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import personal_tokens
from backend.auth import service as auth
from backend.redis_client import get_redis
from backend.users.models import Role, User
from tests.factories import PASSWORD, make_collection, make_user, upload_bytes
from tests.worker import run_burst


async def _bearer(db: AsyncSession, user: User) -> dict[str, str]:
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    return {"Authorization": f"Bearer {login.token}"}


async def _personal(db: AsyncSession, user: User, *scopes: str) -> dict[str, str]:
    made = await personal_tokens.create(session=db, actor=user, name="script", scopes=scopes)
    await db.commit()
    return {"Authorization": f"Bearer {made.secret}"}


async def _pages(
    api: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int, cursor: str = ""
) -> list[Any]:
    """Every item of a cursor-paged list, from `cursor` on, `limit` a page."""
    seen: list[Any] = []
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        got = await api.get(url, params=params, headers=headers)
        assert got.status_code == 200, got.text
        body = got.json()
        assert len(body["items"]) <= limit
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return seen
        assert pages < 100


async def test_collections_made_changed_listed_and_deleted(
    api: httpx.AsyncClient, db: AsyncSession
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    staff, reader = await _bearer(db, librarian), await _bearer(db, patron)

    refused = await api.post("/api/v1/collections", json={"name": "Mine"}, headers=reader)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"

    made = await api.post(
        "/api/v1/collections",
        json={"name": "Sea and shore", "description": "Coasts", "is_public": False},
        headers=staff,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert made.headers["location"] == f"/api/v1/collections/{body['id']}"
    assert (body["slug"], body["is_public"], body["statistics"]["documents"]) == (
        "sea-and-shore",
        False,
        0,
    )
    url = made.headers["location"]
    # Private: nobody else sees it, and their answer is a missing thing's.
    missing = await api.get("/api/v1/collections/2000000000", headers=reader)
    hidden = await api.get(url, headers=reader)
    assert hidden.status_code == missing.status_code == 404 and hidden.text == missing.text
    assert (await api.get(url)).status_code == 404

    changed = await api.patch(url, json={"is_public": True}, headers=staff)
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["is_public"]) == ("Sea and shore", True)
    assert (await api.get(url)).json()["description"] == "Coasts"
    assert (await api.patch(url, json={"name": "x"}, headers=reader)).status_code == 404
    assert (await api.patch(url, json={"name": ""}, headers=staff)).status_code == 400

    members = await api.put(
        f"{url}/members", json={"email": patron.email, "role": "viewer"}, headers=staff
    )
    assert members.status_code == 200
    assert {(m["email"], m["role"]) for m in members.json()} == {
        (librarian.email, "curator"),
        (patron.email, "viewer"),
    }
    assert (await api.get(f"{url}/members", headers=reader)).status_code == 404
    gone = await api.delete(f"{url}/members/{patron.id}", headers=staff)
    assert gone.status_code == 204
    assert len((await api.get(f"{url}/members", headers=staff)).json()) == 1

    assert (await api.delete(url, headers=reader)).status_code == 404
    assert (await api.delete(url, headers=staff)).status_code == 204
    assert (await api.get(url, headers=staff)).status_code == 404


async def test_collection_list_pages_by_cursor(api: httpx.AsyncClient, db: AsyncSession) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    names = ["delta", "Alpha", "charlie", "Bravo", "echo", "alpha"]
    for name in names:
        await make_collection(db, librarian, name)
    await make_collection(db, librarian, "hidden", is_public=False)
    await db.commit()
    seen = await _pages(api, "/api/v1/collections", {}, limit=2)
    assert [c["name"] for c in seen] == sorted(names, key=str.casefold)
    assert len({c["id"] for c in seen}) == len(names)
    staff = await _bearer(db, librarian)
    assert "hidden" in [c["name"] for c in await _pages(api, "/api/v1/collections", staff, 50)]
    for junk in ("abc", "W10", "WyJ4Il0", "eyJhIjoxfQ", "x" * 500):
        bad = await api.get("/api/v1/collections", params={"cursor": junk})
        assert bad.status_code == 400, junk
        assert bad.headers["content-type"] == "application/problem+json"


async def test_a_collections_documents_page_by_cursor_newest_first(
    api: httpx.AsyncClient, db: AsyncSession
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Shelf")
    made = []
    for n in range(7):
        document, _ = await upload_bytes(db, librarian, shelf, f"Text {n}\n".encode(), f"t{n}.txt")
        made.append(document.id)
    await db.commit()
    staff = await _bearer(db, librarian)
    url = f"/api/v1/collections/{shelf.id}/documents"
    # Curators see documents still processing; nobody else does.
    first = await api.get(url, params={"limit": 3}, headers=staff)
    body = first.json()
    assert [d["id"] for d in body["items"]] == made[::-1][:3]
    assert body["items"][0]["status"] == "pending"
    assert (await api.get(url)).json()["items"] == []
    # A document added meanwhile does not shift what follows the cursor.
    extra, _ = await upload_bytes(db, librarian, shelf, b"Late\n", "late.txt")
    await db.commit()
    rest = await _pages(api, url, staff, limit=3, cursor=body["next_cursor"])
    assert [d["id"] for d in rest] == made[::-1][3:]
    everything = await _pages(api, url, staff, limit=2)
    assert [d["id"] for d in everything] == [extra.id, *made[::-1]]
    await run_burst()
    public = await _pages(api, url, {}, limit=5)
    assert {d["status"] for d in public} == {"ready"} and len(public) == 8


async def test_a_document_its_record_and_its_pages(
    api: httpx.AsyncClient, db: AsyncSession
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    shelf = await make_collection(db, librarian, "Shelf")
    document, version = await upload_bytes(
        db, librarian, shelf, b"The lighthouse keeper's log.\n", "log.txt"
    )
    await db.commit()
    await run_burst()
    staff, reader = await _bearer(db, librarian), await _bearer(db, patron)
    url = f"/api/v1/documents/{document.id}"

    seen = (await api.get(url, headers=reader)).json()
    assert seen["current_version_id"] == version.id
    assert seen["versions"][0]["status"] is None  # processing details: curators only
    assert (await api.get(url, headers=staff)).json()["versions"][0]["status"] == "ready"
    text = await api.get(f"{url}/pages/1/text")
    assert text.json()["text"].startswith("The lighthouse keeper")
    assert (await api.get(f"{url}/pages/2/text")).status_code == 404

    assert (await api.get(f"{url}/metadata", headers=reader)).status_code == 404
    changed = await api.patch(
        f"{url}/metadata",
        json={"title": "A keeper's log", "creators": ["Le Goff, Yann"], "date_issued": "1911"},
        headers=staff,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["creators"] == ["Le Goff, Yann"]
    record = (await api.get(f"{url}/record")).json()["dublin_core"]
    assert record["title"] == ["A keeper's log"] and record["date"] == ["1911"]
    wrong = await api.patch(f"{url}/metadata", json={"date_issued": "1911-13"}, headers=staff)
    assert wrong.status_code == 422
    assert wrong.json()["errors"] == {
        "date_issued": "Write the date as YYYY, YYYY-MM or YYYY-MM-DD."
    }
    for impossible in ("2020-02-30", "2023-02-29", "1911-04-31"):
        wrong = await api.patch(f"{url}/metadata", json={"date_issued": impossible}, headers=staff)
        assert wrong.status_code == 422
        assert wrong.json()["errors"] == {
            "date_issued": f"There is no {impossible}: that month has fewer days."
        }
    leap = await api.patch(f"{url}/metadata", json={"date_issued": "2024-02-29"}, headers=staff)
    assert leap.status_code == 200
    assert (
        await api.patch(f"{url}/metadata", json={"title": "x"}, headers=reader)
    ).status_code == 404

    assert (await api.delete(url, headers=reader)).status_code == 404
    assert (await api.delete(url, headers=staff)).status_code == 204
    assert (await api.get(url, headers=staff)).status_code == 404


# --- personal tokens ------------------------------------------------------------------


async def test_a_personal_tokens_scopes_bound_what_it_may_do(
    api: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await make_user(db, Role.ADMIN)
    reading = await _personal(db, admin, "read")
    writing = await _personal(db, admin, "write")
    both = await _personal(db, admin, "read", "write")
    everything = await _personal(db, admin, "read", "write", "admin")

    assert (await api.get("/api/v1/collections", headers=reading)).status_code == 200
    refused = await api.post("/api/v1/collections", json={"name": "X"}, headers=reading)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "This token may not do that: it needs the write scope, and has read."
    )
    assert (await api.get("/api/v1/collections", headers=writing)).status_code == 403
    assert (
        await api.post("/api/v1/collections", json={"name": "X"}, headers=writing)
    ).status_code == 201
    # The figures are read with the read scope; the accounts need the admin scope.
    report = "/api/v1/admin/analytics/documents.csv"
    assert (await api.get(report, headers=reading)).status_code == 200
    assert (await api.get(report, headers=writing)).status_code == 403
    assert (await api.get("/api/v1/admin/users", headers=both)).status_code == 403
    assert (await api.get("/api/v1/admin/users", headers=everything)).status_code == 200


async def test_only_admins_tokens_get_the_admin_scope(db: AsyncSession) -> None:
    from backend.errors import InvalidInput, PermissionDenied

    librarian = await make_user(db, Role.LIBRARIAN)
    with pytest.raises(PermissionDenied):
        await personal_tokens.create(session=db, actor=librarian, name="x", scopes=["admin"])
    with pytest.raises(InvalidInput, match="Unknown scope"):
        await personal_tokens.create(session=db, actor=librarian, name="x", scopes=["root"])
    with pytest.raises(InvalidInput, match="at least one scope"):
        await personal_tokens.create(session=db, actor=librarian, name="x", scopes=[])
    with pytest.raises(InvalidInput, match="30, 90 or 365"):
        await personal_tokens.create(session=db, actor=librarian, name="x", scopes=["read"], days=7)


async def test_a_personal_token_ends_when_revoked_expired_or_its_owner_is_stopped(
    api: httpx.AsyncClient, db: AsyncSession
) -> None:
    from backend.auth.models import PersonalToken
    from backend.clock import utcnow

    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Private", is_public=False)
    await db.commit()
    url = f"/api/v1/collections/{shelf.id}"

    async def works(headers: dict[str, str]) -> bool:
        return (await api.get(url, headers=headers)).status_code == 200

    token = await _personal(db, librarian, "read")
    assert await works(token)
    row = (await personal_tokens.active(session=db, actor=librarian))[0]
    assert row.last_used_at is not None  # shown on the account page
    await personal_tokens.revoke(session=db, actor=librarian, token_id=row.id)  # type: ignore[arg-type]
    await db.commit()
    assert not await works(token)

    expiring = await _personal(db, librarian, "read")
    row = (await personal_tokens.active(session=db, actor=librarian))[0]
    row.expires_at = utcnow()
    db.add(row)
    await db.commit()
    assert not await works(expiring)

    kept = await _personal(db, librarian, "read")
    librarian.is_active = False
    db.add(librarian)
    await db.commit()
    assert not await works(kept)
    librarian.is_active = True
    db.add(librarian)
    await db.commit()
    assert await works(kept)
    # Ending every session (a password change or reset, an admin) ends the tokens too.
    await auth.revoke_all_sessions(session=db, user_id=librarian.id)  # type: ignore[arg-type]
    await db.commit()
    assert not await works(kept)
    assert await db.get(PersonalToken, row.id) is not None  # kept, as revoked: for the record


async def test_a_personal_token_opens_no_page(db: AsyncSession) -> None:
    """Pages and their uploads take login sessions only: a token is for the API."""
    librarian = await make_user(db, Role.LIBRARIAN)
    made = await personal_tokens.create(
        session=db, actor=librarian, name="x", scopes=["read", "write"]
    )
    await db.commit()
    assert await auth.user_for_token(session=db, token=made.secret) is None
    found = await auth.identify(session=db, token=made.secret)
    assert found is not None and found.user.id == librarian.id
