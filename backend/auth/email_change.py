"""Change of a user's address: a link goes to the new address, and the change happens
when it is followed; the old address is told."""

from datetime import timedelta

from redis.asyncio import Redis
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_user
from backend.auth import audit, ratelimit
from backend.auth.models import EmailChange
from backend.auth.reset import end_reset_links
from backend.auth.service import check_current_password
from backend.auth.tokens import new_token, token_hash
from backend.clock import utcnow
from backend.errors import InvalidInput
from backend.mail import service as mail
from backend.settings import get_settings
from backend.users import repository as users
from backend.users import service as accounts
from backend.users.models import User

LINK_HOURS = 24
LINK_INVALID = "This link is invalid or has expired. Ask for the change again."


async def request_email_change(
    *,
    session: AsyncSession,
    redis: Redis,
    actor: User | None,
    new_email: str,
    password: str,
    ip: str = "",
) -> str:
    """Mail a confirmation link to the new address; returns it, normalized.

    The answer is the same when another account has the address (it gets no link then),
    so this form cannot be used to find out who has an account.
    """
    user = require_user(actor)
    assert user.id is not None
    clean = accounts.clean_email(new_email)
    if clean == user.email:
        raise InvalidInput("That is already your address.")
    await check_current_password(redis=redis, user=user, password=password)
    await ratelimit.take(redis, ratelimit.EMAIL_CHANGE_PER_USER, str(user.id))
    await session.exec(
        update(EmailChange)
        .where(col(EmailChange.user_id) == user.id)
        .where(col(EmailChange.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if await users.by_email(session, clean) is not None:
        return clean
    token = new_token()
    now = utcnow()
    session.add(
        EmailChange(
            user_id=user.id,
            new_email=clean,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + timedelta(hours=LINK_HOURS),
        )
    )
    link = f"{get_settings().public_url.rstrip('/')}/confirm-email?token={token}"
    await mail.queue_message(
        session=session,
        to_address=clean,
        subject="Confirm your new library address",
        body=(
            f"Hello {user.display_name},\n\n"
            "Open this link to use this address for your library account "
            f"(it works once, for {LINK_HOURS} hours):\n\n{link}\n\n"
            "If you did not ask for this, ignore this message.\n"
        ),
    )
    return clean


async def confirm_email_change(*, session: AsyncSession, token: str, ip: str = "") -> User:
    """Apply the change a mailed link stands for; the link is used up, the old address told."""
    row = (
        await session.exec(
            select(EmailChange).where(EmailChange.token_hash == token_hash(token)).with_for_update()
        )
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidInput(LINK_INVALID)
    user = await users.by_id(session, row.user_id)
    if user is None or not user.is_active or user.id is None:
        raise InvalidInput(LINK_INVALID)
    row.used_at = utcnow()
    session.add(row)
    if await users.by_email(session, row.new_email) is not None:
        raise InvalidInput("Another account uses this address now.")
    old = user.email
    user.email = row.new_email
    session.add(user)
    # A reset link mailed to the old address must not outlive the change.
    await end_reset_links(session, user.id)
    await session.flush()
    await audit.record(
        session,
        action=audit.EMAIL_CHANGED,
        actor=user,
        subject=user,
        detail=f"from {old} to {user.email}",
        ip=ip,
    )
    await mail.queue_message(
        session=session,
        to_address=old,
        subject="Your library address was changed",
        body=(
            f"Hello {user.display_name},\n\n"
            f"Your library account now uses the address {user.email} instead of this one.\n\n"
            "If it was not you, tell an admin of the library at once.\n"
        ),
    )
    return user
