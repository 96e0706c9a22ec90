"""Invitations: an admin invites a librarian (or an admin) by a link mailed to the address;
whoever follows it chooses their name and password, and the account exists, active, with
the invited role, and logged in.

Only a hash of a link's token is kept (as for reset links), so sending an invitation
again mails a new link: the new row replaces the old one, whose link then says so. An
address has at most one open invitation (neither accepted, revoked nor replaced; it may
have expired), and every change to an address's invitations takes a lock on the address,
so two admins, or an admin and the invitee, never cross.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, and_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_admin
from backend.auth import audit
from backend.auth import service as auth
from backend.auth.admin import require_admin_with_second_factor
from backend.auth.models import Invitation
from backend.auth.tokens import new_token, token_hash
from backend.clock import utcnow
from backend.errors import Conflict, InvalidInput, NotFound
from backend.ids import is_id
from backend.mail import service as mail
from backend.settings import get_settings
from backend.users import passwords
from backend.users import repository as users
from backend.users import service as accounts
from backend.users.models import Role, User

INVITABLE = (Role.LIBRARIAN, Role.ADMIN)
LOCK_NAMESPACE = 0x1A71  # pg_advisory_xact_lock(LOCK_NAMESPACE, hashtext(address))
PENDING_LIMIT = 500

LINK_UNKNOWN = (
    "This invitation link is not valid. Open the whole link from the mail, or ask an "
    "admin of the library to invite you again."
)
LINK_EXPIRED = "This invitation has expired. Ask an admin of the library to send it again."
LINK_REVOKED = (
    "This invitation was withdrawn. Ask an admin of the library if you still need an account."
)
LINK_REPLACED = (
    "A newer invitation was sent to this address, and this link no longer works. "
    "Open the link in the latest mail."
)


def _link_used(email: str) -> str:
    return f"This invitation was already accepted: log in with {email}."


def _has_account(email: str) -> str:
    return f"{email} already has an account. Log in with it (or reset its password)."


@dataclass(frozen=True)
class PendingInvitation:
    invitation: Invitation
    invited_by: str  # the inviter's address ("" once their account is gone)
    expired: bool


def _open() -> ColumnElement[bool]:
    return and_(
        col(Invitation.accepted_at).is_(None),
        col(Invitation.revoked_at).is_(None),
        col(Invitation.replaced_at).is_(None),
    )


def _role(role: str) -> Role:
    try:
        chosen = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"Unknown role {role[:20]!r}.") from exc
    if chosen not in INVITABLE:
        raise InvalidInput("Invite a librarian or an admin; patrons register themselves.")
    return chosen


async def _lock_address(session: AsyncSession, email: str) -> None:
    await session.exec(select(func.pg_advisory_xact_lock(LOCK_NAMESPACE, func.hashtext(email))))


async def _refuse_known_address(session: AsyncSession, email: str) -> None:
    user = await users.by_email(session, email)
    if user is not None:
        state = "" if user.is_active else ", disabled"
        raise Conflict(
            f"{email} already has an account ({user.role}{state}). "
            "Change its role on the Users page instead."
        )


async def _send(
    session: AsyncSession, *, admin: User, email: str, role: Role, ip: str, again: bool
) -> Invitation:
    """Replace the address's open invitation (if any) by a new one, and mail its link."""
    now = utcnow()
    earlier = (
        await session.exec(select(Invitation).where(Invitation.email == email, _open()))
    ).all()
    for row in earlier:
        row.replaced_at = now
        session.add(row)
    await session.flush()  # before the new row: one open invitation per address
    token = new_token()
    days = get_settings().invitation_days
    invitation = Invitation(
        email=email,
        role=role.value,
        token_hash=token_hash(token),
        invited_by_id=admin.id,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(invitation)
    await session.flush()
    article = "an" if role == Role.ADMIN else "a"
    link = f"{get_settings().public_url.rstrip('/')}/accept-invite?token={token}"
    await mail.queue_message(
        session=session,
        to_address=email,
        subject="You are invited to the library",
        body=(
            "Hello,\n\n"
            f"{admin.display_name} ({admin.email}) invited you to the library as "
            f"{article} {role.value}.\n\n"
            f"Open this link to choose your name and password (it works once, for {days} "
            f"days):\n\n{link}\n\n"
            "If you did not expect this, ignore this message; no account is made without "
            "you.\n"
        ),
    )
    detail = f"as {role.value}" + (", again" if again else "")
    if earlier and not again:
        detail += ", replacing the earlier link"
    await audit.record(
        session,
        action=audit.INVITATION_SENT,
        actor=admin,
        subject=None,
        subject_email=email,
        detail=detail,
        ip=ip,
    )
    return invitation


async def invite(
    *,
    session: AsyncSession,
    actor: User | None,
    email: str,
    role: str = Role.LIBRARIAN.value,
    ip: str = "",
) -> Invitation:
    """Mail an invitation to an address that has no account yet; an earlier open
    invitation of the address stops working."""
    admin = await require_admin_with_second_factor(session, actor)
    clean = accounts.clean_email(email)
    chosen = _role(role)
    await _lock_address(session, clean)
    await _refuse_known_address(session, clean)
    return await _send(session, admin=admin, email=clean, role=chosen, ip=ip, again=False)


async def pending(
    *, session: AsyncSession, actor: User | None, limit: int = PENDING_LIMIT
) -> list[PendingInvitation]:
    """The open invitations (expired ones too, to send again or revoke), newest first.
    For admins."""
    require_admin(actor)
    stmt = (
        select(Invitation, User.email)
        .join(User, col(User.id) == col(Invitation.invited_by_id), isouter=True)
        .where(_open())
        .order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
        .limit(min(max(limit, 1), PENDING_LIMIT))
    )
    now = utcnow()
    return [
        PendingInvitation(invitation=row, invited_by=by or "", expired=row.expires_at <= now)
        for row, by in (await session.exec(stmt)).all()
    ]


async def _open_row(session: AsyncSession, invitation_id: int) -> Invitation:
    """An open invitation, locked (its address first, then the row)."""
    if not is_id(invitation_id):
        raise NotFound("No such invitation.")
    found = await session.get(Invitation, invitation_id)
    if found is None:
        raise NotFound("No such invitation.")
    await _lock_address(session, found.email)
    stmt = (
        select(Invitation)
        .where(Invitation.id == invitation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = (await session.exec(stmt)).one()
    if row.accepted_at is not None:
        raise Conflict(f"{row.email} has accepted this invitation already.")
    if row.revoked_at is not None or row.replaced_at is not None:
        raise Conflict("This invitation was revoked or sent again already; reload the page.")
    return row


async def resend(
    *, session: AsyncSession, actor: User | None, invitation_id: int, ip: str = ""
) -> Invitation:
    """Mail a new link for an open invitation (expired or not); the old link stops working."""
    admin = await require_admin_with_second_factor(session, actor)
    row = await _open_row(session, invitation_id)
    await _refuse_known_address(session, row.email)
    return await _send(
        session, admin=admin, email=row.email, role=_role(row.role), ip=ip, again=True
    )


async def revoke(
    *, session: AsyncSession, actor: User | None, invitation_id: int, ip: str = ""
) -> Invitation:
    """Withdraw an open invitation: its link stops working."""
    admin = await require_admin_with_second_factor(session, actor)
    row = await _open_row(session, invitation_id)
    row.revoked_at = utcnow()
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        action=audit.INVITATION_REVOKED,
        actor=admin,
        subject=None,
        subject_email=row.email,
        detail=f"as {row.role}",
        ip=ip,
    )
    return row


async def _by_token(session: AsyncSession, token: str, *, lock: bool = False) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    stmt = select(Invitation).where(Invitation.token_hash == token_hash(token))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.exec(stmt)).first()


def _check_usable(row: Invitation | None) -> Invitation:
    """The invitation, or InvalidInput saying why its link does not work."""
    if row is None:
        raise InvalidInput(LINK_UNKNOWN)
    if row.accepted_at is not None:
        raise InvalidInput(_link_used(row.email))
    if row.replaced_at is not None:
        raise InvalidInput(LINK_REPLACED)
    if row.revoked_at is not None:
        raise InvalidInput(LINK_REVOKED)
    if row.expires_at <= utcnow():
        raise InvalidInput(LINK_EXPIRED)
    return row


async def open_invitation(*, session: AsyncSession, token: str) -> Invitation:
    """The invitation a link stands for, while it may be accepted (for the page that
    shows its address); InvalidInput says why not otherwise."""
    row = _check_usable(await _by_token(session, token))
    if await users.by_email(session, row.email) is not None:
        raise InvalidInput(_has_account(row.email))
    return row


async def accept(
    *,
    session: AsyncSession,
    token: str,
    display_name: str,
    password: str,
    ip: str = "",
    user_agent: str = "",
    previous_token: str = "",
) -> auth.LoginResult:
    """Create the invited account with the name and password chosen (the password rules
    of registration), use the link up, and open a session for the new account."""
    found = _check_usable(await _by_token(session, token))
    await _lock_address(session, found.email)
    row = _check_usable(await _by_token(session, token, lock=True))
    if await users.by_email(session, row.email) is not None:
        raise InvalidInput(_has_account(row.email))
    if not display_name.strip():
        raise InvalidInput("Enter your name, as colleagues and readers will see it.")
    name = accounts.clean_name(display_name, row.email)
    passwords.check_policy(password, email=row.email, name=name)
    role = Role(row.role)
    user = await accounts.create_account(
        session=session,
        email=row.email,
        display_name=name,
        password_hash=await passwords.hash_password(password),
        role=role,
    )
    row.accepted_at = utcnow()
    row.user_id = user.id
    session.add(row)
    inviter = await users.by_id(session, row.invited_by_id) if row.invited_by_id else None
    await audit.record(
        session,
        action=audit.INVITATION_ACCEPTED,
        actor=user,
        subject=user,
        detail=f"account created as {role.value}"
        + (f", invited by {inviter.email}" if inviter else ""),
        ip=ip,
    )
    return await auth.start_session(
        session=session, user=user, ip=ip, user_agent=user_agent, previous_token=previous_token
    )
