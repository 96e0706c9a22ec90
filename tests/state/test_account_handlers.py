"""Account handlers through the real state classes: the token never reaches the browser,
two-factor set-up and login, password change, admin actions, logout, registration."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from reflex.state import State
from reflex_base.utils.format import json_dumps
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

import app.app  # noqa: F401  (registers every state)
from backend.auth import service as auth
from backend.auth.tokens import DEVICE_COOKIE, SESSION_COOKIE
from backend.redis_client import get_redis
from backend.users.models import Role, User
from state.account import AccountState
from state.admin import UsersState
from state.auth import LoginState, LogoutState, RegisterState
from state.session import SessionState, request_cookie, session_token
from tests.factories import (
    PASSWORD,
    enable_second_factor,
    log_in_tab,
    make_user,
    open_in_tab,
    posted_form,
    totp_code,
)


def _substate(root: State, cls: type[Any]) -> Any:
    return root.get_substate(cls.get_full_name().split("."))


@pytest.fixture
async def tab(clean: None) -> AsyncIterator[State]:
    yield State(_reflex_internal_init=True)


async def _log_in(db: AsyncSession, tab: State, user: User) -> str:
    result = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    log_in_tab(tab, result.token)
    return result.token


def _sent_to_browser(tab: State) -> str:
    """Everything of the tab's state that Reflex would serialize for the browser."""
    return json_dumps(tab.dict()) + json_dumps(tab.get_delta())


async def test_the_session_token_never_reaches_the_browser(db: AsyncSession, tab: State) -> None:
    user = await make_user(db)
    token = await _log_in(db, tab, user)
    open_in_tab(tab, "/account")
    await SessionState.refresh_user.fn(_substate(tab, SessionState))
    await AccountState.load.fn(_substate(tab, AccountState))
    account = _substate(tab, AccountState)
    assert account.sessions and account.sessions[0]["current"]
    assert _substate(tab, SessionState).user_id == user.id
    sent = _sent_to_browser(tab)
    assert token not in sent and "library_session" not in sent
    # Reflex sends the handshake headers without the Cookie header.
    headers = json.loads(json_dumps(tab.dict()))["reflex___state____state"][
        "rx_router_headers_rx_state_"
    ]
    assert "cookie" not in headers and "cookie" not in headers["raw_headers"]
    assert session_token(_substate(tab, AccountState)) == token


async def test_cookies_are_read_from_the_header_even_beside_a_malformed_one(tab: State) -> None:
    root = tab
    log_in_tab(root, "tok-en_1", device_cookie="1.abc.def")
    assert request_cookie(root, SESSION_COOKIE) == "tok-en_1"
    assert request_cookie(root, DEVICE_COOKIE) == "1.abc.def"
    from reflex.istate.data import HeaderData

    root.rx_router_headers = HeaderData.from_router_data(
        {"headers": {"cookie": 'other="unclosed; library_session=tok2; x=1'}}
    )
    assert session_token(root) == "tok2"
    log_in_tab(root, "")
    assert session_token(root) == ""


async def test_two_factor_set_up_then_a_login_that_asks_for_the_code(
    db: AsyncSession, tab: State
) -> None:
    user = await make_user(db, Role.LIBRARIAN)
    await _log_in(db, tab, user)
    account = _substate(tab, AccountState)
    await AccountState.start_totp.fn(account)
    secret = account.totp_secret
    assert len(secret) == 32 and account.totp_qr.startswith("data:image/svg+xml")
    await AccountState.confirm_totp.fn(account, {"code": "000000"})
    assert "not right" in account.totp_error and not account.totp_enabled
    await AccountState.confirm_totp.fn(account, {"code": totp_code(secret, -1)})
    assert account.totp_enabled and len(account.recovery_codes) == 10
    assert account.totp_secret == "" and account.totp_qr == ""
    # The codes are shown once: the next load of the page does not have them.
    await AccountState.load.fn(account)
    assert account.recovery_codes == [] and account.recovery_left == 10

    log_in_tab(tab, "")
    login = _substate(tab, LoginState)
    assert await LoginState.submit.fn(login, {"email": user.email, "password": PASSWORD}) is None
    assert login.needs_code and login.error == ""
    pending = login._pending
    assert pending and pending not in _sent_to_browser(tab)
    assert await LoginState.submit_code.fn(login, {"code": "999999"}) is None
    assert "not right" in login.error and login.needs_code
    spec = await LoginState.submit_code.fn(login, {"code": totp_code(secret)})
    action, fields = posted_form(spec)
    assert action == "/api/v1/session" and fields["ticket"]
    assert not login.needs_code and login._pending == ""


