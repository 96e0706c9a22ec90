"""What admins do to accounts: roles, disabling, resetting a lost second factor.

An admin needs a second factor of their own for any of these, and each is recorded in the
account audit log.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_admin
from backend.auth import audit, second_factor
from backend.auth.service import revoke_all_sessions
from backend.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from backend.ids import is_id
from backend.mail import service as mail
from backend.users import repository as users
from backend.users.models import Role, User


@dataclass(frozen=True)
class Account:
    user: User
    has_second_factor: bool


async def require_admin_with_second_factor(session: AsyncSession, actor: User | None) -> User:
    """The actor, if an admin whose account has a second factor."""
    admin = require_admin(actor)
    assert admin.id is not None
    if not await second_factor.is_enabled(session, admin.id):
        raise PermissionDenied(
            "Set up two-factor authentication on your account page before changing accounts."
        )
    return admin


PAGE_SIZE = 50
SHORT_SEARCH = 3  # shorter searches match the start of an e-mail only
MATCHES_SORTED = 5000  # up to this many matches are read and sorted; more, walked in order
EMAIL_ORDER = col(User.email)  # byte order (collation "C", migration 0020)


@dataclass(frozen=True)
class AccountPage:
    accounts: list[Account]
    next_after: str  # the e-mail to continue after ("": this is the last page)


async def page_accounts(
    *,
    session: AsyncSession,
    actor: User | None,
    search: str = "",
    role: str = "",
    status: str = "",
    after: str = "",
    limit: int = PAGE_SIZE,
) -> AccountPage:
    """One page of accounts in e-mail order (byte order, so that a prefix is a range),
    after the e-mail `after` (keyset: every page costs the same at two million accounts),
    filtered by a search inside e-mails and names (trigram indexes; one or two letters
    match the start of an e-mail), a role and a status (active/disabled). For admins."""
    require_admin(actor)
    limit = min(max(1, limit), 200)
    base = select(User).order_by(EMAIL_ORDER).limit(limit + 1)
    if after:
        base = base.where(EMAIL_ORDER > after[:320])
    if role:
        if role not in {r.value for r in Role}:
            raise InvalidInput("No such role.")
        base = base.where(col(User.role) == role)
    if status:
        if status not in ("active", "disabled"):
            raise InvalidInput("A status is active or disabled.")
        base = base.where(col(User.is_active).is_(status == "active"))
    words = " ".join(search.lower().split())[:100]
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    name = func.lower(col(User.display_name))
    if not words:
        found = list((await session.exec(base)).all())
    elif len(words) < SHORT_SEARCH:
        # One or two letters: the e-mails starting with them, a range of the e-mail order.
        # (Names need three: the names starting with two letters are found only by walking
        # the list, as they start where their e-mails do, far from its start.)
        found = list((await session.exec(base.where(EMAIL_ORDER.like(f"{escaped}%")))).all())
    else:
        pattern = f"%{escaped}%"
        inside = or_(col(User.email).like(pattern), name.like(pattern))
        found = await _matching(session, base.where(inside), limit)
    more = len(found) > limit
    found = found[:limit]
    ids = [u.id for u in found if u.id is not None]
    with_factor = await second_factor.enabled_user_ids(session, ids)
    return AccountPage(
        accounts=[Account(u, u.id in with_factor) for u in found],
        next_after=found[-1].email if more and found else "",
    )


async def _matching(session: AsyncSession, stmt: Any, limit: int) -> list[User]:
    """The first limit + 1 accounts of a filtered, ordered statement. Few matches (up to
    MATCHES_SORTED): read them all from the trigram indexes and sort them. Many: walk the
    e-mail order until the page is full (they are dense, so the walk is short)."""
    matches = (
        stmt.order_by(None)
        .limit(MATCHES_SORTED + 1)
        .with_only_columns(col(User.id), EMAIL_ORDER.label("email"))
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    first = select(matches.c.id).order_by(matches.c.email).limit(limit + 1)
    counted = select(func.count()).select_from(matches).scalar_subquery()
    few = (
        select(User).where(col(User.id).in_(first), counted <= MATCHES_SORTED).order_by(EMAIL_ORDER)
    )
    rows = list((await session.exec(few)).all())
    if rows:
        return rows
    total = int((await session.exec(select(counted))).one())
    if total <= MATCHES_SORTED:
        return []  # none at all
    return list((await session.exec(stmt)).all())


async def account(*, session: AsyncSession, actor: User | None, user_id: int) -> Account:
    """One account, for admins."""
    require_admin(actor)
    user = await _target(session, user_id)
    assert user.id is not None
    with_factor = await second_factor.enabled_user_ids(session, [user.id])
    return Account(user, user.id in with_factor)


async def _target(session: AsyncSession, user_id: int) -> User:
    if not is_id(user_id):
        raise NotFound("No such user.")
    user = await users.by_id(session, user_id)
    if user is None or user.id is None:
        raise NotFound("No such user.")
    return user


async def set_role(
    *, session: AsyncSession, actor: User | None, user_id: int, role: str, ip: str = ""
) -> User:
    """Change a user's role; the last active admin cannot step down."""
    admin = await require_admin_with_second_factor(session, actor)
    try:
        new_role = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"Unknown role {role!r}.") from exc
    user = await _target(session, user_id)
    if user.role == new_role:
        return user
    if (
        user.role == Role.ADMIN
        and new_role != Role.ADMIN
        and await users.count_active_admins(session) <= 1
    ):
        raise Conflict("This is the last admin; make someone else admin first.")
    old = user.role
    user.role = new_role.value
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        action=audit.ROLE_CHANGED,
        actor=admin,
        subject=user,
        detail=f"from {old} to {new_role.value}",
        ip=ip,
    )
    return user


