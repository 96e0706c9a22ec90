"""Login (the password, then a code when the account has a second factor), sessions,
logout, and the change of password."""

from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_user
from backend.analytics import events as analytics
from backend.auth import (
    api_tokens,
    audit,
    devices,
    personal_tokens,
    ratelimit,
    second_factor,
    throttle,
)
from backend.auth.models import UserSession
from backend.auth.tokens import new_token, token_hash
from backend.clock import utcnow
from backend.errors import InvalidInput, NotAuthenticated, NotFound
from backend.ids import is_id
from backend.mail import service as mail
from backend.settings import get_settings
from backend.users import passwords
from backend.users import repository as users
from backend.users.models import Role, User

LOGIN_FAILED = "Email or password is incorrect."
LOGIN_EXPIRED = "This login has expired. Enter your password again."
TOUCH_INTERVAL = timedelta(minutes=1)
# A password accepted for an account with a second factor waits this long for its code.
PENDING_SECONDS = 300
PENDING_MAX_CODES = 5


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: User


class SecondFactorRequired(NotAuthenticated):
    """The password was right and the account asks for a code; `pending` names the login
    that waits for it (server-side, in Redis), to pass to `login_with_code`."""

    def __init__(self, pending: str) -> None:
        self.pending = pending
        super().__init__("Enter the code from your authenticator app (or a recovery code).")


class LoginExpired(NotAuthenticated):
    """The login that waited for a code is gone (expired, or too many wrong codes)."""

    def __init__(self, message: str = LOGIN_EXPIRED) -> None:
        super().__init__(message)


STAFF = (Role.ADMIN, Role.LIBRARIAN)


def _pending_key(pending: str) -> str:
    return f"login:pending:{token_hash(pending)}"


async def _open_session(
    session: AsyncSession, user: User, *, ip: str, user_agent: str, previous_token: str
) -> str:
    if previous_token:
        await logout(session=session, token=previous_token)
    token = new_token()
    now = utcnow()
    assert user.id is not None
    user.last_login_at = now
    session.add(user)
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
    if user.role in STAFF:  # the library-wide audit log names every staff login
        await audit.record(
            session, action=audit.STAFF_LOGIN, actor=user, subject=user, ip=ip, detail=user_agent
        )
    await session.flush()
    return token


async def _staff_login_failed(
    session: AsyncSession, user: User | None, ip: str, reason: str
) -> None:
    """A failed login to a staff account goes to the audit log, committed now: the login
    itself fails, and what its caller does next must not roll the entry back."""
    if user is None or user.role not in STAFF:
        return
    await audit.record(
        session, action=audit.STAFF_LOGIN_FAILED, actor=None, subject=user, ip=ip, detail=reason
    )
    await session.commit()


async def login(
    *,
    session: AsyncSession,
    redis: Redis,
    email: str,
    password: str,
    ip: str = "",
    user_agent: str = "",
    previous_token: str = "",
    device_cookie: str = "",
) -> LoginResult:
    """Check the password and open a new session; the same answer for unknown accounts.

    Raises SecondFactorRequired when the account also needs a code.
    """
    email = users.normalize_email(email)
    user = await users.by_email(session, email) if email else None
    device = None
    if user is not None and user.id is not None and device_cookie:
        device = await devices.trusted(redis, device_cookie, user.id)
    client = throttle.Client(email=email, ip=ip, device=device)
    await throttle.check(redis, client)
    if user is None:
        await passwords.burn_verify_time(password)
        ok = False
    else:
        ok = await passwords.verify_password(password, user.password_hash) and user.is_active
    if not ok or user is None or user.id is None:
        await throttle.record_failure(redis, client)
        await analytics.record(
            kind="login_failed",
            actor=user,  # (None for an address no account has: counted, never named)
            client=ip,
            data={"reason": "password" if user is not None else "no such account"},
        )
        await _staff_login_failed(session, user, ip, "wrong password or disabled account")
        raise NotAuthenticated(LOGIN_FAILED)
    if await second_factor.is_enabled(session, user.id):
        pending = new_token()
        key = _pending_key(pending)
        await redis.hset(  # type: ignore[misc]
            key,
            mapping={
                "user_id": user.id,
                "ip": ip,
                "user_agent": user_agent[:400],
                "device": device.nonce if device else "",
                "attempts": 0,
            },
        )
        await redis.expire(key, PENDING_SECONDS)
        raise SecondFactorRequired(pending)
    await throttle.record_success(redis, client)
    token = await _open_session(
        session, user, ip=ip, user_agent=user_agent, previous_token=previous_token
    )
    await analytics.record(kind="login", actor=user, data={"role": user.role})
    return LoginResult(token=token, user=user)


