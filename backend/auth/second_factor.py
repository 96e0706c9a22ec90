"""TOTP second factor (RFC 6238) with one-time recovery codes.

Set-up: a new secret waits on the account until a code made from it is entered, then
takes effect and ten recovery codes are shown once. A code is accepted for its 30-second
step and the ones either side, and never twice: the newest accepted step is kept.
"""

import base64
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.roles import require_user
from backend.auth import audit, keys
from backend.auth.models import RecoveryCode, SecondFactor
from backend.clock import utcnow
from backend.errors import Conflict, InvalidInput
from backend.users.models import User

ISSUER = "Library"
RECOVERY_CODES = 10
WRONG_CODE = "That code is not right. Use the newest code of your authenticator app."


@dataclass(frozen=True)
class Setup:
    """What the account page shows while a new second factor waits for its first code."""

    secret: str
    uri: str
    qr_svg_data_uri: str


@dataclass(frozen=True)
class Status:
    enabled: bool
    setting_up: bool
    recovery_codes_left: int


def _uid(user: User) -> int:
    assert user.id is not None
    return user.id


async def _row(session: AsyncSession, user_id: int, *, lock: bool = False) -> SecondFactor | None:
    stmt = select(SecondFactor).where(SecondFactor.user_id == user_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def is_enabled(session: AsyncSession, user_id: int) -> bool:
    """Whether this account asks for a code at login."""
    row = await _row(session, user_id)
    return row is not None and row.enabled_at is not None


async def enabled_user_ids(session: AsyncSession, among: list[int] | None = None) -> set[int]:
    """The users with a second factor on (among these, when given)."""
    stmt = select(SecondFactor.user_id).where(col(SecondFactor.enabled_at).is_not(None))
    if among is not None:
        stmt = stmt.where(col(SecondFactor.user_id).in_(among))
    return set((await session.exec(stmt)).all())


async def status(*, session: AsyncSession, actor: User | None) -> Status:
    """The actor's own second factor: on or off, and how many recovery codes are left."""
    user = require_user(actor)
    row = await _row(session, _uid(user))
    left = (
        await session.exec(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None))
        )
    ).one()
    return Status(
        enabled=row is not None and row.enabled_at is not None,
        setting_up=row is not None and row.enabled_at is None and bool(row.pending_secret),
        recovery_codes_left=int(left),
    )


def _setup_of(user: User, secret: str) -> Setup:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Setup(
        secret=secret,
        uri=uri,
        qr_svg_data_uri=segno.make(uri, error="m").svg_data_uri(scale=5, dark="#111"),
    )


async def begin_setup(*, session: AsyncSession, actor: User | None) -> Setup:
    """Make a new secret that waits for its first code (replacing one that waited)."""
    user = require_user(actor)
    row = await _row(session, _uid(user), lock=True)
    if row is not None and row.enabled_at is not None:
        raise Conflict("Two-factor authentication is already on; turn it off first.")
    secret = pyotp.random_base32()
    if row is None:
        row = SecondFactor(user_id=_uid(user))
    row.pending_secret = keys.encrypt(secret)
    session.add(row)
    await session.flush()
    return _setup_of(user, secret)


def _matching_step(secret: str, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def _clean_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def _recovery_hash(code: str) -> str:
    return keys.keyed_hash("recovery-code", _clean_code(code))


async def _new_recovery_codes(session: AsyncSession, user_id: int) -> list[str]:
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode()  # 80 bits, 16 characters
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
        session.add(RecoveryCode(user_id=user_id, code_hash=_recovery_hash(raw)))
    await session.flush()
    return codes


async def confirm_setup(
    *, session: AsyncSession, actor: User | None, code: str, ip: str = ""
) -> list[str]:
    """Turn the waiting secret on with its first code; returns the ten recovery codes."""
    user = require_user(actor)
    row = await _row(session, _uid(user), lock=True)
    if row is None or row.enabled_at is not None or not row.pending_secret:
        raise InvalidInput("Start the set-up first.")
    secret = keys.decrypt(row.pending_secret)
    step = _matching_step(secret, _clean_code(code), time.time()) if secret else None
    if step is None:
        raise InvalidInput(WRONG_CODE)
    row.secret, row.pending_secret = row.pending_secret, ""
    row.enabled_at = utcnow()
    row.last_step = step
    session.add(row)
    codes = await _new_recovery_codes(session, _uid(user))
    await audit.record(session, action=audit.SECOND_FACTOR_ENABLED, actor=user, subject=user, ip=ip)
    return codes


async def renew_recovery_codes(
    *, session: AsyncSession, actor: User | None, code: str, ip: str = ""
) -> list[str]:
    """Ten new recovery codes for a current authenticator code; the old ones end."""
    user = require_user(actor)
    if not await is_enabled(session, _uid(user)):
        raise InvalidInput("Two-factor authentication is off.")
    if await verify(session=session, user=user, code=code, ip=ip, allow_recovery=False) is None:
        raise InvalidInput(WRONG_CODE)
    codes = await _new_recovery_codes(session, _uid(user))
    await audit.record(
        session, action=audit.RECOVERY_CODES_RENEWED, actor=user, subject=user, ip=ip
    )
    return codes


async def remove(session: AsyncSession, user_id: int) -> None:
    """Forget the second factor and recovery codes of an account."""
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    await session.exec(delete(SecondFactor).where(col(SecondFactor.user_id) == user_id))
    await session.flush()


async def disable(*, session: AsyncSession, actor: User | None, code: str, ip: str = "") -> None:
    """Turn the actor's second factor off, for a current code (or a recovery code)."""
    user = require_user(actor)
    if not await is_enabled(session, _uid(user)):
        raise InvalidInput("Two-factor authentication is already off.")
    if await verify(session=session, user=user, code=code, ip=ip) is None:
        raise InvalidInput(WRONG_CODE)
    await remove(session, _uid(user))
    await audit.record(
        session, action=audit.SECOND_FACTOR_DISABLED, actor=user, subject=user, ip=ip
    )


async def verify(
    *, session: AsyncSession, user: User, code: str, ip: str = "", allow_recovery: bool = True
) -> str | None:
    """Check a code against the account: "totp" or "recovery" when accepted, else None.

    An accepted code is used up: a TOTP code's step (and any older one) and a recovery
    code are never accepted again.
    """
    row = await _row(session, _uid(user), lock=True)
    if row is None or row.enabled_at is None:
        return None
    clean = _clean_code(code)
    if clean.isdigit() and len(clean) == 6:
        secret = keys.decrypt(row.secret)
        step = _matching_step(secret, clean, time.time()) if secret else None
        if step is None or step <= row.last_step:
            return None
        row.last_step = step
        session.add(row)
        await session.flush()
        return "totp"
    if not allow_recovery or len(clean) != 16:
        return None
    used = (
        await session.exec(
            update(RecoveryCode)
            .where(col(RecoveryCode.user_id) == user.id)
            .where(col(RecoveryCode.code_hash) == _recovery_hash(clean))
            .where(col(RecoveryCode.used_at).is_(None))
            .values(used_at=utcnow())
        )
    ).rowcount
    if not used:
        return None
    await audit.record(session, action=audit.RECOVERY_CODE_USED, actor=user, subject=user, ip=ip)
    return "recovery"
