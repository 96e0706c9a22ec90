"""The account audit log: every admin action on an account and every security event."""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_admin
from backend.auth.models import AccountEvent
from backend.users.models import User

ROLE_CHANGED = "role changed"
ACCOUNT_DISABLED = "account disabled"
ACCOUNT_ENABLED = "account enabled"
SESSIONS_ENDED = "sessions ended"
ACCOUNT_CREATED = "account created"
SECOND_FACTOR_ENABLED = "2FA enabled"
SECOND_FACTOR_DISABLED = "2FA disabled"
SECOND_FACTOR_RESET = "2FA reset"
RECOVERY_CODE_USED = "recovery code used"
RECOVERY_CODES_RENEWED = "recovery codes renewed"
PASSWORD_CHANGED = "password changed"
PASSWORD_RESET = "password reset"
EMAIL_CHANGED = "email changed"
STAFF_LOGIN = "staff login"
STAFF_LOGIN_FAILED = "staff login failed"
INVITATION_SENT = "invitation sent"
INVITATION_REVOKED = "invitation revoked"
INVITATION_ACCEPTED = "invitation accepted"


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor: User | None,
    subject: User | None,
    detail: str = "",
    ip: str = "",
    subject_email: str = "",
) -> AccountEvent:
    """Append one event; `actor` is who did it (None for the command line). An address
    with no account yet (an invitation) is named by `subject_email`."""
    event = AccountEvent(
        action=action,
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else "",
        subject_id=subject.id if subject else None,
        subject_email=subject.email if subject else subject_email[:320],
        detail=detail[:300],
        ip=ip[:64],
    )
    session.add(event)
    await session.flush()
    return event


async def recent(
    *, session: AsyncSession, actor: User | None, limit: int = 100
) -> list[AccountEvent]:
    """The newest events first, for admins."""
    require_admin(actor)
    stmt = (
        select(AccountEvent)
        .order_by(col(AccountEvent.at).desc(), col(AccountEvent.id).desc())
        .limit(min(max(limit, 1), 500))
    )
    return list((await session.exec(stmt)).all())
