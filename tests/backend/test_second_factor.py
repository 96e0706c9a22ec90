"""TOTP second factor: set-up confirmed by a code, enforced at login, no replay, recovery
codes once each, secrets unreadable from the database alone, admin reset."""

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import admin, keys, second_factor
from backend.auth import service as auth
from backend.auth.models import AccountEvent, RecoveryCode, SecondFactor
from backend.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    PermissionDenied,
    TooManyAttempts,
)
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import Role, User
from tests.factories import PASSWORD, enable_second_factor, make_user, totp_code


async def _password_step(db: AsyncSession, user: User) -> str:
    with pytest.raises(auth.SecondFactorRequired) as needed:
        await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    return needed.value.pending


async def _actions(db: AsyncSession) -> list[str]:
    """The account's security events (staff logins, logged too, are tested elsewhere)."""
    rows = (await db.exec(select(AccountEvent).order_by(AccountEvent.id))).all()  # type: ignore[arg-type]
    return [r.action for r in rows if not r.action.startswith("staff login")]


async def test_set_up_takes_effect_only_once_confirmed_by_a_code(db: AsyncSession) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    setup = await second_factor.begin_setup(session=db, actor=librarian)
    assert setup.uri.startswith("otpauth://totp/Library:") and setup.secret in setup.uri
    assert setup.qr_svg_data_uri.startswith("data:image/svg+xml")
    # Not confirmed yet: the password alone still logs in.
    await auth.login(session=db, redis=get_redis(), email=librarian.email, password=PASSWORD)
    with pytest.raises(InvalidInput, match="not right"):
        await second_factor.confirm_setup(session=db, actor=librarian, code="000000")
    codes = await second_factor.confirm_setup(
        session=db, actor=librarian, code=totp_code(setup.secret)
    )
    assert len(codes) == 10 and len(set(codes)) == 10
    assert await second_factor.is_enabled(db, librarian.id)  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        await second_factor.begin_setup(session=db, actor=librarian)
    assert await _actions(db) == ["2FA enabled"]


async def test_login_asks_for_the_code_and_a_code_is_never_accepted_twice(
    db: AsyncSession,
) -> None:
    user = await make_user(db, Role.ADMIN)
    secret = await enable_second_factor(db, user)
    await db.commit()
    redis = get_redis()
    pending = await _password_step(db, user)
    with pytest.raises(NotAuthenticated, match="not right"):
        await auth.login_with_code(session=db, redis=redis, pending=pending, code="123456")
    code = totp_code(secret)
    result = await auth.login_with_code(session=db, redis=redis, pending=pending, code=code)
    assert result.user.id == user.id
    assert await auth.user_for_token(session=db, token=result.token) is not None
    # The pending login is used up, and the same code does not open another one.
    with pytest.raises(auth.LoginExpired):
        await auth.login_with_code(session=db, redis=redis, pending=pending, code=code)
    again = await _password_step(db, user)
    with pytest.raises(NotAuthenticated, match="not right"):
        await auth.login_with_code(session=db, redis=redis, pending=again, code=code)
    # An older step than the one used is refused too; a newer one is accepted.
    with pytest.raises(NotAuthenticated, match="not right"):
        await auth.login_with_code(
            session=db, redis=redis, pending=again, code=totp_code(secret, -1)
        )
    await auth.login_with_code(session=db, redis=redis, pending=again, code=totp_code(secret, 1))


