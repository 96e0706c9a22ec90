"""Registration by a link mailed to the address: the answer, and the time it takes, are
the same whether or not the address already has an account, so nobody learns who is a
member. A new address gets a link that creates the account; a known one gets a notice
(with the way to reset a forgotten password) and keeps its account as it is."""

from datetime import timedelta

from redis.asyncio import Redis
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import audit, ratelimit
from backend.auth.models import PendingRegistration
from backend.auth.tokens import new_token, token_hash
from backend.clock import utcnow
from backend.errors import Conflict, InvalidInput
from backend.mail import service as mail
from backend.settings import get_settings
from backend.users import passwords
from backend.users import repository as users
from backend.users import service as accounts
from backend.users.models import User

LINK_HOURS = 24
LINK_INVALID = "This link is invalid or has expired. Register again to get a new one."


def sent_notice(email: str) -> str:
    """What the page says after a registration, whoever owns the address."""
    return (
        f"We sent a link to {email} to finish. It works once, for {LINK_HOURS} hours. "
        "If nothing arrives, check the spam folder."
    )


async def request_registration(
    *,
    session: AsyncSession,
    redis: Redis,
    email: str,
    password: str,
    display_name: str = "",
    ip: str = "",
) -> str:
    """Mail the link that finishes a registration (or a notice to an existing account);
    returns the normalized address for `sent_notice`."""
    clean = accounts.clean_email(email)
    name = accounts.clean_name(display_name, clean)
    passwords.check_policy(password, email=clean, name=name)
    await ratelimit.take_all(
        redis, (ratelimit.REGISTER_PER_IP, ip), (ratelimit.REGISTER_PER_ADDRESS, clean)
    )
    # Hashed in both cases, so that a known address answers as slowly as a new one.
    password_hash = await passwords.hash_password(password)
    base = get_settings().public_url.rstrip("/")
    existing = await users.by_email(session, clean)
    if existing is not None:
        await mail.queue_message(
            session=session,
            to_address=clean,
            subject="Someone tried to register with your address",
            body=(
                f"Hello {existing.display_name},\n\n"
                "Someone tried to create a library account with this address, which "
                "already has one. Nothing was changed.\n\n"
                f"If it was you and you forgot your password, reset it here:\n\n"
                f"{base}/forgot-password\n\n"
                "If it was not you, ignore this message.\n"
            ),
        )
        return clean
    await session.exec(delete(PendingRegistration).where(col(PendingRegistration.email) == clean))
    token = new_token()
    now = utcnow()
    session.add(
        PendingRegistration(
            email=clean,
            display_name=name,
            password_hash=password_hash,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + timedelta(hours=LINK_HOURS),
        )
    )
    await mail.queue_message(
        session=session,
        to_address=clean,
        subject="Finish your library registration",
        body=(
            f"Hello {name},\n\n"
            "Open this link to finish creating your library account "
            f"(it works once, for {LINK_HOURS} hours):\n\n"
            f"{base}/confirm-registration?token={token}\n\n"
            "If you did not ask for an account, ignore this message.\n"
        ),
    )
    return clean


async def confirm_registration(*, session: AsyncSession, token: str, ip: str = "") -> User:
    """Create the account that a mailed link stands for; the link is used up."""
    row = (
        await session.exec(
            select(PendingRegistration)
            .where(PendingRegistration.token_hash == token_hash(token))
            .with_for_update()
        )
    ).first()
    if row is None or row.expires_at <= utcnow():
        raise InvalidInput(LINK_INVALID)
    await session.exec(
        delete(PendingRegistration).where(col(PendingRegistration.email) == row.email)
    )
    try:
        user = await accounts.create_account(
            session=session,
            email=row.email,
            display_name=row.display_name,
            password_hash=row.password_hash,
        )
    except Conflict as exc:
        raise InvalidInput("This address already has an account. Log in.") from exc
    await audit.record(session, action=audit.ACCOUNT_CREATED, actor=user, subject=user, ip=ip)
    return user
