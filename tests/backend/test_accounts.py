"""The password policy, change of password and of address, registration by mail, and the
account audit log."""

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import admin, audit, email_change, registration
from backend.auth import service as auth
from backend.auth.models import PendingRegistration
from backend.auth.ratelimit import TooManyRequests
from backend.errors import InvalidInput, NotAuthenticated, PermissionDenied
from backend.mail.models import OutboxMessage
from backend.redis_client import get_redis
from backend.users import passwords
from backend.users import service as users
from backend.users.models import Role, User
from tests.factories import PASSWORD, enable_second_factor, make_user


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password1", "most common"),
        ("aaaaaaaa", "too easy to guess. Repeats like"),
        ("summer2024!", "too easy to guess"),
        ("ada.lovelace", "too easy to guess"),
        ("Lovelace1815", "too easy to guess"),
    ],
)
def test_weak_passwords_are_refused_with_advice(password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        passwords.check_policy(password, email="ada.lovelace@example.org", name="Ada Lovelace")


@pytest.mark.parametrize(
    "password",
    [
        "purple elephant river tango",
        "correct horse battery staple",
        "brave otter lamp",
        "x" * 60 + "Qz!4 tangerine",
    ],
)
def test_passphrases_are_accepted(password: str) -> None:
    passwords.check_policy(password, email="ada@example.org", name="Ada")


def test_only_a_bounded_prefix_is_evaluated() -> None:
    # 128 characters: a strong start is enough, and the check does not grow with length.
    passwords.check_policy("purple elephant river tango " + "a" * 100, email="a@example.org")


async def test_register_rejects_bad_input(db: AsyncSession) -> None:
    with pytest.raises(InvalidInput, match="not valid"):
        await users.register(session=db, email="not-an-email", password=PASSWORD)
    with pytest.raises(InvalidInput, match="most common"):
        await users.register(session=db, email="a@example.org", password="password1")


async def test_changing_the_password_ends_every_other_session(db: AsyncSession) -> None:
    user = await make_user(db)
    redis = get_redis()
    here = await auth.login(session=db, redis=redis, email=user.email, password=PASSWORD)
    elsewhere = await auth.login(session=db, redis=redis, email=user.email, password=PASSWORD)
    with pytest.raises(InvalidInput, match="current password is not right"):
        await auth.change_password(
            session=db,
            redis=redis,
            actor=user,
            current_token=here.token,
            current_password="not my password",
            new_password="purple elephant river tango",
        )
    with pytest.raises(InvalidInput, match="too easy to guess"):
        await auth.change_password(
            session=db,
            redis=redis,
            actor=user,
            current_token=here.token,
            current_password=PASSWORD,
            new_password="aaaaaaaaaa",
        )
    await auth.change_password(
        session=db,
        redis=redis,
        actor=user,
        current_token=here.token,
        current_password=PASSWORD,
        new_password="purple elephant river tango",
        ip="10.9.8.7",
    )
    await db.commit()
    assert await auth.user_for_token(session=db, token=here.token) is not None
    assert await auth.user_for_token(session=db, token=elsewhere.token) is None
    await auth.login(
        session=db, redis=redis, email=user.email, password="purple elephant river tango"
    )
    notice = (await db.exec(select(OutboxMessage))).one()
    assert notice.to_address == user.email and "password" in notice.subject
    event = (await audit.recent(session=db, actor=await make_user(db, Role.ADMIN)))[0]
    assert (event.action, event.subject_id, event.ip) == ("password changed", user.id, "10.9.8.7")


async def test_guessing_the_current_password_is_limited(db: AsyncSession) -> None:
    user = await make_user(db)
    redis = get_redis()
    for _ in range(5):
        with pytest.raises(InvalidInput):
            await auth.change_password(
                session=db,
                redis=redis,
                actor=user,
                current_token="",
                current_password="a wrong guess",
                new_password="purple elephant river tango",
            )
    with pytest.raises(TooManyRequests):
        await auth.change_password(
            session=db,
            redis=redis,
            actor=user,
            current_token="",
            current_password=PASSWORD,
            new_password="purple elephant river tango",
        )


def _link(message: OutboxMessage) -> str:
    return message.body.split("token=")[1].split()[0]


async def _mail_to(db: AsyncSession, address: str) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.to_address == address)
    return list((await db.exec(stmt.order_by(OutboxMessage.id))).all())  # type: ignore[arg-type]