async def test_a_pending_login_allows_five_codes_then_asks_for_the_password(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wrong codes also count in the login delay; here only the code counter is looked at.
    monkeypatch.setattr(get_settings(), "login_free_failures", 100)
    user = await make_user(db)
    secret = await enable_second_factor(db, user)
    redis = get_redis()
    pending = await _password_step(db, user)
    for _ in range(auth.PENDING_MAX_CODES - 1):
        with pytest.raises(NotAuthenticated, match="not right"):
            await auth.login_with_code(session=db, redis=redis, pending=pending, code="111111")
    with pytest.raises(auth.LoginExpired, match="Too many wrong codes"):
        await auth.login_with_code(session=db, redis=redis, pending=pending, code="111111")
    with pytest.raises(auth.LoginExpired):
        await auth.login_with_code(session=db, redis=redis, pending=pending, code=totp_code(secret))
    with pytest.raises(auth.LoginExpired):
        await auth.login_with_code(session=db, redis=redis, pending="made-up", code="123456")


async def test_recovery_codes_work_once_each_and_are_stored_hashed(db: AsyncSession) -> None:
    user = await make_user(db)
    setup = await second_factor.begin_setup(session=db, actor=user)
    codes = await second_factor.confirm_setup(
        session=db, actor=user, code=totp_code(setup.secret, -1)
    )
    stored = [r.code_hash for r in (await db.exec(select(RecoveryCode))).all()]
    assert len(stored) == 10
    assert not any(c.replace("-", "") in h or c in h for c in codes for h in stored)
    redis = get_redis()
    pending = await _password_step(db, user)
    # Typed in lower case with spaces: still the code.
    typed = codes[3].lower().replace("-", " ")
    result = await auth.login_with_code(session=db, redis=redis, pending=pending, code=typed)
    assert result.user.id == user.id
    pending = await _password_step(db, user)
    with pytest.raises(NotAuthenticated, match="not right"):
        await auth.login_with_code(session=db, redis=redis, pending=pending, code=codes[3])
    status = await second_factor.status(session=db, actor=user)
    assert status.enabled and status.recovery_codes_left == 9
    assert await _actions(db) == ["2FA enabled", "recovery code used"]
    # New codes for a current code; the old ones end.
    fresh = await second_factor.renew_recovery_codes(
        session=db, actor=user, code=totp_code(setup.secret)
    )
    assert set(fresh).isdisjoint(codes)
    with pytest.raises(NotAuthenticated, match="not right"):
        await auth.login_with_code(session=db, redis=redis, pending=pending, code=codes[0])
    await auth.login_with_code(session=db, redis=redis, pending=pending, code=fresh[0])


async def test_the_secret_is_not_readable_from_the_database_alone(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await make_user(db)
    secret = await enable_second_factor(db, user)
    row = (await db.exec(select(SecondFactor))).one()
    assert secret not in row.secret and row.pending_secret == ""
    assert keys.decrypt(row.secret) == secret
    monkeypatch.setattr(get_settings(), "secret_key", "another-secret-key-of-32-characters!")
    assert keys.decrypt(row.secret) is None


async def test_turning_it_off_needs_a_current_code(db: AsyncSession) -> None:
    user = await make_user(db)
    secret = await enable_second_factor(db, user)
    with pytest.raises(InvalidInput, match="not right"):
        await second_factor.disable(session=db, actor=user, code="000000")
    await second_factor.disable(session=db, actor=user, code=totp_code(secret))
    assert not await second_factor.is_enabled(db, user.id)  # type: ignore[arg-type]
    assert (await db.exec(select(RecoveryCode))).all() == []
    await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    assert await _actions(db) == ["2FA enabled", "2FA disabled"]


async def test_admin_actions_need_the_admins_own_second_factor(db: AsyncSession) -> None:
    chief = await make_user(db, Role.ADMIN)
    patron = await make_user(db)
    assert patron.id is not None
    for act in (
        admin.set_role(session=db, actor=chief, user_id=patron.id, role="librarian"),
        admin.set_active(session=db, actor=chief, user_id=patron.id, active=False),
        admin.reset_second_factor(session=db, actor=chief, user_id=patron.id),
    ):
        with pytest.raises(PermissionDenied, match="two-factor"):
            await act
    await enable_second_factor(db, chief)
    await admin.set_role(session=db, actor=chief, user_id=patron.id, role="librarian", ip="::1")
    assert patron.role == Role.LIBRARIAN


async def test_an_admin_resets_the_second_factor_of_a_lost_device(db: AsyncSession) -> None:
    chief = await make_user(db, Role.ADMIN)
    librarian = await make_user(db, Role.LIBRARIAN)
    await enable_second_factor(db, chief)
    await enable_second_factor(db, librarian)
    redis = get_redis()
    assert librarian.id is not None
    with pytest.raises((PermissionDenied, NotAuthenticated)):
        await admin.reset_second_factor(session=db, actor=librarian, user_id=librarian.id)
    await admin.reset_second_factor(session=db, actor=chief, user_id=librarian.id, ip="10.1.1.1")
    assert not await second_factor.is_enabled(db, librarian.id)
    # The password alone logs in again, so the owner can set up a new device.
    await auth.login(session=db, redis=redis, email=librarian.email, password=PASSWORD)
    rows = (await db.exec(select(AccountEvent).order_by(AccountEvent.id.desc()))).all()  # type: ignore[union-attr]
    assert rows[0].action == "staff login"  # the login just now
    last = rows[1]
    assert last.action == "2FA reset"
    assert (last.actor_id, last.subject_id, last.ip) == (chief.id, librarian.id, "10.1.1.1")


async def test_wrong_codes_count_in_the_login_delay(db: AsyncSession) -> None:
    # Someone with the password cannot try codes freely by starting login after login.
    user = await make_user(db)
    secret = await enable_second_factor(db, user)
    redis = get_redis()
    with pytest.raises(TooManyAttempts):
        for _ in range(auth.PENDING_MAX_CODES * 3):
            pending = await _password_step(db, user)
            with pytest.raises(NotAuthenticated, match="not right"):
                await auth.login_with_code(session=db, redis=redis, pending=pending, code="424242")
    with pytest.raises(TooManyAttempts):
        await auth.login_with_code(session=db, redis=redis, pending=pending, code=totp_code(secret))
