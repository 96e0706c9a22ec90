"""Login, sessions, the login delay (with device cookies) and password reset."""

from datetime import timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import devices, reset
from backend.auth import service as auth
from backend.auth.models import PasswordResetToken, UserSession
from backend.auth.ratelimit import TooManyRequests
from backend.auth.tokens import token_hash
from backend.errors import Conflict, InvalidInput, NotAuthenticated, TooManyAttempts
from backend.mail.models import OutboxMessage
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users import service as users
from backend.users.models import Role
from tests.factories import PASSWORD, make_user

STRANGER = "203.0.113.9"
OWNER_IP = "198.51.100.7"


async def test_register_hashes_password_and_refuses_duplicates(db: AsyncSession) -> None:
    user = await users.register(session=db, email=" Ada@Example.ORG ", password=PASSWORD)
    assert user.email == "ada@example.org"
    assert user.role == Role.PATRON
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("$bcrypt-sha256$")
    with pytest.raises(Conflict):
        await users.register(session=db, email="ada@example.org", password=PASSWORD)


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


async def test_repeated_failures_slow_down_strangers_to_the_account(db: AsyncSession) -> None:
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
    # A browser that never logged into the account waits, from any address.
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


async def test_an_attackers_failures_do_not_stop_the_owner_with_a_device_cookie(
    db: AsyncSession,
) -> None:
    owner = await make_user(db)
    await db.commit()
    redis = get_redis()
    assert owner.id is not None
    # The owner logged in from this browser before: the session route gave it this cookie.
    cookie = await devices.after_login(redis, "", owner.id)

    refused = 0
    for _ in range(20):
        with pytest.raises((NotAuthenticated, TooManyAttempts)) as attempt:
            await auth.login(
                session=db, redis=redis, email=owner.email, password="guess 123", ip=STRANGER
            )
        refused += isinstance(attempt.value, TooManyAttempts)
    # The attacker is slowed: most attempts were refused without a look at the password.
    assert refused >= 15
    with pytest.raises(TooManyAttempts):
        await auth.login(session=db, redis=redis, email=owner.email, password=PASSWORD, ip=STRANGER)
    # The owner, in their own browser, logs in at once (even their typo is not delayed).
    with pytest.raises(NotAuthenticated):
        await auth.login(
            session=db,
            redis=redis,
            email=owner.email,
            password="my typo 123",
            ip=OWNER_IP,
            device_cookie=cookie,
        )
    result = await auth.login(
        session=db,
        redis=redis,
        email=owner.email,
        password=PASSWORD,
        ip=OWNER_IP,
        device_cookie=cookie,
    )
    assert result.user.id == owner.id
    # The same account from a browser without the cookie still waits.
    with pytest.raises(TooManyAttempts):
        await auth.login(session=db, redis=redis, email=owner.email, password=PASSWORD, ip=OWNER_IP)


async def test_a_device_cookie_counts_for_its_own_account_only_and_is_signed(
    db: AsyncSession,
) -> None:
    owner = await make_user(db)
    other = await make_user(db)
    redis = get_redis()
    assert owner.id is not None and other.id is not None
    cookie = await devices.after_login(redis, "", owner.id)
    assert devices.device_for(cookie, owner.id) is not None
    assert devices.device_for(cookie, other.id) is None
    user_id, nonce, mac = cookie.split(".")
    forged = f"{other.id}.{nonce}.{mac}"
    assert devices.device_for(forged, other.id) is None
    # A second account in the same browser keeps the first one's entry.
    both = await devices.after_login(redis, cookie, other.id)
    assert devices.device_for(both, owner.id) == devices.device_for(cookie, owner.id)
    assert devices.device_for(both, other.id) is not None


