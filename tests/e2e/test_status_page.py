"""The system status page in a real browser, on the served app with its own worker: an
admin sees the services, the worker answering, and a job that failed in that worker, and
retries it; the page refreshes itself. Librarians and patrons find no page."""

import re

from arq.connections import RedisSettings, create_pool
from playwright.async_api import Browser, expect
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import queue
from backend.users.models import Role
from tests.e2e.conftest import PageErrors, ServedApp, goto, log_in
from tests.factories import make_user


async def test_an_admin_sees_a_failed_job_and_retries_it(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    admin = await make_user(app_db, Role.ADMIN, email="admin@example.org")
    librarian = await make_user(app_db, Role.LIBRARIAN, email="librarian@example.org")
    patron = await make_user(app_db, email="patron@example.org")
    await app_db.commit()

    page = await log_in(browser, served_app, admin.email, page_errors)
    await page.get_by_role("link", name="Status").click()
    await expect(page).to_have_url(f"{served_app.url}/admin/status")
    checks = page.locator("#status-checks")
    await expect(checks.get_by_role("row", name=re.compile("^Database "))).to_contain_text(
        "PostgreSQL"
    )
    await expect(checks.get_by_role("row", name=re.compile("^Migrations "))).to_contain_text(
        "the latest"
    )
    await expect(page.locator("#status-no-failures")).to_be_visible()
    # The app's own worker is heard from (the page refreshes itself: no reload here).
    await expect(page.locator("#status-live")).to_be_visible()
    await expect(page.locator("#status-workers")).to_contain_text("answering", timeout=20_000)

    # A job fails in the worker (an import check queued with an id that is not one: what
    # an older release's job might carry). arq forgets it within the hour; the page keeps
    # it, with the reason, and shows it without a reload.
    pool = await create_pool(
        RedisSettings.from_dsn(served_app.env["REDIS_URL"]),
        default_queue_name=queue.QUEUE_NAME,
        job_serializer=queue.serialize,
        job_deserializer=queue.deserialize,
    )
    served_app.provoked.add("not-an-id")
    try:
        await pool.enqueue_job("check_import", "not-an-id", _job_id="check-broken")
    finally:
        await pool.aclose()
    failed = page.locator("#status-failed")
    row = failed.get_by_role("row").filter(has_text="check_import")
    await expect(row).to_contain_text("invalid input syntax for type integer", timeout=20_000)
    await expect(row.get_by_role("cell").nth(2)).to_have_text("1")

    # Retry: queued again at once, run by the worker, and (the cause being still there)
    # failing a second time, which the line counts.
    await row.get_by_role("button", name="Retry check_import").click()
    await expect(page.get_by_text("Queued again as retry:")).to_be_visible()
    await expect(row.get_by_role("cell").nth(2)).to_have_text("2", timeout=20_000)
    await expect(row.get_by_role("button", name="Retry check_import")).to_be_visible()

    for who in (librarian, patron):
        other = await log_in(browser, served_app, who.email, page_errors)
        await expect(other.get_by_role("link", name="Status")).to_have_count(0)
        await goto(other, f"{served_app.url}/admin/status")
        await expect(other.get_by_role("heading", name="Not found")).to_be_visible()
        await expect(other.locator("#status-checks")).to_have_count(0)
    assert not page_errors.messages, page_errors.messages
    assert served_app.errors() == []
