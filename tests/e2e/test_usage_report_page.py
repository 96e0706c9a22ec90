"""The monthly usage report in a real browser: an admin asks for it on the account page,
and once a month is made finds it under "Monthly reports" on the analytics page, as a
CSV download and as a printable page."""

import subprocess
import sys

from playwright.async_api import Browser, Page, expect
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.users.models import Role
from tests.backend.test_usage_report import sections
from tests.e2e.conftest import ROOT, PageErrors, ServedApp, goto
from tests.factories import PASSWORD, make_user


async def _log_in(browser: Browser, app: ServedApp, email: str, errors: PageErrors) -> Page:
    page = errors.watch(await (await browser.new_context(accept_downloads=True)).new_page())
    await goto(page, f"{app.url}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{app.url}/")
    return page


async def test_an_admin_asks_for_the_report_and_opens_it(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    admin = await make_user(app_db, Role.ADMIN, email="reports@example.org")
    await app_db.commit()
    page = await _log_in(browser, served_app, admin.email, page_errors)
    await goto(page, f"{served_app.url}/account")
    await page.click("#usage-report-opt-in")
    await expect(page.get_by_text("will be e-mailed to you")).to_be_visible()
    opted = await app_db.exec(  # type: ignore[call-overload]
        text("SELECT usage_report_opt_in FROM users WHERE id = :id").bindparams(id=admin.id)
    )
    assert opted.scalar_one() is True

    await goto(page, f"{served_app.url}/admin/analytics")
    reports = page.locator("#monthly-reports")
    await expect(reports).to_contain_text("None yet")
    made = subprocess.run(
        [sys.executable, "-m", "backend.cli", "usage-report", "2026-03"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=served_app.env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert made.returncode == 0 and "1 e-mail queued" in made.stdout, made.stderr

    await goto(page, f"{served_app.url}/admin/analytics")
    await expect(reports).to_contain_text("March 2026")
    async with page.expect_download() as download:
        await page.click("#report-2026-03-csv")
    body = open(await (await download.value).path(), "rb").read()
    assert sections(body)["report"][0]["month"] == "2026-03"
    async with page.context.expect_page() as opened:
        await page.click("#report-2026-03-html")
    printable = page_errors.watch(await opened.value)
    await printable.wait_for_load_state()
    await expect(printable).to_have_title("Usage report: March 2026")
    await expect(printable.locator("#figure-searches")).to_contain_text("Searches")
