"""Invitation handlers through the real state classes: the Users page invites, sends
again and revokes only for an admin with a second factor; the invitation's page shows
its address and hands the new account's session to the browser by a login ticket."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from reflex.state import State
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import app.app  # noqa: F401  (registers every state)
from backend.auth import service as auth
from backend.auth import tickets
from backend.mail.models import OutboxMessage
from backend.redis_client import get_redis
from backend.users.models import Role, User
from state.admin import UsersState
from state.auth import AcceptInviteState
from tests.factories import PASSWORD, enable_second_factor, log_in_tab, make_user, open_in_tab
from tests.factories import posted_form as posted


def _substate(root: State, cls: type[Any]) -> Any:
    return root.get_substate(cls.get_full_name().split("."))


@pytest.fixture
async def tab(clean: None) -> AsyncIterator[State]:
    yield State(_reflex_internal_init=True)


async def _log_in(db: AsyncSession, tab: State, user: User) -> None:
    result = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    log_in_tab(tab, result.token)


async def _last_token(db: AsyncSession) -> str:
    mail = (await db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc()))).first()
    assert mail is not None
    return mail.body.split("token=")[1].split()[0]


async def test_the_users_page_invites_resends_and_revokes(db: AsyncSession, tab: State) -> None:
    patron = await make_user(db)
    await _log_in(db, tab, patron)
    users = _substate(tab, UsersState)
    assert await UsersState.invite.fn(users, {"email": "nora@example.org"}) is None
    assert users.error == "Only an admin can do that." and users.invitations == []
    await UsersState.revoke_invitation.fn(users, 1)
    assert users.error == "Only an admin can do that."

    chief = await make_user(db, Role.ADMIN)
    await _log_in(db, tab, chief)
    await UsersState.invite.fn(users, {"email": "nora@example.org", "role": "librarian"})
    assert "two-factor" in users.error
    await enable_second_factor(db, chief)
    await db.commit()
    spec = await UsersState.invite.fn(users, {"email": "Nora@Example.org", "role": "admin"})
    assert spec is not None  # the address field is emptied
    assert users.error == "" and users.notice.startswith("Invitation sent")
    (row,) = users.invitations
    assert (row["email"], row["role"], row["invited_by"], row["expired"]) == (
        "nora@example.org",
        "admin",
        chief.email,
        False,
    )
    assert users.events[0]["action"] == "invitation sent"
    assert users.events[0]["subject"] == "nora@example.org"
    # A refused address stays in the form.
    assert await UsersState.invite.fn(users, {"email": patron.email}) is None
    assert "Change its role on the Users page instead" in users.error
    await UsersState.resend_invitation.fn(users, row["id"])
    assert "earlier link no longer works" in users.notice
    (again,) = users.invitations
    assert again["id"] != row["id"] and again["role"] == "admin"
    await UsersState.revoke_invitation.fn(users, row["id"])
    assert "reload the page" in users.error
    await UsersState.revoke_invitation.fn(users, again["id"])
    assert users.invitations == [] and users.events[0]["action"] == "invitation revoked"


async def test_the_invitation_page_creates_the_account_and_logs_it_in(
    db: AsyncSession, tab: State
) -> None:
    chief = await make_user(db, Role.ADMIN)
    await _log_in(db, tab, chief)
    await enable_second_factor(db, chief)
    await db.commit()
    users = _substate(tab, UsersState)
    await UsersState.invite.fn(users, {"email": "nora@example.org"})
    assert users.error == ""
    token = await _last_token(db)

    log_in_tab(tab, "")
    page = _substate(tab, AcceptInviteState)
    open_in_tab(tab, "/accept-invite?token=wrong")
    await AcceptInviteState.load.fn(page)
    assert "link is not valid" in page.error and page.email == ""
    open_in_tab(tab, f"/accept-invite?token={token}")
    await AcceptInviteState.load.fn(page)
    assert (page.email, page.role, page.error) == ("nora@example.org", "librarian", "")
    form = {"name": "Nora Shelf", "password": "purple elephant river tango"}
    assert await AcceptInviteState.submit.fn(page, {**form, "password2": "other"}) is None
    assert page.error == "The two passwords differ."
    assert (
        await AcceptInviteState.submit.fn(page, {**form, "password": "x", "password2": "x"}) is None
    )
    assert "at least 8" in page.error
    spec = await AcceptInviteState.submit.fn(page, {**form, "password2": form["password"]})
    action, fields = posted(spec)
    assert action == "/api/v1/session" and fields["next"] == "/"
    redeemed = await tickets.redeem(get_redis(), fields["ticket"])
    assert redeemed is not None
    user = await auth.user_for_token(session=db, token=redeemed.token)
    assert user is not None and (user.email, user.role) == ("nora@example.org", Role.LIBRARIAN)
    await AcceptInviteState.load.fn(page)
    assert "already accepted" in page.error and page.email == ""
