"""Accounts in Chromium: a second factor set up on the account page and asked at the next
login; the session cookie is HttpOnly, so the page's scripts never see the token, and the
websocket never carries it; a change of address by the mailed link."""

import time
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Browser, expect
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.users.models import Role
from tests.e2e.account_helpers import link_in, set_up_second_factor, take_mail
from tests.e2e.conftest import PageErrors, ServedApp, goto
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.e2e


async def test_second_factor_login_and_a_token_no_script_can_read(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    app = served_app
    librarian = await make_user(app_db, Role.LIBRARIAN, email="warden@example.org")
    await app_db.commit()
    context = await browser.new_context()
    page = page_errors.watch(await context.new_page())
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: (
            ws.on("framereceived", lambda payload: frames.append(str(payload))),
            ws.on("framesent", lambda payload: frames.append(str(payload))),
        ),
    )

    async def log_in_with_password() -> None:
        await goto(page, f"{app.url}/login")
        await page.fill("input[name=email]", librarian.email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#login-submit")

    await log_in_with_password()
    await page.wait_for_url(f"{app.url}/")
    await expect(page.locator("#logout")).to_be_visible()
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["library_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert cookies["library_device"]["httpOnly"]
    assert "library_session" not in await page.evaluate("document.cookie")

    secret = await set_up_second_factor(page, app)
    assert session["value"] not in await page.evaluate("document.cookie")
    await page.click("#logout")
    await page.wait_for_url(f"{app.url}/")
    await expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    assert "library_session" not in {c["name"] for c in await context.cookies()}

    # The password alone is not enough any more: the page asks for a code.
    await log_in_with_password()
    await expect(page.get_by_label("Code")).to_be_visible()
    await page.get_by_label("Code").fill("000000")
    await page.click("#code-submit")
    await expect(page.get_by_text("That code is not right")).to_be_visible()
    # The code of the set-up's step is used up; the authenticator's next one is accepted.
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    await page.click("#code-submit")
    await page.wait_for_url(f"{app.url}/")
    await expect(page.locator("#logout")).to_be_visible()
    token = {c["name"]: c for c in await context.cookies()}["library_session"]["value"]
    assert token != session["value"]
    assert token not in await page.evaluate("document.cookie")
    await goto(page, f"{app.url}/account")
    await expect(page.locator("#account-identity")).to_contain_text(librarian.email)
    assert frames and not any(token in f or session["value"] in f for f in frames)
    await context.close()
    assert page_errors.messages == []
    assert app.errors() == []


async def test_a_new_address_by_the_mailed_link(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    app = served_app
    patron = await make_user(app_db, email="before@example.org")
    await app_db.commit()
    context = await browser.new_context()
    page = page_errors.watch(await context.new_page())
    await goto(page, f"{app.url}/login")
    await page.fill("input[name=email]", patron.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{app.url}/")
    await goto(page, f"{app.url}/account")
    await page.fill("input[name=email]", "after@example.org")
    await (
        page.locator("form", has=page.locator("#change-email"))
        .locator("input[name=password]")
        .fill(PASSWORD)
    )
    await page.click("#change-email")
    await expect(page.get_by_text("We sent a link to after@example.org")).to_be_visible()
    link = link_in(await take_mail(app, "after@example.org", "Confirm your new library address"))
    await goto(page, link)
    await page.click("#confirm-email")
    await expect(page.get_by_text("Your account now uses after@example.org.")).to_be_visible()
    notice = await take_mail(app, "before@example.org", "Your library address was changed")
    assert "after@example.org" in notice.get_content()
    await goto(page, f"{app.url}/account")
    await expect(page.locator("#account-identity")).to_contain_text("after@example.org")
    await context.close()
    assert page_errors.messages == []
    assert app.errors() == []


async def test_a_personal_api_token_made_used_and_revoked_from_the_account_page(
    served_app: ServedApp,
    browser: Browser,
    page_errors: PageErrors,
    app_db: AsyncSession,
    tmp_path: Path,
) -> None:
    import httpx

    app = served_app
    librarian = await make_user(app_db, Role.LIBRARIAN, email="scripter@example.org")
    await app_db.commit()
    context = await browser.new_context()
    page = page_errors.watch(await context.new_page())
    await goto(page, f"{app.url}/login")
    await page.fill("input[name=email]", librarian.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{app.url}/")
    await goto(page, f"{app.url}/account")
    await page.get_by_label("Name (what will use it)").fill("catalogue sync")
    await expect(page.locator("#scope-read")).to_be_checked()
    await expect(page.locator("#scope-admin")).to_have_count(0)  # a librarian's page
    await page.locator("#days").select_option("30")
    await page.click("#make-token")
    secret = (await page.locator("#new-token-secret").inner_text()).strip()
    assert secret.startswith("lib_")
    row = page.locator("#api-tokens tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("catalogue sync")
    await expect(row).to_contain_text("read")
    await page.screenshot(path=str(tmp_path / "account-api-tokens.png"), full_page=True)

    bearer = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=app.url) as api:
        assert (await api.get("/api/v1/collections", headers=bearer)).status_code == 200
        refused = await api.post("/api/v1/collections", json={"name": "X"}, headers=bearer)
        assert refused.status_code == 403 and "write scope" in refused.json()["detail"]
        await page.get_by_role("button", name="Revoke token catalogue sync").click()
        await expect(row).to_have_count(0)
        await expect(page.get_by_role("status")).to_contain_text("The token is revoked")
        # Revoked: the token is nobody, and a private or staff-only answer is refused.
        after = await api.post("/api/v1/collections", json={"name": "X"}, headers=bearer)
        assert after.status_code == 401
    await context.close()
    assert page_errors.messages == []
    assert app.errors() == []
