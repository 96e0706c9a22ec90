from datetime import timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import service as auth
from backend.auth.models import UserSession
from backend.auth.tokens import token_hash
from backend.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    PermissionDenied,
    TooManyAttempts,
)
from backend.mail.models import OutboxMessage
from backend.redis_client import get_redis
from backend.users import service as users
from backend.users.models import Role
from tests.factories import PASSWORD, make_user


async def test_register_hashes_password_and_refuses_duplicates(db: AsyncSession) -> None:
    user = await users.register(session=db, email=" Ada@Example.ORG ", password=PASSWORD)
    assert user.email == "ada@example.org"
    assert user.role == Role.PATRON
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("$bcrypt-sha256$")
    with pytest.raises(Conflict):
        await users.register(session=db, email="ada@example.org", password=PASSWORD)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "not valid"),
        ("a@example.org", "short", "at least 8"),
        ("a@example.org", "password1", "most common"),
        ("a@example.org", "x" * 129, "at most 128"),
    ],
)
async def test_register_rejects_bad_input(
    db: AsyncSession, email: str, password: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await users.register(session=db, email=email, password=password)


async def test_long_passphrase_counts_past_72_bytes(db: AsyncSession) -> None:
    phrase = "a long passphrase that goes on " * 4
    user = await users.register(session=db, email="long@example.org", password=phrase)
    await db.commit()
    redis = get_redis()
    await auth.login(session=db, redis=redis, email=user.email, password=phrase)
    with pytest.raises(NotAuthenticated):
        await auth.login(session=db, redis=redis, email=user.email, password=phrase[:-1] + "X")


async def test_login_session_and_logout(db: AsyncSession) -> None:
    user = await make_user(db)
    await db.commit()
    result = await auth.login(
        session=db, redis=get_redis(), email=user.email, password=PASSWORD, ip="10.0.0.1"
    )
    await db.commit()
    assert len(result.token) >= 43  # 256 bits, URL-safe
    stored = (await db.exec(select(UserSession))).one()
    assert stored.token_hash == token_hash(result.token) and result.token not in stored.token_hash
    assert (await auth.user_for_token(session=db, token=result.token)).id == user.id  # type: ignore[union-attr]
    await auth.logout(session=db, token=result.token)
    await db.commit()
    assert await auth.user_for_token(session=db, token=result.token) is None


async def test_login_rotates_the_previous_session(db: AsyncSession) -> None:
    user = await make_user(db)
    first = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    second = await auth.login(
        session=db,
        redis=get_redis(),
        email=user.email,
        password=PASSWORD,
        previous_token=first.token,
    )
    assert first.token != second.token
    assert await auth.user_for_token(session=db, token=first.token) is None
    assert await auth.user_for_token(session=db, token=second.token) is not None


async def test_expired_and_idle_sessions_are_refused(db: AsyncSession) -> None:
    user = await make_user(db)
    result = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    row = (await db.exec(select(UserSession))).one()
    row.last_seen_at = row.last_seen_at - timedelta(days=30)
    db.add(row)
    await db.flush()
    assert await auth.user_for_token(session=db, token=result.token) is None


async def test_unknown_account_and_wrong_password_answer_alike(db: AsyncSession) -> None:
    user = await make_user(db)
    with pytest.raises(NotAuthenticated) as wrong:
        await auth.login(session=db, redis=get_redis(), email=user.email, password="wrong pass 1")
    with pytest.raises(NotAuthenticated) as unknown:
        await auth.login(
            session=db, redis=get_redis(), email="nobody@example.org", password="wrong pass 1"
        )
    assert str(wrong.value) == str(unknown.value) == auth.LOGIN_FAILED


async def test_repeated_failures_slow_down_the_account(db: AsyncSession) -> None:
    user = await make_user(db)
    redis = get_redis()
    for _ in range(3):
        with pytest.raises(NotAuthenticated):
            await auth.login(
                session=db, redis=redis, email=user.email, password="bad guess 1", ip="1.1.1.1"
            )
    with pytest.raises(NotAuthenticated):
        await auth.login(
            session=db, redis=redis, email=user.email, password="bad guess 1", ip="2.2.2.2"
        )
    # Now even the right password is refused until the delay has passed, from any address.
    with pytest.raises(TooManyAttempts) as exc:
        await auth.login(session=db, redis=redis, email=user.email, password=PASSWORD, ip="3.3.3.3")
    assert exc.value.retry_after >= 1


async def test_repeated_failures_slow_down_the_address(db: AsyncSession) -> None:
    redis = get_redis()
    for i in range(4):
        with pytest.raises(NotAuthenticated):
            await auth.login(
                session=db,
                redis=redis,
                email=f"x{i}@example.org",
                password="bad guess 1",
                ip="9.9.9.9",
            )
    user = await make_user(db)
    with pytest.raises(TooManyAttempts):
        await auth.login(session=db, redis=redis, email=user.email, password=PASSWORD, ip="9.9.9.9")


async def test_password_reset_is_single_use_and_ends_sessions(db: AsyncSession) -> None:
    user = await make_user(db)
    login = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    assert await auth.request_password_reset(session=db, email="nobody@example.org") is None
    message_id = await auth.request_password_reset(session=db, email=user.email)
    message = await db.get(OutboxMessage, message_id)
    assert message is not None and message.to_address == user.email
    token = message.body.split("token=")[1].split()[0]
    await auth.reset_password(session=db, token=token, new_password="a brand new secret")
    assert await auth.user_for_token(session=db, token=login.token) is None
    with pytest.raises(InvalidInput, match="invalid or has expired"):
        await auth.reset_password(session=db, token=token, new_password="another new secret")
    await auth.login(session=db, redis=get_redis(), email=user.email, password="a brand new secret")


async def test_only_admins_change_roles(db: AsyncSession) -> None:
    admin = await make_user(db, Role.ADMIN)
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    assert patron.id is not None and admin.id is not None
    for actor in (None, patron, librarian):
        with pytest.raises((PermissionDenied, NotAuthenticated)):
            await users.set_role(session=db, actor=actor, user_id=patron.id, role="admin")
        with pytest.raises((PermissionDenied, NotAuthenticated)):
            await users.list_users(session=db, actor=actor)
    await users.set_role(session=db, actor=admin, user_id=patron.id, role="librarian")
    assert patron.role == Role.LIBRARIAN
    with pytest.raises(Conflict, match="last admin"):
        await users.set_role(session=db, actor=admin, user_id=admin.id, role="patron")


async def test_disabling_an_account_ends_its_sessions(db: AsyncSession) -> None:
    admin = await make_user(db, Role.ADMIN)
    patron = await make_user(db)
    login = await auth.login(session=db, redis=get_redis(), email=patron.email, password=PASSWORD)
    assert patron.id is not None
    await users.set_active(session=db, actor=admin, user_id=patron.id, active=False)
    assert await auth.user_for_token(session=db, token=login.token) is None
    with pytest.raises(NotAuthenticated):
        await auth.login(session=db, redis=get_redis(), email=patron.email, password=PASSWORD)


async def test_create_admin_promotes_existing_account(db: AsyncSession) -> None:
    patron = await make_user(db, email="chief@example.org")
    admin = await users.create_admin(
        session=db, email="chief@example.org", password="the chief's own secret"
    )
    assert admin.id == patron.id and admin.role == Role.ADMIN