async def test_too_many_failures_with_a_device_cookie_revoke_it(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No delay on the way: this test counts failures, it does not wait.
    monkeypatch.setattr(get_settings(), "login_free_failures", 100)
    owner = await make_user(db)
    redis = get_redis()
    assert owner.id is not None
    cookie = await devices.after_login(redis, "", owner.id)
    for _ in range(devices.MAX_FAILURES):
        assert await devices.trusted(redis, cookie, owner.id) is not None
        with pytest.raises(NotAuthenticated):
            await auth.login(
                session=db,
                redis=redis,
                email=owner.email,
                password="x guess 1",
                device_cookie=cookie,
            )
    assert await devices.trusted(redis, cookie, owner.id) is None
    # A revoked cookie is replaced by a new one at the next successful login.
    renewed = await devices.after_login(redis, cookie, owner.id)
    assert renewed != cookie and await devices.trusted(redis, renewed, owner.id) is not None


async def _reset_link(db: AsyncSession, email: str) -> str:
    message = (
        await db.exec(
            select(OutboxMessage)
            .where(OutboxMessage.to_address == email)
            .order_by(OutboxMessage.id.desc())  # type: ignore[union-attr]
        )
    ).first()
    assert message is not None
    return message.body.split("token=")[1].split()[0]


async def test_password_reset_is_single_use_and_ends_sessions(db: AsyncSession) -> None:
    user = await make_user(db)
    redis = get_redis()
    login = await auth.login(session=db, redis=redis, email=user.email, password=PASSWORD)
    await reset.request_password_reset(session=db, redis=redis, email="nobody@example.org")
    await reset.request_password_reset(session=db, redis=redis, email=user.email)
    assert (await db.exec(select(OutboxMessage))).one().to_address == user.email
    token = await _reset_link(db, user.email)
    await reset.reset_password(session=db, token=token, new_password="a brand new secret")
    assert await auth.user_for_token(session=db, token=login.token) is None
    with pytest.raises(InvalidInput, match="invalid or has expired"):
        await reset.reset_password(session=db, token=token, new_password="another new secret")
    await auth.login(session=db, redis=redis, email=user.email, password="a brand new secret")


async def test_a_new_reset_link_ends_the_older_one(db: AsyncSession) -> None:
    user = await make_user(db)
    redis = get_redis()
    await reset.request_password_reset(session=db, redis=redis, email=user.email)
    first = await _reset_link(db, user.email)
    await reset.request_password_reset(session=db, redis=redis, email=user.email)
    second = await _reset_link(db, user.email)
    live = (
        await db.exec(select(PasswordResetToken).where(PasswordResetToken.used_at == None))  # noqa: E711
    ).all()
    assert len(live) == 1 and live[0].token_hash == token_hash(second)
    with pytest.raises(InvalidInput, match="invalid or has expired"):
        await reset.reset_password(session=db, token=first, new_password="a brand new secret")
    await reset.reset_password(session=db, token=second, new_password="a brand new secret")


async def test_reset_requests_are_limited_alike_for_known_and_unknown_addresses(
    db: AsyncSession,
) -> None:
    user = await make_user(db)
    redis = get_redis()
    messages = {}
    for email in (user.email, "nobody@example.org"):
        for _ in range(5):
            await reset.request_password_reset(session=db, redis=redis, email=email, ip="")
        with pytest.raises(TooManyRequests) as exc:
            await reset.request_password_reset(session=db, redis=redis, email=email, ip="")
        messages[email] = str(exc.value)
    assert messages[user.email] == messages["nobody@example.org"]
    assert messages[user.email] == "Too many requests, try again in 60 minutes."
    # Per client address too, whatever address it asks for.
    for i in range(10):
        await reset.request_password_reset(
            session=db, redis=redis, email=f"r{i}@example.org", ip="192.0.2.1"
        )
    with pytest.raises(TooManyRequests):
        await reset.request_password_reset(
            session=db, redis=redis, email="r99@example.org", ip="192.0.2.1"
        )


async def test_create_admin_promotes_existing_account(db: AsyncSession) -> None:
    patron = await make_user(db, email="chief@example.org")
    admin = await users.create_admin(
        session=db, email="chief@example.org", password="the chief's own secret"
    )
    assert admin.id == patron.id and admin.role == Role.ADMIN