async def test_changing_the_password_keeps_this_session_only(db: AsyncSession, tab: State) -> None:
    user = await make_user(db)
    other = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    token = await _log_in(db, tab, user)
    account = _substate(tab, AccountState)
    form = {
        "current_password": PASSWORD,
        "new_password": "purple elephant river tango",
        "new_password2": "purple elephant river tango",
    }
    await AccountState.change_password.fn(account, {**form, "new_password2": "different"})
    assert account.password_error == "The two new passwords differ."
    await AccountState.change_password.fn(account, form)
    assert account.password_error == "" and "password is changed" in account.notice
    assert [s["current"] for s in account.sessions] == [True]
    assert await auth.user_for_token(session=db, token=token) is not None
    assert await auth.user_for_token(session=db, token=other.token) is None


async def test_admin_page_needs_the_admins_second_factor_and_shows_the_log(
    db: AsyncSession, tab: State
) -> None:
    chief = await make_user(db, Role.ADMIN)
    patron = await make_user(db)
    await db.commit()
    await _log_in(db, tab, chief)
    users = _substate(tab, UsersState)
    await UsersState.load.fn(users)
    assert users.needs_second_factor and not users.denied
    await UsersState.set_role.fn(users, patron.id, "librarian")
    assert "two-factor" in users.error
    await enable_second_factor(db, chief)
    await db.commit()
    await UsersState.load.fn(users)
    assert not users.needs_second_factor
    await UsersState.set_role.fn(users, patron.id, "librarian")
    await UsersState.set_active.fn(users, patron.id, False)
    assert users.error == ""
    row = next(u for u in users.users if u["id"] == patron.id)
    assert row["role"] == "librarian" and not row["active"]
    assert [e["action"] for e in users.events][:2] == ["account disabled", "role changed"]
    assert users.events[1]["actor"] == chief.email and users.events[1]["subject"] == patron.email


async def test_an_admin_logs_a_user_out_everywhere(db: AsyncSession, tab: State) -> None:
    chief = await make_user(db, Role.ADMIN)
    patron = await make_user(db)
    await db.commit()
    tokens = []
    for _ in range(2):  # the patron on two computers
        login = await auth.login(
            session=db, redis=get_redis(), email=patron.email, password=PASSWORD
        )
        tokens.append(login.token)
    await db.commit()
    await _log_in(db, tab, chief)
    users = _substate(tab, UsersState)
    await UsersState.load.fn(users)
    await UsersState.end_sessions.fn(users, patron.id)
    assert "two-factor" in users.error  # the admin's own second factor first
    assert all([await auth.user_for_token(session=db, token=t) for t in tokens])
    await enable_second_factor(db, chief)
    await db.commit()
    await UsersState.end_sessions.fn(users, patron.id)
    assert users.error == "" and "Logged out everywhere" in users.notice
    await db.rollback()
    assert [await auth.user_for_token(session=db, token=t) for t in tokens] == [None, None]
    row = next(u for u in users.users if u["id"] == patron.id)
    assert row["active"]  # still enabled: it may log in again
    assert users.events[0]["action"] == "sessions ended"
    assert users.events[0]["subject"] == patron.email
    await UsersState.end_sessions.fn(users, chief.id)
    assert "account page" in users.error


async def test_the_users_page_finds_and_pages_accounts(db: AsyncSession, tab: State) -> None:
    chief = await make_user(db, Role.ADMIN, email="chief@example.org")
    await db.commit()
    await db.exec(  # type: ignore[call-overload]
        text(
            "INSERT INTO users (email, display_name, password_hash, role, is_active, created_at) "
            "SELECT 'reader' || lpad(n::text, 3, '0') || '@example.org', 'Reader ' || n, 'x', "
            "'patron', true, now() FROM generate_series(1, 60) n"
        )
    )
    await db.commit()
    await _log_in(db, tab, chief)
    users = _substate(tab, UsersState)
    await UsersState.load.fn(users)
    assert len(users.users) == 50 and users.users[0]["email"] == "chief@example.org"
    assert users.users[0]["last_login"] != "never"  # the login just made
    await UsersState.next_page.fn(users)
    assert [u["email"] for u in users.users][-1] == "reader060@example.org"
    assert len(users.users) == 11 and users.next_after == ""
    await UsersState.previous_page.fn(users)
    assert users.users[0]["email"] == "chief@example.org"
    await UsersState.find.fn(users, {"search": "reader05", "role": "patron", "status": "active"})
    assert [u["email"] for u in users.users] == [f"reader05{n}@example.org" for n in range(10)]
    await UsersState.find.fn(users, {"search": "", "role": "wizard", "status": ""})
    assert users.error == "No such role."


