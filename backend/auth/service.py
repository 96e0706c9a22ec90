"""Login, sessions, logout and password reset."""

from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_user
from backend.auth import passwords, throttle
from backend.auth.models import PasswordResetToken, UserSession
from backend.auth.tokens import new_token, token_hash
from backend.clock import utcnow
from backend.errors import InvalidInput, NotAuthenticated, NotFound
from backend.mail import service as mail_service
from backend.settings import get_settings
from backend.users import repository as users
from backend.users.models import User

LOGIN_FAILED = "Email or password is incorrect."
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: User


async def login(
    *,
    session: AsyncSession,
    redis: Redis,
    email: str,
    password: str,
    ip: str = "",
    user_agent: str = "",
    previous_token: str = "",
) -> LoginResult:
    """Check credentials and open a new session; the same answer for unknown accounts."""
    email = users.normalize_email(email)
    await throttle.check(redis, email=email, ip=ip)
    user = await users.by_email(session, email) if email else None
    if user is None:
        await passwords.burn_verify_time(password)
        ok = False
    else:
        ok = await passwords.verify_password(password, user.password_hash) and user.is_active
    if not ok or user is None:
        await throttle.record_failure(redis, email=email, ip=ip)
        raise NotAuthenticated(LOGIN_FAILED)
    await throttle.record_success(redis, email=email)
    if previous_token:
        await logout(session=session, token=previous_token)
    token = new_token()
    now = utcnow()
    assert user.id is not None
    session.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=get_settings().session_absolute_hours),
            ip=ip[:64],
            user_agent=user_agent[:400],
        )
    )
    await session.flush()
    return LoginResult(token=token, user=user)


async def user_for_token(*, session: AsyncSession, token: str) -> User | None:
    """The active user behind a session token, or None when it is unknown, ended or idle."""
    if not token:
        return None
    row = (
        await session.exec(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    ).first()
    now = utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + idle <= now:
        return None
    user = await users.by_id(session, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - row.last_seen_at > TOUCH_INTERVAL:
        row.last_seen_at = now
        session.add(row)
        await session.flush()
    return user


async def logout(*, session: AsyncSession, token: str) -> None:
    """End the session behind a token (no error if it is already gone)."""
    if not token:
        return
    await session.exec(
        update(UserSession)
        .where(col(UserSession.token_hash) == token_hash(token))
        .where(col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_all_sessions(*, session: AsyncSession, user_id: int) -> None:
    await session.exec(
        update(UserSession)
        .where(col(UserSession.user_id) == user_id)
        .where(col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


async def list_sessions(*, session: AsyncSession, actor: User | None) -> list[UserSession]:
    """The actor's own open sessions, newest first."""
    user = require_user(actor)
    stmt = (
        select(UserSession)
        .where(UserSession.user_id == user.id)
        .where(col(UserSession.revoked_at).is_(None))
        .where(col(UserSession.expires_at) > utcnow())
        .order_by(col(UserSession.last_seen_at).desc())
    )
    return list((await session.exec(stmt)).all())


async def revoke_session(*, session: AsyncSession, actor: User | None, session_id: int) -> None:
    """End one of the actor's own sessions."""
    user = require_user(actor)
    row = await session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such session.")
    row.revoked_at = row.revoked_at or utcnow()
    session.add(row)
    await session.flush()


async def request_password_reset(*, session: AsyncSession, email: str) -> int | None:
    """Mail a single-use reset link if the account exists; the caller says the same either way.

    Returns the outbox message id (to enqueue its delivery after commit), or None.
    """
    user = await users.by_email(session, email)
    if user is None or not user.is_active:
        return None
    assert user.id is not None
    token = new_token()
    now = utcnow()
    minutes = get_settings().reset_token_minutes
    session.add(
        PasswordResetToken(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
    )
    link = f"{get_settings().public_url.rstrip('/')}/reset-password?token={token}"
    message = await mail_service.queue_message(
        session=session,
        to_address=user.email,
        subject="Reset your library password",
        body=(
            f"Hello {user.display_name},\n\n"
            f"Someone asked to reset the password of your library account. "
            f"If it was you, open this link within {minutes} minutes:\n\n{link}\n\n"
            "If it was not you, ignore this message; your password stays as it is.\n"
        ),
    )
    return message.id


async def reset_password(*, session: AsyncSession, token: str, new_password: str) -> User:
    """Set a new password with a reset token; the token is used up and all sessions end."""
    row = (
        await session.exec(
            select(PasswordResetToken)
            .where(PasswordResetToken.token_hash == token_hash(token))
            .with_for_update()
        )
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidInput("This reset link is invalid or has expired. Ask for a new one.")
    user = await users.by_id(session, row.user_id)
    if user is None or not user.is_active:
        raise InvalidInput("This reset link is invalid or has expired. Ask for a new one.")
    passwords.check_policy(new_password, email=user.email)
    user.password_hash = await passwords.hash_password(new_password)
    row.used_at = utcnow()
    session.add_all([user, row])
    assert user.id is not None
    await revoke_all_sessions(session=session, user_id=user.id)
    await session.flush()
    return user