async def start_session(
    *,
    session: AsyncSession,
    user: User,
    ip: str = "",
    user_agent: str = "",
    previous_token: str = "",
) -> LoginResult:
    """Open a session for someone who has just proved who they are another way (by
    following the link of an invitation and choosing their password)."""
    token = await _open_session(
        session, user, ip=ip, user_agent=user_agent, previous_token=previous_token
    )
    await analytics.record(kind="login", actor=user, data={"role": user.role})
    return LoginResult(token=token, user=user)


async def login_with_code(
    *, session: AsyncSession, redis: Redis, pending: str, code: str, previous_token: str = ""
) -> LoginResult:
    """Finish a login that waits for its second factor: a TOTP code or a recovery code."""
    key = _pending_key(pending)
    data = await redis.hgetall(key) if pending else {}  # type: ignore[misc]
    if not data:
        raise LoginExpired()
    attempts = int(await redis.hincrby(key, "attempts", 1))  # type: ignore[misc]
    user = await users.by_id(session, int(data["user_id"]))
    if user is None or user.id is None or not user.is_active or attempts > PENDING_MAX_CODES:
        await redis.delete(key)
        raise LoginExpired()
    device = devices.Device(user.id, data["device"]) if data.get("device") else None
    client = throttle.Client(email=user.email, ip=data.get("ip", ""), device=device)
    await throttle.check(redis, client)
    if await second_factor.verify(session=session, user=user, code=code, ip=client.ip) is None:
        await throttle.record_failure(redis, client)
        await analytics.record(kind="login_failed", actor=user, data={"reason": "second factor"})
        await _staff_login_failed(session, user, client.ip, "wrong second-factor code")
        if attempts >= PENDING_MAX_CODES:
            await redis.delete(key)
            raise LoginExpired("Too many wrong codes. " + LOGIN_EXPIRED)
        raise NotAuthenticated(second_factor.WRONG_CODE)
    await redis.delete(key)
    await throttle.record_success(redis, client)
    token = await _open_session(
        session,
        user,
        ip=client.ip,
        user_agent=data.get("user_agent", ""),
        previous_token=previous_token,
    )
    await analytics.record(
        kind="login", actor=user, data={"role": user.role, "second_factor": True}
    )
    return LoginResult(token=token, user=user)


@dataclass(frozen=True)
class Identity:
    """Who a token stands for, and what it may do (backend.auth.personal_tokens.SCOPES):
    every scope for a login session's token, its own for a personal API token."""

    user: User
    scopes: frozenset[str]


async def identify(*, session: AsyncSession, token: str) -> Identity | None:
    """The active user behind a token, with its scopes; None when it is unknown, ended,
    expired or idle, or its user is disabled. A session token (the page's cookie), an API
    access token (a JWT, backend.auth.api_tokens, standing for its session), or a personal
    API token."""
    if not token:
        return None
    if personal_tokens.looks_personal(token):
        row = await personal_tokens.lookup(session, token)
        owner = await users.by_id(session, row.user_id) if row is not None else None
        if row is None or owner is None or not owner.is_active:
            return None
        return Identity(owner, personal_tokens.scopes_of(row))
    user: User | None
    if api_tokens.looks_like_jwt(token):
        claims = api_tokens.read_access(token)
        if claims is None:
            return None
        found = await session.get(UserSession, claims.session_id)
        if found is None or found.user_id != claims.user_id:
            return None
        user = await _live_user(session, found)
    else:
        row_ = (
            await session.exec(
                select(UserSession).where(UserSession.token_hash == token_hash(token))
            )
        ).first()
        user = await _live_user(session, row_)
    return Identity(user, personal_tokens.ALL) if user is not None else None


async def user_for_token(*, session: AsyncSession, token: str) -> User | None:
    """The active user behind a login session's token (see identify). Pages and their
    uploads take only those: a personal API token is for the API, within its scopes."""
    if personal_tokens.looks_personal(token):
        return None
    found = await identify(session=session, token=token)
    return found.user if found is not None else None


async def _live_user(session: AsyncSession, row: UserSession | None) -> User | None:
    """The session's user, if the session is open, not idle, and the user active."""
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


