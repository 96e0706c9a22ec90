"""Password reset by a single-use link mailed to the account's address."""

from datetime import timedelta

from redis.asyncio import Redis
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import audit, ratelimit
from backend.auth.models import PasswordResetToken
from backend.auth.service import revoke_all_sessions
from backend.auth.tokens import new_token, token_hash
from backend.clock import utcnow
from backend.errors import InvalidInput
from backend.mail import service as mail
from backend.settings import get_settings
from backend.users import passwords
from backend.users import repository as users
from backend.users.models import User

RESET_INVALID = "This reset link is invalid or has expired. Ask for a new one."


async def end_reset_links(session: AsyncSession, user_id: int) -> None:
    """Use up every reset link of an account that is still open."""
    await session.exec(
        update(PasswordResetToken)
        .where(col(PasswordResetToken.user_id) == user_id)
        .where(col(PasswordResetToken.used_at).is_(None))
        .values(used_at=utcnow())
    )


async def request_password_reset(
    *, session: AsyncSession, redis: Redis, email: str, ip: str = ""
) -> None:
    """Mail a reset link if the account exists; the caller answers the same either way.

    An account has at most one live link: a new one ends the older ones.
    """
    clean = users.normalize_email(email)
    await ratelimit.take_all(
        redis, (ratelimit.RESET_PER_IP, ip), (ratelimit.RESET_PER_ADDRESS, clean)
    )
    user = await users.by_email(session, clean) if clean else None
    if user is None or not user.is_active or user.id is None:
        return
    await end_reset_links(session, user.id)
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
    await mail.queue_message(
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


async def reset_password(
    *, session: AsyncSession, token: str, new_password: str, ip: str = ""
) -> User:
    """Set a new password with a reset token; the token is used up and all sessions end."""
    row = (
        await session.exec(
            select(PasswordResetToken)
            .where(PasswordResetToken.token_hash == token_hash(token))
            .with_for_update()
        )
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidInput(RESET_INVALID)
    user = await users.by_id(session, row.user_id)
    if user is None or not user.is_active or user.id is None:
        raise InvalidInput(RESET_INVALID)
    passwords.check_policy(new_password, email=user.email, name=user.display_name)
    user.password_hash = await passwords.hash_password(new_password)
    session.add(user)
    await end_reset_links(session, user.id)
    await revoke_all_sessions(session=session, user_id=user.id)
    await audit.record(session, action=audit.PASSWORD_RESET, actor=user, subject=user, ip=ip)
    return user