async def set_active(
    *, session: AsyncSession, actor: User | None, user_id: int, active: bool, ip: str = ""
) -> User:
    """Enable or disable an account; disabling ends all its sessions."""
    admin = await require_admin_with_second_factor(session, actor)
    if not isinstance(active, bool):
        raise InvalidInput("Say whether the account is to be enabled or disabled.")
    user = await _target(session, user_id)
    if user.is_active == active:
        return user
    if not active and user.role == Role.ADMIN and await users.count_active_admins(session) <= 1:
        raise Conflict("This is the last admin; it cannot be disabled.")
    user.is_active = active
    session.add(user)
    if not active:
        assert user.id is not None
        await revoke_all_sessions(session=session, user_id=user.id)
    await session.flush()
    await audit.record(
        session,
        action=audit.ACCOUNT_ENABLED if active else audit.ACCOUNT_DISABLED,
        actor=admin,
        subject=user,
        ip=ip,
    )
    return user


async def end_sessions(
    *, session: AsyncSession, actor: User | None, user_id: int, ip: str = ""
) -> User:
    """Log a user out everywhere (a lost laptop, a shared computer): every open session of
    theirs ends; the account stays enabled. An admin may not end their own this way (the
    account page ends one's other sessions)."""
    admin = await require_admin_with_second_factor(session, actor)
    user = await _target(session, user_id)
    if user.id == admin.id:
        raise Conflict("Use your account page to end your other sessions.")
    assert user.id is not None
    await revoke_all_sessions(session=session, user_id=user.id)
    await audit.record(session, action=audit.SESSIONS_ENDED, actor=admin, subject=user, ip=ip)
    return user


async def reset_second_factor(
    *, session: AsyncSession, actor: User | None, user_id: int, ip: str = ""
) -> User:
    """Remove the second factor of someone who lost their device; their sessions end."""
    admin = await require_admin_with_second_factor(session, actor)
    user = await _target(session, user_id)
    assert user.id is not None
    if user.id == admin.id:
        raise InvalidInput("Turn your own second factor off on your account page.")
    if not await second_factor.is_enabled(session, user.id):
        raise InvalidInput("This account has no second factor.")
    await remove_second_factor(session, user, actor=admin, ip=ip)
    return user


async def remove_second_factor(
    session: AsyncSession, user: User, *, actor: User | None, ip: str = ""
) -> None:
    """Remove a second factor, end the account's sessions, record it and tell its owner
    (`actor` None: the command line)."""
    assert user.id is not None
    await second_factor.remove(session, user.id)
    await revoke_all_sessions(session=session, user_id=user.id)
    await audit.record(
        session,
        action=audit.SECOND_FACTOR_RESET,
        actor=actor,
        subject=user,
        detail="" if actor else "from the command line",
        ip=ip,
    )
    await mail.queue_message(
        session=session,
        to_address=user.email,
        subject="Your library account's second factor was removed",
        body=(
            f"Hello {user.display_name},\n\n"
            "An admin removed the two-factor authentication of your library account, "
            "as asked when a device is lost. Log in with your password and set it up "
            "again on your account page.\n\n"
            "If you did not ask for this, tell an admin at once.\n"
        ),
    )
