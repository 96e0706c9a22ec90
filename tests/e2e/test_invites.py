"""An admin invites a librarian on the Users page; the invitee follows the mailed link,
chooses a name and a password, and is logged in as a librarian with the staff menu."""

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.users.models import Role
from tests.e2e.account_helpers import link_in, take_mail
from tests.e2e.conftest import PageErrors, ServedApp, goto
from tests.factories import PASSWORD, enable_second_factor, make_user

pytestmark = pytest.mark.e2e

SUBJECT = "You are invited to the library"


async def _log_in_with_code(page: Page, app: ServedApp, email: str, secret: str) -> None:
    await goto(page, f"{app.url}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    await page.click("#code-submit")
    await page.wait_for_url(f"{app.url}/")
    await expect(page.locator("#logout")).to_be_visible()


async def test_an_invited_librarian_joins_by_the_mailed_link(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    app = served_app
    chief = await make_user(app_db, Role.ADMIN, email="chief@example.org")
    secret = await enable_second_factor(app_db, chief)
    await make_user(app_db, email="reader@example.org")
    await app_db.commit()

    admin_context = await browser.new_context()
    admin = page_errors.watch(await admin_context.new_page())
    await _log_in_with_code(admin, app, chief.email, secret)
    await goto(admin, f"{app.url}/admin/users")
    await expect(admin.locator("#no-invitations")).to_be_visible()

    # An address that has an account is refused, with what to do instead.
    await admin.fill("#invite-email", "reader@example.org")
    await admin.click("#invite-submit")
    await expect(admin.get_by_role("alert")).to_contain_text(
        "reader@example.org already has an account (patron). Change its role"
    )
    await expect(admin.locator("#invite-email")).to_have_value("reader@example.org")

    await admin.fill("#invite-email", "Nora.Shelf@Example.org")
    await admin.click("#invite-submit")
    await expect(admin.get_by_role("status")).to_contain_text("Invitation sent")
    await expect(admin.locator("#invite-email")).to_have_value("")
    rows = admin.locator(".invitation-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("nora.shelf@example.org")
    await expect(rows.first).to_contain_text("librarian")
    first = link_in(await take_mail(app, "nora.shelf@example.org", SUBJECT))
    assert first.startswith(f"{app.url}/accept-invite?token=")

    # Sent again: a new link, and the first one says it was replaced.
    await admin.get_by_role(
        "button", name="Send the invitation of nora.shelf@example.org again"
    ).click()
    await expect(admin.get_by_role("status")).to_contain_text("earlier link no longer works")
    link = link_in(await take_mail(app, "nora.shelf@example.org", SUBJECT))
    assert link != first

    # Another invitation, revoked: its row goes.
    await admin.fill("#invite-email", "mistake@example.org")
    await admin.get_by_label("Invite as").select_option("admin")
    await admin.click("#invite-submit")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="mistake@example.org")).to_contain_text("admin")
    await admin.get_by_role("button", name="Revoke the invitation of mistake@example.org").click()
    await expect(admin.get_by_role("status")).to_contain_text("Invitation revoked")
    await expect(rows).to_have_count(1)

    invitee_context = await browser.new_context()
    invitee = page_errors.watch(await invitee_context.new_page())
    await goto(invitee, first)
    await expect(invitee.get_by_role("alert")).to_contain_text("A newer invitation was sent")
    await expect(invitee.locator("#accept-invite")).to_have_count(0)

    await goto(invitee, link)
    address = invitee.locator("input[name=email]")
    await expect(address).to_have_value("nora.shelf@example.org")
    await expect(address).not_to_be_editable()
    await invitee.fill("input[name=name]", "Nora Shelf")
    await invitee.fill("input[name=password]", "purple elephant river tango")
    await invitee.fill("input[name=password2]", "purple elephant river tango")
    await invitee.click("#accept-invite")
    await invitee.wait_for_url(f"{app.url}/")
    await expect(invitee.locator("#account-link")).to_contain_text("Nora Shelf")
    nav = invitee.get_by_role("navigation", name="Main")
    await expect(nav).to_contain_text("librarian")
    await expect(nav.get_by_role("link", name="Analytics")).to_be_visible()
    await expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    cookies = {c["name"]: c for c in await invitee_context.cookies()}
    assert cookies["library_session"]["httpOnly"]

    # The link worked once.
    await goto(invitee, link)
    await expect(invitee.get_by_role("alert")).to_contain_text(
        "already accepted: log in with nora.shelf@example.org"
    )

    await goto(admin, f"{app.url}/admin/users")
    await expect(admin.locator("#no-invitations")).to_be_visible()
    log = admin.locator("#account-log")
    for action in ("invitation accepted", "invitation revoked", "invitation sent"):
        await expect(log).to_contain_text(action)
    await expect(admin.locator("#account-log .audit-row").first).to_contain_text(
        "invited by chief@example.org"
    )
    await admin_context.close()
    await invitee_context.close()
    assert page_errors.messages == []
    assert app.errors() == []
