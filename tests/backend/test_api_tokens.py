"""API tokens end to end through the app, against the real database and Redis: a JWT
access token and a refresh token for a password (and a second factor's code), what they
open, refreshing (each refresh token once), and every way they end at once."""

import time
from pathlib import Path

import httpx
import jwt
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import api_tokens
from backend.auth import service as auth
from backend.settings import get_settings
from backend.users.models import Role
from tests.factories import (
    PASSWORD,
    enable_second_factor,
    make_collection,
    make_user,
    totp_code,
    upload_bytes,
)


async def _private_record(db: AsyncSession) -> tuple[object, str]:
    librarian = await make_user(db, Role.LIBRARIAN)
    closed = await make_collection(db, librarian, "Staff only", is_public=False)
    document, _ = await upload_bytes(db, librarian, closed, b"payroll\n", "payroll.txt")
    await db.commit()
    return librarian, f"/api/v1/documents/{document.id}/record"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_password_gives_tokens_that_open_what_the_account_may_see(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    librarian, record = await _private_record(db)
    assert (await api.get(record)).status_code == 404  # nobody: not there
    wrong = await api.post(
        "/api/v1/auth/token",
        json={"email": librarian.email, "password": "nope"},  # type: ignore[attr-defined]
    )
    assert wrong.status_code == 401
    given = await api.post(
        "/api/v1/auth/token",
        json={"email": librarian.email, "password": PASSWORD},  # type: ignore[attr-defined]
    )
    assert given.status_code == 200 and given.headers["cache-control"] == "no-store"
    tokens = given.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 24 * 3600
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 24 * 3600 and claims["sub"] == str(librarian.id)  # type: ignore[attr-defined]
    assert (await api.get(record, headers=_bearer(tokens["access_token"]))).status_code == 200

    # A refresh token is good once; the new access token works like the first.
    renewed = await api.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert renewed.status_code == 200
    again = await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
    fresh = renewed.json()
    assert (await api.get(record, headers=_bearer(fresh["access_token"]))).status_code == 200

    # Logging out ends the session: both access tokens and the refresh token, at once.
    ended = await api.post("/api/v1/auth/logout", headers=_bearer(fresh["access_token"]))
    assert ended.status_code == 204
    for access in (tokens["access_token"], fresh["access_token"]):
        assert (await api.get(record, headers=_bearer(access))).status_code == 404
    gone = await api.post("/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert gone.status_code == 401


async def test_tokens_end_when_the_password_changes_or_the_account_is_disabled(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    librarian, record = await _private_record(db)
    email = librarian.email  # type: ignore[attr-defined]

    async def new_access() -> str:
        answer = await api.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        return str(answer.json()["access_token"])

    first = await new_access()
    await auth.revoke_all_sessions(session=db, user_id=librarian.id)  # type: ignore[attr-defined]
    await db.commit()  # (what a password change and an admin's "end sessions" do)
    assert (await api.get(record, headers=_bearer(first))).status_code == 404
    second = await new_access()
    assert (await api.get(record, headers=_bearer(second))).status_code == 200
    librarian.is_active = False  # type: ignore[attr-defined]
    db.add(librarian)
    await db.commit()
    assert (await api.get(record, headers=_bearer(second))).status_code == 404


async def test_forged_expired_or_foreign_tokens_open_nothing(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    librarian, record = await _private_record(db)
    answer = await api.post(
        "/api/v1/auth/token",
        json={"email": librarian.email, "password": PASSWORD},  # type: ignore[attr-defined]
    )
    good = answer.json()["access_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    now = int(time.time())
    forged = [
        jwt.encode(claims, "not our key, but long enough for HS256", algorithm="HS256"),
        jwt.encode({**claims, "iat": now - 90_000, "exp": now - 3600}, api_tokens._key()),
        jwt.encode({**claims, "aud": "someone-else"}, api_tokens._key()),
        jwt.encode(claims, None, algorithm="none"),
        good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
    ]
    for token in forged:
        assert (await api.get(record, headers=_bearer(token))).status_code == 404


async def test_an_account_with_a_second_factor_needs_its_code(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    librarian, record = await _private_record(db)
    secret = await enable_second_factor(db, librarian)  # type: ignore[arg-type]
    await db.commit()
    asked = await api.post(
        "/api/v1/auth/token",
        json={"email": librarian.email, "password": PASSWORD},  # type: ignore[attr-defined]
    )
    assert asked.status_code == 401 and asked.json()["second_factor_required"] is True
    assert "access_token" not in asked.json()
    pending = asked.json()["pending"]
    wrong = await api.post("/api/v1/auth/token", json={"pending": pending, "code": "000000"})
    assert wrong.status_code == 401
    given = await api.post(
        "/api/v1/auth/token", json={"pending": pending, "code": totp_code(secret)}
    )
    assert given.status_code == 200
    access = given.json()["access_token"]
    assert (await api.get(record, headers=_bearer(access))).status_code == 200


async def test_repeated_wrong_passwords_are_slowed_with_retry_after(
    api: httpx.AsyncClient, db: AsyncSession, data_dir: Path
) -> None:
    """Token requests are throttled as logins on the page are (a doubling wait after the
    free failures), and the 429 says when to come back."""
    librarian, _ = await _private_record(db)
    email = librarian.email  # type: ignore[attr-defined]
    free = get_settings().login_free_failures
    codes = []
    for _ in range(free + 2):
        answer = await api.post("/api/v1/auth/token", json={"email": email, "password": "no"})
        codes.append(answer.status_code)
    assert codes[:free] == [401] * free and codes[-1] == 429
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["retry-after"]) >= 1
    assert "Try again in" in answer.json()["detail"]
