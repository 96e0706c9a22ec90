"""Inviting a librarian in Chromium: an admin (with their second factor) invites an
address from the Users page; the mailed link lets the invitee choose a name and a password
and lands them logged in, as a librarian; the link works once."""

import time

import pyotp
from playwright.async_api import Browser, expect
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.users.models import Role
from tests.e2e.account_helpers import link_in, take_mail
from tests.e2e.conftest import PageErrors, ServedApp, goto
from tests.factories import PASSWORD, enable_second_factor, make_user


async def test_an_invited_librarian_joins_by_the_mailed_link(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    admin = await make_user(app_db, Role.ADMIN, email="chief@example.org")
    secret = await enable_second_factor(app_db, admin)
    await app_db.commit()

    page = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(page, f"{served_app.url}/login")
    await page.fill("input[name=email]", admin.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    await page.click("#code-submit")
    await page.wait_for_url(f"{served_app.url}/")
    await page.get_by_role("link", name="Users").click()
    await page.fill("#invite-email", "nora@example.org")
    await page.click("#invite-submit")
    row = page.locator(".invitation-row", has_text="nora@example.org")
    await expect(row).to_contain_text("librarian")

    mail = await take_mail(served_app, "nora@example.org", "You are invited to the library")
    link = link_in(mail)
    assert "/accept-invite?token=" in link
    path = link[link.index("/accept-invite") :]

    invitee = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(invitee, f"{served_app.url}{path}")
    await expect(invitee.get_by_label("Email")).to_have_value("nora@example.org")
    await invitee.get_by_label("Name").fill("Nora Keeper")
    passphrase = "lamps and charts of the north harbour"
    await invitee.get_by_label("Password (8 characters or more; a few words make a good one)").fill(
        passphrase
    )
    await invitee.get_by_label("Repeat the password").fill(passphrase)
    await invitee.click("#accept-invite")
    await invitee.wait_for_url(f"{served_app.url}/")
    await expect(invitee.locator("#logout")).to_be_visible()
    await expect(invitee.get_by_text("Nora Keeper")).to_be_visible()
    # A librarian: the staff's analytics, not the admins' pages.
    await expect(invitee.get_by_role("link", name="Analytics")).to_be_visible()
    await expect(invitee.get_by_role("link", name="Users")).to_have_count(0)

    # The invitation is used: gone from the admin's list, and the link works no more.
    await page.reload()
    await page.locator('[data-ready="true"]').wait_for()
    await expect(page.locator(".invitation-row", has_text="nora@example.org")).to_have_count(0)
    again = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(again, f"{served_app.url}{path}")
    await expect(again.get_by_text("already accepted")).to_be_visible()
    await expect(again.locator("#accept-invite")).to_have_count(0)
    assert not page_errors.messages, page_errors.messages
