"""The audit log in a real browser: an admin finds staff's changes and logins, filters
them and pages back; nobody else finds the page."""

import re

from playwright.async_api import Browser, expect
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.collections import service as collections
from backend.users.models import Role
from tests.e2e.conftest import PageErrors, ServedApp, goto, log_in
from tests.factories import make_user


async def test_an_admin_reads_filters_and_pages_the_audit_log(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    admin = await make_user(app_db, Role.ADMIN, email="admin@example.org")
    librarian = await make_user(app_db, Role.LIBRARIAN, email="ursula@example.org")
    patron = await make_user(app_db, email="patron@example.org")
    shelf = await collections.create(session=app_db, actor=librarian, name="Harbour charts")
    await collections.update(
        session=app_db,
        actor=librarian,
        collection_id=shelf.id,  # type: ignore[arg-type]
        name="Harbour charts",
        description="",
        is_public=False,
    )
    # Sixty older changes, to page through.
    await app_db.exec(
        text(
            "INSERT INTO audit_log (collection_id, actor_id, actor_name, action, label, "
            "changes, at) SELECT :c, :a, 'Ursula', 'cover_set', 'Harbour charts', '{}', "
            "now() - make_interval(days => 1, secs => g) FROM generate_series(1, 60) g"
        ).bindparams(c=shelf.id, a=librarian.id)
    )
    await app_db.commit()

    other = await log_in(browser, served_app, librarian.email, page_errors)  # a staff login
    page = await log_in(browser, served_app, admin.email, page_errors)
    await page.get_by_role("link", name="Audit").click()
    await expect(page).to_have_url(f"{served_app.url}/admin/audit")
    log = page.locator("#audit-log")
    rows = log.locator("tbody tr")
    await expect(rows.first).to_contain_text("staff login")  # the admin's own, just now
    await expect(log).to_contain_text("ursula@example.org")
    changed = rows.filter(has_text="collection changed")
    await expect(changed).to_contain_text("public: True → False")
    await expect(changed).to_contain_text(f"collection {shelf.id}")
    await expect(rows).to_have_count(50)

    # The next page holds the rest, and back again.
    await page.get_by_role("button", name="Older →").click()
    await expect(rows).to_have_count(64 - 50)
    await expect(page.get_by_role("button", name="Older →")).to_be_disabled()
    await page.get_by_role("button", name="← Newer").click()
    await expect(rows).to_have_count(50)

    # Filters: by action, then by who; they are in the address, and the form shows them.
    await page.select_option("#audit-action", "collection_created")
    await page.click("button:text('Filter')")
    await expect(page).to_have_url(re.compile(r"action=collection_created"))
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Harbour charts")
    await expect(page.locator("#audit-action")).to_have_value("collection_created")
    await goto(page, f"{served_app.url}/admin/audit?actor=admin%40example")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("staff login")
    await expect(page.locator("#audit-actor")).to_have_value("admin@example")
    await goto(page, f"{served_app.url}/admin/audit?from=2020-01-01&to=2020-12-31")
    await expect(page.locator("#audit-empty")).to_be_visible()
    await goto(page, f"{served_app.url}/admin/audit?from=2021-01-02&to=2021-01-01")
    await expect(page.get_by_text("The first day comes after the last.")).to_be_visible()

    for who in (other, await log_in(browser, served_app, patron.email, page_errors)):
        await expect(who.get_by_role("link", name="Audit")).to_have_count(0)
        await goto(who, f"{served_app.url}/admin/audit")
        await expect(who.get_by_role("heading", name="Not found")).to_be_visible()
        await expect(who.locator("#audit-log")).to_have_count(0)
    assert not page_errors.messages, page_errors.messages
