"""The admin's list of accounts: keyset pages in e-mail order, search, role and status."""

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import admin
from backend.errors import InvalidInput, NotAuthenticated, PermissionDenied
from backend.users.models import Role
from tests.factories import make_user


async def test_pages_search_and_filters(db: AsyncSession) -> None:
    boss = await make_user(db, Role.ADMIN, email="boss@example.org")
    patron = await make_user(db, email="patron@example.org")
    await db.commit()
    # 120 more accounts straight into the table (bcrypt for each would take minutes).
    await db.exec(  # type: ignore[call-overload]
        text(
            "INSERT INTO users (email, display_name, password_hash, role, is_active, created_at) "
            "SELECT 'reader' || lpad(n::text, 3, '0') || '@example.org', "
            "CASE WHEN n % 10 = 0 THEN 'Ada Smith ' || n ELSE 'Reader ' || n END, 'x', "
            "CASE WHEN n % 40 = 0 THEN 'librarian' ELSE 'patron' END, n % 7 <> 0, now() "
            "FROM generate_series(1, 120) n"
        )
    )
    await db.commit()

    seen, after = [], ""
    while True:
        page = await admin.page_accounts(session=db, actor=boss, after=after, limit=50)
        seen += [a.user.email for a in page.accounts]
        if not page.next_after:
            break
        after = page.next_after
    assert len(seen) == 122 and seen == sorted(seen)  # every account once, in order

    async def emails(**kw: str) -> list[str]:
        page = await admin.page_accounts(session=db, actor=boss, limit=200, **kw)
        return [a.user.email for a in page.accounts]

    smiths = await emails(search="  SMITH ")  # inside names, any case
    assert len(smiths) == 12 and all(e.startswith("reader") for e in smiths)
    assert await emails(search="reader007") == ["reader007@example.org"]  # inside e-mails
    assert await emails(search="bo") == ["boss@example.org"]  # short: the start only
    assert await emails(search="%") == [] and await emails(search="_") == []  # not wildcards
    assert len(await emails(role="librarian")) == 3
    assert len(await emails(status="disabled")) == 17
    assert await emails(role="librarian", search="smith") == [
        "reader040@example.org",
        "reader080@example.org",
        "reader120@example.org",
    ]
    assert await emails(role="librarian", status="disabled") == []
    with pytest.raises(InvalidInput):
        await emails(role="wizard")
    with pytest.raises(InvalidInput):
        await emails(status="asleep")
    with pytest.raises(PermissionDenied):
        await admin.page_accounts(session=db, actor=patron)
    with pytest.raises(NotAuthenticated):
        await admin.page_accounts(session=db, actor=None)


async def test_many_matches_page_alike_whichever_way_they_are_read(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    boss = await make_user(db, Role.ADMIN, email="boss@example.org")
    await db.commit()
    await db.exec(  # type: ignore[call-overload]
        text(
            "INSERT INTO users (email, display_name, password_hash, role, is_active, created_at) "
            "SELECT 'reader' || lpad(n::text, 3, '0') || '@example.org', 'Reader ' || n, 'x', "
            "'patron', true, now() FROM generate_series(1, 90) n"
        )
    )
    await db.commit()

    async def pages(search: str) -> list[list[str]]:
        out, after = [], ""
        while True:
            page = await admin.page_accounts(
                session=db, actor=boss, search=search, after=after, limit=20
            )
            out.append([a.user.email for a in page.accounts])
            if not page.next_after:
                return out
            after = page.next_after

    sorted_reads = await pages("reader")  # 90 matches: read and sorted
    monkeypatch.setattr(admin, "MATCHES_SORTED", 5)
    walked = await pages("reader")  # more than 5: the e-mail order walked
    assert walked == sorted_reads and sum(map(len, walked)) == 90
    assert await pages("nobody") == [[]]
