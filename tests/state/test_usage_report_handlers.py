"""The usage report's handlers through the real state classes: an admin ticks the opt-in
on their account page and finds the reports on the analytics page; anyone else who sends
the same event (the websocket is open to them) is refused by the backend."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from reflex.state import State
from sqlmodel.ext.asyncio.session import AsyncSession

import app.app  # noqa: F401  (registers every state)
from backend.analytics import report
from backend.auth import service as auth
from backend.mail.service import queue_message
from backend.redis_client import get_redis
from backend.storage.service import get_store
from backend.users.models import Role, User
from state.account import AccountState
from state.analytics import AnalyticsState
from tests.factories import PASSWORD, log_in_tab, make_user, open_in_tab


def _substate(root: State, cls: type[Any]) -> Any:
    return root.get_substate(cls.get_full_name().split("."))


@pytest.fixture
async def tab(clean: None) -> AsyncIterator[State]:
    yield State(_reflex_internal_init=True)


async def _as(db: AsyncSession, tab: State, user: User) -> None:
    result = await auth.login(session=db, redis=get_redis(), email=user.email, password=PASSWORD)
    await db.commit()
    log_in_tab(tab, result.token)


async def test_an_admin_asks_for_the_report_and_finds_it(
    db: AsyncSession, tab: State, data_dir: Path
) -> None:
    admin = await make_user(db, Role.ADMIN)
    await _as(db, tab, admin)
    open_in_tab(tab, "/account")
    account = _substate(tab, AccountState)
    await AccountState.load.fn(account)
    assert (account.may_get_report, account.usage_report) == (True, False)
    await AccountState.set_usage_report.fn(account, on=True)
    assert account.usage_report and not account.error
    await db.refresh(admin)
    assert admin.usage_report_opt_in

    made = await report.make(
        session=db,
        store=get_store(),
        mail=queue_message,
        month=report.Month.parse("2026-03"),
    )
    assert made.mailed == 1
    open_in_tab(tab, "/admin/analytics?days=7")
    analytics = _substate(tab, AnalyticsState)
    await AnalyticsState.load.fn(analytics)
    assert analytics.reports == [
        {
            "month": "2026-03",
            "label": "March 2026",
            "href": "/api/v1/admin/reports/usage/2026-03",
        }
    ]
    await AccountState.set_usage_report.fn(account, on=False)
    await db.refresh(admin)
    assert not admin.usage_report_opt_in


@pytest.mark.parametrize("role", [Role.LIBRARIAN, Role.PATRON])
async def test_anyone_else_is_refused(db: AsyncSession, tab: State, role: Role) -> None:
    user = await make_user(db, role)
    await _as(db, tab, user)
    open_in_tab(tab, "/account")
    account = _substate(tab, AccountState)
    await AccountState.load.fn(account)
    assert (account.may_get_report, account.usage_report) == (False, False)
    await AccountState.set_usage_report.fn(account, on=True)
    assert account.error and not account.usage_report
    await db.refresh(user)
    assert not user.usage_report_opt_in
