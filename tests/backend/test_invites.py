"""Invitations of librarians and admins by a mailed link: who may send them, what the link
does once, and what it says when it no longer works."""

from datetime import timedelta

import pytest
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import audit, invites, registration
from backend.auth import service as auth
from backend.auth.models import Invitation
from backend.auth.tokens import token_hash
from backend.clock import utcnow
from backend.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from backend.mail.models import OutboxMessage
from backend.redis_client import get_redis
from backend.users import repository as users
from backend.users.models import Role, User
from tests.factories import PASSWORD, enable_second_factor, make_user

NEW_PASSWORD = "purple elephant river tango"


async def _chief(db: AsyncSession) -> User:
    chief = await make_user(db, Role.ADMIN, email="chief@example.org")
    await enable_second_factor(db, chief)
    return chief


async def _links(db: AsyncSession, address: str) -> list[str]:
    """The tokens of the invitations mailed to an address, oldest first."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.to_address == address)
        .order_by(col(OutboxMessage.id))
    )
    found = []
    for message in (await db.exec(stmt)).all():
        assert "/accept-invite?token=" in message.body
        found.append(message.body.split("token=")[1].split()[0])
    return found


async def _accept(db: AsyncSession, token: str, name: str = "Nora Shelf") -> auth.LoginResult:
    return await invites.accept(
        session=db, token=token, display_name=name, password=NEW_PASSWORD, ip="10.1.2.3"
    )


async def test_an_invited_librarian_chooses_a_password_and_is_logged_in(db: AsyncSession) -> None:
    chief = await _chief(db)
    invitation = await invites.invite(
        session=db, actor=chief, email=" Nora@Example.org ", ip="10.0.0.1"
    )
    assert (invitation.email, invitation.role) == ("nora@example.org", "librarian")
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    (token,) = await _links(db, "nora@example.org")
    # Only a hash of the link's token is kept.
    assert invitation.token_hash == token_hash(token) and token not in invitation.token_hash
    (mail,) = (await db.exec(select(OutboxMessage))).all()
    assert "as a librarian" in mail.body and chief.email in mail.body and "7 days" in mail.body
    assert await users.by_email(db, "nora@example.org") is None
    shown = await invites.open_invitation(session=db, token=token)
    assert shown.email == "nora@example.org"

    result = await _accept(db, token)
    await db.commit()
    user = result.user
    assert (user.email, user.display_name, user.role, user.is_active) == (
        "nora@example.org",
        "Nora Shelf",
        "librarian",
        True,
    )
    assert await auth.user_for_token(session=db, token=result.token) == user
    await auth.login(session=db, redis=get_redis(), email=user.email, password=NEW_PASSWORD)
    await db.refresh(invitation)
    assert invitation.accepted_at is not None and invitation.user_id == user.id
    assert await invites.pending(session=db, actor=chief) == []

    # The link works once.
    for use in (invites.open_invitation(session=db, token=token), _accept(db, token)):
        with pytest.raises(InvalidInput, match="already accepted: log in with nora@example.org"):
            await use
    events = await audit.recent(session=db, actor=chief, limit=10)
    # The new librarian's first session is a staff login (the audit log names staff's).
    assert any(e.action == "staff login" and e.actor_email == "nora@example.org" for e in events)
    events = [e for e in events if e.action != "staff login"][:2]
    assert [(e.action, e.actor_email, e.subject_email, e.detail, e.ip) for e in events] == [
        (
            "invitation accepted",
            "nora@example.org",
            "nora@example.org",
            "account created as librarian, invited by chief@example.org",
            "10.1.2.3",
        ),
        ("invitation sent", chief.email, "nora@example.org", "as librarian", "10.0.0.1"),
    ]
    assert events[0].subject_id == user.id and events[1].subject_id is None


async def test_the_invited_role_is_the_role_of_the_account(db: AsyncSession) -> None:
    chief = await _chief(db)
    await invites.invite(session=db, actor=chief, email="deputy@example.org", role="admin")
    (token,) = await _links(db, "deputy@example.org")
    (mail,) = (await db.exec(select(OutboxMessage))).all()
    assert "as an admin" in mail.body
    assert (await _accept(db, token, "Dee Puty")).user.role == Role.ADMIN
    for role, message in (("patron", "patrons register themselves"), ("wizard", "Unknown role")):
        with pytest.raises(InvalidInput, match=message):
            await invites.invite(session=db, actor=chief, email="x@example.org", role=role)


async def test_bad_and_known_addresses_are_refused_with_what_to_do(db: AsyncSession) -> None:
    chief = await _chief(db)
    await make_user(db, email="reader@example.org")
    for bad in ("not an address", "", "a@b", "x@example.org\nBcc: y@example.org"):
        with pytest.raises(InvalidInput, match="not valid"):
            await invites.invite(session=db, actor=chief, email=bad)
    with pytest.raises(Conflict) as known:
        await invites.invite(session=db, actor=chief, email="Reader@Example.org")
    assert str(known.value) == (
        "reader@example.org already has an account (patron). "
        "Change its role on the Users page instead."
    )
    assert (await db.exec(select(Invitation))).all() == []
    assert (await db.exec(select(OutboxMessage))).all() == []


async def test_inviting_again_replaces_the_earlier_link(db: AsyncSession) -> None:
    chief = await _chief(db)
    deputy = await make_user(db, Role.ADMIN, email="deputy@example.org")
    await enable_second_factor(db, deputy)
    await invites.invite(session=db, actor=chief, email="nora@example.org", role="admin")
    await invites.invite(session=db, actor=deputy, email="nora@example.org")
    first, second = await _links(db, "nora@example.org")
    with pytest.raises(InvalidInput, match="A newer invitation was sent"):
        await invites.open_invitation(session=db, token=first)
    (open_one,) = await invites.pending(session=db, actor=chief)
    assert (open_one.invitation.role, open_one.invited_by) == ("librarian", deputy.email)
    assert not open_one.expired
    event = (await audit.recent(session=db, actor=chief, limit=1))[0]
    assert (event.actor_email, event.detail) == (
        deputy.email,
        "as librarian, replacing the earlier link",
    )
    # The newer invitation's role applies.
    assert (await _accept(db, second)).user.role == Role.LIBRARIAN
    with pytest.raises(InvalidInput, match="A newer invitation"):
        await _accept(db, first)


async def test_an_expired_link_says_so_and_can_be_sent_again(db: AsyncSession) -> None:
    chief = await _chief(db)
    invitation = await invites.invite(session=db, actor=chief, email="late@example.org")
    (old,) = await _links(db, "late@example.org")
    await db.exec(
        update(Invitation)
        .where(col(Invitation.id) == invitation.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    for use in (invites.open_invitation(session=db, token=old), _accept(db, old)):
        with pytest.raises(InvalidInput, match="has expired. Ask an admin"):
            await use
    (listed,) = await invites.pending(session=db, actor=chief)
    assert listed.expired
    assert invitation.id is not None
    again = await invites.resend(session=db, actor=chief, invitation_id=invitation.id, ip="::1")
    assert again.id != invitation.id and again.expires_at > utcnow() + timedelta(days=6)
    _, new = await _links(db, "late@example.org")
    with pytest.raises(InvalidInput, match="A newer invitation"):
        await invites.open_invitation(session=db, token=old)
    assert (await audit.recent(session=db, actor=chief, limit=1))[0].detail == (
        "as librarian, again"
    )
    await _accept(db, new)
    # Nothing is left to send again or revoke.
    for action in (invites.resend, invites.revoke):
        for which in (invitation.id, again.id):
            assert which is not None
            with pytest.raises(Conflict):
                await action(session=db, actor=chief, invitation_id=which)


async def test_a_revoked_link_stops_working(db: AsyncSession) -> None:
    chief = await _chief(db)
    invitation = await invites.invite(session=db, actor=chief, email="gone@example.org")
    (token,) = await _links(db, "gone@example.org")
    assert invitation.id is not None
    await invites.revoke(session=db, actor=chief, invitation_id=invitation.id, ip="::1")
    for use in (invites.open_invitation(session=db, token=token), _accept(db, token)):
        with pytest.raises(InvalidInput, match="This invitation was withdrawn"):
            await use
    assert await invites.pending(session=db, actor=chief) == []
    event = (await audit.recent(session=db, actor=chief, limit=1))[0]
    assert (event.action, event.subject_email, event.detail) == (
        "invitation revoked",
        "gone@example.org",
        "as librarian",
    )
    with pytest.raises(Conflict, match="revoked or sent again already"):
        await invites.revoke(session=db, actor=chief, invitation_id=invitation.id)
    for missing in (invitation.id + 1000, 0, -1, 2**40):
        with pytest.raises(NotFound, match="No such invitation"):
            await invites.revoke(session=db, actor=chief, invitation_id=missing)
    assert await users.by_email(db, "gone@example.org") is None


async def test_only_admins_with_a_second_factor_invite(db: AsyncSession) -> None:
    chief = await _chief(db)
    invitation = await invites.invite(session=db, actor=chief, email="nora@example.org")
    assert invitation.id is not None
    patron = await make_user(db)
    librarian = await make_user(db, Role.LIBRARIAN)
    await enable_second_factor(db, librarian)
    bare_admin = await make_user(db, Role.ADMIN)
    for actor in (None, patron, librarian):
        with pytest.raises((PermissionDenied, NotAuthenticated)):
            await invites.invite(session=db, actor=actor, email="other@example.org")
        with pytest.raises((PermissionDenied, NotAuthenticated)):
            await invites.pending(session=db, actor=actor)
        for action in (invites.resend, invites.revoke):
            with pytest.raises((PermissionDenied, NotAuthenticated)):
                await action(session=db, actor=actor, invitation_id=invitation.id)
    with pytest.raises(PermissionDenied, match="two-factor"):
        await invites.invite(session=db, actor=bare_admin, email="other@example.org")
    # An admin without a second factor may still see the list.
    assert len(await invites.pending(session=db, actor=bare_admin)) == 1
    assert len(await _links(db, "nora@example.org")) == 1
    assert await _links(db, "other@example.org") == []


async def test_accepting_checks_the_name_the_password_and_the_address(db: AsyncSession) -> None:
    chief = await _chief(db)
    await invites.invite(session=db, actor=chief, email="nora@example.org")
    (token,) = await _links(db, "nora@example.org")
    with pytest.raises(InvalidInput, match="Enter your name"):
        await invites.accept(session=db, token=token, display_name="  ", password=NEW_PASSWORD)
    for weak, message in (("short", "at least 8"), ("nora1234", "too easy to guess")):
        with pytest.raises(InvalidInput, match=message):
            await invites.accept(session=db, token=token, display_name="Nora", password=weak)
    for unknown in ("", "x" * 43, "y" * 1000):
        with pytest.raises(InvalidInput, match="link is not valid"):
            await _accept(db, unknown)
    # The refusals used nothing up; but an account made meanwhile (by registering) wins.
    await invites.open_invitation(session=db, token=token)
    await registration.request_registration(
        session=db, redis=get_redis(), email="nora@example.org", password=PASSWORD
    )
    pending = (await db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc()))).first()
    assert pending is not None
    await registration.confirm_registration(
        session=db, token=pending.body.split("token=")[1].split()[0]
    )
    with pytest.raises(InvalidInput, match="nora@example.org already has an account. Log in"):
        await _accept(db, token)
    (listed,) = await invites.pending(session=db, actor=chief)
    assert listed.invitation.id is not None
    with pytest.raises(Conflict, match="Change its role on the Users page"):
        await invites.resend(session=db, actor=chief, invitation_id=listed.invitation.id)
    user = await users.by_email(db, "nora@example.org")
    assert user is not None and user.role == Role.PATRON


async def test_accepting_ends_the_session_the_browser_had(db: AsyncSession) -> None:
    chief = await _chief(db)
    # Whoever was logged in in the browser that opens the link is logged out there.
    reader = await make_user(db)
    before = await auth.login(session=db, redis=get_redis(), email=reader.email, password=PASSWORD)
    await invites.invite(session=db, actor=chief, email="nora@example.org")
    (token,) = await _links(db, "nora@example.org")
    result = await invites.accept(
        session=db,
        token=token,
        display_name="Nora",
        password=NEW_PASSWORD,
        previous_token=before.token,
    )
    assert await auth.user_for_token(session=db, token=before.token) is None
    assert await auth.user_for_token(session=db, token=result.token) == result.user


async def test_two_admins_inviting_one_address_at_once_leave_one_open_link(
    db: AsyncSession,
) -> None:
    import asyncio

    from backend import db as backend_db

    chief = await _chief(db)
    await db.commit()

    async def invite_in_own_unit_of_work(role: str) -> None:
        async with backend_db.session_scope() as session:
            await invites.invite(session=session, actor=chief, email="nora@example.org", role=role)
            await asyncio.sleep(0.2)  # holds the address's lock a while
            await session.commit()

    await asyncio.gather(
        invite_in_own_unit_of_work("admin"), invite_in_own_unit_of_work("librarian")
    )
    rows = (await db.exec(select(Invitation).order_by(col(Invitation.id)))).all()
    assert len(rows) == 2 and rows[0].replaced_at is not None and rows[1].replaced_at is None
    (listed,) = await invites.pending(session=db, actor=chief)
    assert listed.invitation.id == rows[1].id