async def test_logout_ends_the_session_and_clears_the_cookie(db: AsyncSession, tab: State) -> None:
    user = await make_user(db)
    token = await _log_in(db, tab, user)
    await SessionState.refresh_user.fn(_substate(tab, SessionState))
    spec = await LogoutState.logout.fn(_substate(tab, LogoutState))
    assert posted_form(spec)[0] == "/api/v1/session/end"
    assert _substate(tab, SessionState).user_id == 0
    assert await auth.user_for_token(session=db, token=token) is None


async def test_registration_says_the_same_for_known_and_new_addresses(
    db: AsyncSession, tab: State
) -> None:
    await make_user(db, email="known@example.org")
    await db.commit()
    state = _substate(tab, RegisterState)
    said = []
    for email in ("known@example.org", "fresh@example.org"):
        form = {"email": email, "password": "purple elephant river tango"}
        await RegisterState.submit.fn(state, {**form, "password2": form["password"]})
        assert state.error == ""
        said.append(state.sent.replace(email, "ADDRESS"))
    assert said[0] == said[1] and said[0].startswith("We sent a link to ADDRESS to finish.")


async def test_handlers_called_with_arguments_of_the_wrong_kind_refuse_them(
    db: AsyncSession, tab: State
) -> None:
    # Anyone holding the websocket may send any arguments; none may crash a handler.
    chief = await make_user(db, Role.ADMIN)
    patron = await make_user(db)
    await _log_in(db, tab, chief)
    await enable_second_factor(db, chief)
    await db.commit()
    users = _substate(tab, UsersState)
    for args in (("1; drop", "admin"), (None, "admin"), ([patron.id], "admin"), (2**40, "admin")):
        await UsersState.set_role.fn(users, *args)
        assert users.error == "No such user."
    await UsersState.set_active.fn(users, patron.id, "false")
    assert "enabled or disabled" in users.error
    await db.refresh(patron)
    assert patron.is_active and patron.role == Role.PATRON
    account = _substate(tab, AccountState)
    await AccountState.revoke.fn(account, "1 OR 1=1")
    assert account.error == "No such session."
    await AccountState.confirm_totp.fn(account, {"code": 123456})
    assert account.totp_error == "Start the set-up first."
    log_in_tab(tab, "")
    login = _substate(tab, LoginState)
    await LoginState.submit.fn(login, {"email": 5, "password": None})
    assert login.error == "Email or password is incorrect."


async def test_personal_tokens_are_made_shown_once_and_revoked_on_the_account_page(
    db: AsyncSession, tab: State
) -> None:
    from backend.auth import personal_tokens

    admin = await make_user(db, Role.ADMIN)
    await _log_in(db, tab, admin)
    open_in_tab(tab, "/account")
    account = _substate(tab, AccountState)
    await AccountState.load.fn(account)
    assert account.may_admin_scope and account.api_tokens == []
    await AccountState.create_token.fn(
        account,
        {"token_name": " harvester ", "scope_read": "on", "scope_admin": "on", "days": "30"},
    )
    assert account.token_error == ""
    secret = account.new_token_secret
    assert secret.startswith("lib_")
    [row] = account.api_tokens
    assert (row["name"], row["scopes"], row["last_used"]) == ("harvester", "read, admin", "never")
    assert secret not in json_dumps(account.api_tokens)
    found = await auth.identify(session=db, token=secret)
    assert found is not None and found.scopes == {"read", "admin"}
    # Shown once: the next action clears it, and no reload brings it back.
    await AccountState.load.fn(account)
    assert account.new_token_secret == ""
    await AccountState.create_token.fn(account, {"token_name": "x", "days": "30"})
    assert account.token_error == "Choose at least one scope."
    await AccountState.create_token.fn(
        account, {"token_name": "x", "scope_read": "on", "days": "7"}
    )
    assert "30, 90 or 365" in account.token_error
    await AccountState.revoke_token.fn(account, int(row["id"]))
    assert account.api_tokens == [] and "revoked" in account.notice
    assert await personal_tokens.lookup(db, secret) is None


async def test_a_librarian_cannot_give_a_token_the_admin_scope(
    db: AsyncSession, tab: State
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    await _log_in(db, tab, librarian)
    open_in_tab(tab, "/account")
    account = _substate(tab, AccountState)
    await AccountState.load.fn(account)
    assert not account.may_admin_scope
    await AccountState.create_token.fn(
        account, {"token_name": "x", "scope_admin": "on", "days": "90"}
    )
    assert account.token_error == "Only an admin's token may have the admin scope."
    assert account.api_tokens == []