async def test_registration_answers_alike_for_new_and_known_addresses(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = await make_user(db, email="known@example.org")
    await db.commit()
    hashed: list[str] = []
    real_hash = passwords.hash_password

    async def counting_hash(password: str) -> str:
        hashed.append(password)
        return await real_hash(password)

    monkeypatch.setattr(passwords, "hash_password", counting_hash)
    redis = get_redis()
    answers = []
    for email in ("known@example.org", "new@example.org"):
        address = await registration.request_registration(
            session=db, redis=redis, email=email, password="purple elephant river tango"
        )
        answers.append(registration.sent_notice(address).replace(address, "ADDRESS"))
    assert answers[0] == answers[1]
    # Both spent the time of a password hash, and both got exactly one mail.
    assert len(hashed) == 2
    to_known, to_new = await _mail_to(db, known.email), await _mail_to(db, "new@example.org")
    assert len(to_known) == 1 and len(to_new) == 1
    assert "forgot-password" in to_known[0].body and "token=" not in to_known[0].body
    # The known account is untouched; the new one exists only once its link is followed.
    await db.refresh(known)
    assert await auth.login(session=db, redis=redis, email=known.email, password=PASSWORD)
    with pytest.raises(NotAuthenticated):
        await auth.login(
            session=db, redis=redis, email="new@example.org", password="purple elephant river tango"
        )
    user = await registration.confirm_registration(session=db, token=_link(to_new[0]))
    assert user.email == "new@example.org" and user.role == Role.PATRON
    assert (await db.exec(select(PendingRegistration))).all() == []
    await auth.login(
        session=db, redis=redis, email="new@example.org", password="purple elephant river tango"
    )
    with pytest.raises(InvalidInput, match="invalid or has expired"):
        await registration.confirm_registration(session=db, token=_link(to_new[0]))


async def test_registration_is_limited_alike_per_address_and_per_client(db: AsyncSession) -> None:
    await make_user(db, email="known@example.org")
    redis = get_redis()
    refusals = []
    for email in ("known@example.org", "unknown@example.org"):
        for _ in range(5):
            await registration.request_registration(
                session=db, redis=redis, email=email, password="purple elephant river tango"
            )
        with pytest.raises(TooManyRequests) as exc:
            await registration.request_registration(
                session=db, redis=redis, email=email, password="purple elephant river tango"
            )
        refusals.append(str(exc.value))
    assert refusals[0] == refusals[1] == "Too many requests, try again in 60 minutes."
    for i in range(10):
        await registration.request_registration(
            session=db,
            redis=redis,
            email=f"n{i}@example.org",
            password="purple elephant river tango",
            ip="192.0.2.44",
        )
    with pytest.raises(TooManyRequests):
        await registration.request_registration(
            session=db,
            redis=redis,
            email="n99@example.org",
            password="purple elephant river tango",
            ip="192.0.2.44",
        )


async def test_registration_refuses_a_weak_password_before_anything_else(
    db: AsyncSession,
) -> None:
    with pytest.raises(InvalidInput, match="too easy to guess"):
        await registration.request_registration(
            session=db, redis=get_redis(), email="bobby@example.org", password="bobby2024"
        )
    assert (await db.exec(select(OutboxMessage))).all() == []


async def test_a_new_address_takes_effect_when_its_link_is_followed(db: AsyncSession) -> None:
    user = await make_user(db, email="old@example.org")
    redis = get_redis()
    with pytest.raises(InvalidInput, match="current password"):
        await email_change.request_email_change(
            session=db, redis=redis, actor=user, new_email="new@example.org", password="nope nope"
        )
    await email_change.request_email_change(
        session=db, redis=redis, actor=user, new_email="New@Example.org", password=PASSWORD
    )
    await db.refresh(user)
    assert user.email == "old@example.org"
    (link_mail,) = await _mail_to(db, "new@example.org")
    changed = await email_change.confirm_email_change(
        session=db, token=_link(link_mail), ip="10.0.0.5"
    )
    assert changed.email == "new@example.org"
    (notice,) = await _mail_to(db, "old@example.org")
    assert "new@example.org" in notice.body and "token=" not in notice.body
    with pytest.raises(InvalidInput, match="invalid or has expired"):
        await email_change.confirm_email_change(session=db, token=_link(link_mail))
    await auth.login(session=db, redis=redis, email="new@example.org", password=PASSWORD)
    event = (await audit.recent(session=db, actor=await make_user(db, Role.ADMIN)))[0]
    assert event.action == "email changed" and event.detail == (
        "from old@example.org to new@example.org"
    )


async def test_a_taken_address_answers_the_same_and_gets_no_link(db: AsyncSession) -> None:
    user = await make_user(db)
    other = await make_user(db, email="taken@example.org")
    answer = await email_change.request_email_change(
        session=db, redis=get_redis(), actor=user, new_email=other.email, password=PASSWORD
    )
    assert answer == other.email
    assert await _mail_to(db, other.email) == []


async def test_admin_actions_and_security_events_land_in_the_audit_log(db: AsyncSession) -> None:
    chief = await make_user(db, Role.ADMIN)
    patron = await make_user(db)
    await enable_second_factor(db, chief)
    assert patron.id is not None
    await admin.set_role(session=db, actor=chief, user_id=patron.id, role="librarian", ip="::1")
    await admin.set_active(session=db, actor=chief, user_id=patron.id, active=False, ip="::1")
    await admin.set_active(session=db, actor=chief, user_id=patron.id, active=True, ip="::1")
    events = await audit.recent(session=db, actor=chief)
    assert [e.action for e in events] == [
        "account enabled",
        "account disabled",
        "role changed",
        "2FA enabled",
    ]
    assert events[2].detail == "from patron to librarian"
    assert all(e.actor_email == chief.email for e in events)
    assert [e.ip for e in events[:3]] == ["::1"] * 3
    assert [e.action for e in await audit.recent(session=db, actor=chief, limit=2)] == [
        "account enabled",
        "account disabled",
    ]
    for nobody in (None, patron):
        with pytest.raises((PermissionDenied, NotAuthenticated)):
            await audit.recent(session=db, actor=nobody)


async def test_only_admins_change_roles_and_the_last_admin_stays(db: AsyncSession) -> None:
    chief = await make_user(db, Role.ADMIN)
    librarian = await make_user(db, Role.LIBRARIAN)
    patron = await make_user(db)
    await enable_second_factor(db, chief)
    await enable_second_factor(db, librarian)
    assert patron.id is not None and chief.id is not None
    actor: User | None
    for actor in (None, patron, librarian):
        with pytest.raises((PermissionDenied, NotAuthenticated)):
            await admin.set_role(session=db, actor=actor, user_id=patron.id, role="admin")
        with pytest.raises((PermissionDenied, NotAuthenticated)):
            await users.list_users(session=db, actor=actor)
    with pytest.raises(Exception, match="last admin"):
        await admin.set_role(session=db, actor=chief, user_id=chief.id, role="patron")
    with pytest.raises(Exception, match="last admin"):
        await admin.set_active(session=db, actor=chief, user_id=chief.id, active=False)


async def test_disabling_an_account_ends_its_sessions(db: AsyncSession) -> None:
    chief = await make_user(db, Role.ADMIN)
    patron = await make_user(db)
    await enable_second_factor(db, chief)
    login = await auth.login(session=db, redis=get_redis(), email=patron.email, password=PASSWORD)
    assert patron.id is not None
    await admin.set_active(session=db, actor=chief, user_id=patron.id, active=False)
    assert await auth.user_for_token(session=db, token=login.token) is None
    with pytest.raises(NotAuthenticated):
        await auth.login(session=db, redis=get_redis(), email=patron.email, password=PASSWORD)