@dataclass(frozen=True)
class ApiTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


async def _session_id(session: AsyncSession, token: str) -> int:
    found = (
        await session.exec(
            select(UserSession.id).where(UserSession.token_hash == token_hash(token))
        )
    ).one()
    assert found is not None
    return found


async def _api_tokens(redis: Redis, claims: api_tokens.Claims) -> ApiTokens:
    return ApiTokens(
        access_token=api_tokens.issue_access(claims.user_id, claims.session_id),
        refresh_token=await api_tokens.issue_refresh(redis, claims),
        expires_in=api_tokens.ACCESS_SECONDS,
    )


async def api_tokens_for(*, session: AsyncSession, redis: Redis, login: LoginResult) -> ApiTokens:
    """An access token and a refresh token for the session a login just opened."""
    assert login.user.id is not None
    claims = api_tokens.Claims(login.user.id, await _session_id(session, login.token))
    return await _api_tokens(redis, claims)


async def refresh_api_tokens(
    *, session: AsyncSession, redis: Redis, refresh_token: str
) -> ApiTokens:
    """New tokens for a refresh token (spent), while its session is open."""
    claims = await api_tokens.redeem_refresh(redis, refresh_token)
    found = await session.get(UserSession, claims.session_id) if claims else None
    if claims is None or found is None or await _live_user(session, found) is None:
        raise NotAuthenticated("That refresh token is not valid (used, expired or ended).")
    return await _api_tokens(redis, claims)


async def end_api_session(*, session: AsyncSession, token: str) -> None:
    """Log out the session an access token stands for."""
    claims = api_tokens.read_access(token)
    if claims is None:
        return
    await session.exec(
        update(UserSession)
        .where(col(UserSession.id) == claims.session_id)
        .where(col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


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


async def revoke_all_sessions(*, session: AsyncSession, user_id: int, keep_token: str = "") -> None:
    """End every open session of a user, but the one of `keep_token` if given, and every
    personal API token: whoever changed the password or had the sessions ended may have
    been someone else, who could have made one."""
    await personal_tokens.revoke_all(session, user_id)
    stmt = (
        update(UserSession)
        .where(col(UserSession.user_id) == user_id)
        .where(col(UserSession.revoked_at).is_(None))
    )
    if keep_token:
        stmt = stmt.where(col(UserSession.token_hash) != token_hash(keep_token))
    await session.exec(stmt.values(revoked_at=utcnow()))


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
    if not is_id(session_id):
        raise NotFound("No such session.")
    row = await session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such session.")
    row.revoked_at = row.revoked_at or utcnow()
    session.add(row)
    await session.flush()


async def check_current_password(
    *, redis: Redis, user: User, password: str, message: str = ""
) -> None:
    """Raise InvalidInput unless this is the user's password; failures are limited."""
    subject = str(user.id)
    await ratelimit.check(redis, ratelimit.REAUTH_FAILURES_PER_USER, subject)
    if not await passwords.verify_password(password, user.password_hash):
        await ratelimit.take(redis, ratelimit.REAUTH_FAILURES_PER_USER, subject)
        raise InvalidInput(message or "Your current password is not right.")


async def change_password(
    *,
    session: AsyncSession,
    redis: Redis,
    actor: User | None,
    current_token: str,
    current_password: str,
    new_password: str,
    ip: str = "",
) -> None:
    """Change the actor's password; every other session of the account ends."""
    user = require_user(actor)
    await check_current_password(redis=redis, user=user, password=current_password)
    if new_password == current_password:
        raise InvalidInput("The new password is the same as the current one.")
    passwords.check_policy(new_password, email=user.email, name=user.display_name)
    user.password_hash = await passwords.hash_password(new_password)
    session.add(user)
    assert user.id is not None
    await revoke_all_sessions(session=session, user_id=user.id, keep_token=current_token)
    await audit.record(session, action=audit.PASSWORD_CHANGED, actor=user, subject=user, ip=ip)
    await mail.queue_message(
        session=session,
        to_address=user.email,
        subject="Your library password was changed",
        body=(
            f"Hello {user.display_name},\n\n"
            "The password of your library account was just changed, and every other "
            "session of the account was logged out.\n\n"
            "If it was not you, reset your password at once with "
            f"{get_settings().public_url.rstrip('/')}/forgot-password and tell an admin.\n"
        ),
    )
