"""Every admin page, read from the app's route list (a page added tomorrow is in this test
without anyone adding it): anonymous visitors and patrons find no page at any of them,
librarians only at the staff ones, and none of them gets a link to one it cannot open."""

from playwright.async_api import Browser, Page, expect
from sqlmodel.ext.asyncio.session import AsyncSession

from app import routes
from backend.users.models import Role
from tests.e2e.conftest import PageErrors, ServedApp, goto, log_in
from tests.factories import make_user

ADMIN_PAGES = {
    value: name
    for name, value in vars(routes).items()
    if isinstance(value, str) and value.startswith("/admin")
}
# Pages librarians open too (scoped to their collections); every other is admins' only.
STAFF_PAGES = {routes.ADMIN_ANALYTICS}


async def _finds_no_page(page: Page, url: str) -> None:
    await goto(page, url)
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await expect(page.locator("table")).to_have_count(0)


async def test_only_admins_find_the_admin_pages(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    assert len(ADMIN_PAGES) >= 4, ADMIN_PAGES  # users, analytics, status, audit at least
    admin = await make_user(app_db, Role.ADMIN, email="admin@example.org")
    librarian = await make_user(app_db, Role.LIBRARIAN, email="librarian@example.org")
    patron = await make_user(app_db, email="patron@example.org")
    await app_db.commit()

    anonymous = page_errors.watch(await (await browser.new_context()).new_page())
    as_patron = await log_in(browser, served_app, patron.email, page_errors)
    as_librarian = await log_in(browser, served_app, librarian.email, page_errors)
    as_admin = await log_in(browser, served_app, admin.email, page_errors)
    nav = "nav a[href^='/admin']"
    for page in (anonymous, as_patron):
        await goto(page, served_app.url)
        await expect(page.locator(nav)).to_have_count(0)
    await goto(as_librarian, served_app.url)
    await expect(as_librarian.locator(nav)).to_have_count(len(STAFF_PAGES))
    await goto(as_admin, served_app.url)
    await expect(as_admin.locator(nav)).to_have_count(len(ADMIN_PAGES))

    for path in ADMIN_PAGES:
        url = f"{served_app.url}{path}"
        await _finds_no_page(anonymous, url)
        await _finds_no_page(as_patron, url)
        if path in STAFF_PAGES:
            await goto(as_librarian, url)
            await expect(as_librarian.get_by_role("heading", name="Not found")).to_have_count(0)
        else:
            await _finds_no_page(as_librarian, url)
        await goto(as_admin, url)
        await expect(as_admin.get_by_role("heading", name="Not found")).to_have_count(0)
        await expect(as_admin.locator("main h1, h1").first).to_be_visible()
    assert not page_errors.messages, page_errors.messages
