"""The whole first slice, in Chromium, against the app served in prod mode."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents.models import Document
from backend.mail.models import OutboxMessage
from tests.e2e.account_helpers import link_in, set_up_second_factor, take_mail
from tests.e2e.conftest import ROOT, PageErrors, ServedApp, goto

pytestmark = pytest.mark.e2e
ADMIN = ("admin@example.org", "the admin's long passphrase")
LIBRARIAN = ("librarian@example.org", "shelves and catalogues")
PATRON = ("patron@example.org", "reading all night long")


async def _register(page: Page, app: ServedApp, name: str, email: str, password: str) -> None:
    """Register, then follow the link mailed to the address (the account exists from then)."""
    await goto(page, f"{app.url}/register")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.fill("input[name=password2]", password)
    await page.click("button[type=submit]")
    await expect(page.locator("#register-sent")).to_contain_text(f"We sent a link to {email}")
    mail = await take_mail(app, email, "Finish your library registration")
    await goto(page, link_in(mail))
    await page.click("#confirm-registration")
    await expect(page.get_by_text("Your account is ready.")).to_be_visible()
    # Its login page has the address filled in already.
    await page.click("#log-in-now")
    await expect(page.locator("input[name=email]")).to_have_value(email)


async def _log_in(page: Page, app: ServedApp, email: str, password: str) -> None:
    await goto(page, f"{app.url}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("#login-submit")
    await page.wait_for_url(f"{app.url}/")
    await expect(page.locator("#logout")).to_be_visible()


def _create_admin(app: ServedApp, name: str = "") -> None:
    """The first admin comes from the command line, as the README says."""
    command = [sys.executable, "-m", "backend.cli", "create-admin", ADMIN[0], "--password-stdin"]
    created = subprocess.run(
        [*command, "--name", name] if name else command,
        input=ADMIN[1] + "\n",
        text=True,
        capture_output=True,
        cwd=ROOT,
        env=app.env,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr


async def _new_page(browser: Browser, errors: PageErrors) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(accept_downloads=True)
    return context, errors.watch(await context.new_page())


async def _create_collection(page: Page, app: ServedApp, name: str, private: bool) -> None:
    await goto(page, f"{app.url}/collections")
    await page.fill("input[name=name]", name)
    if private:
        await page.get_by_role("radio", name="private").click()
    await page.click("text=Create collection")
    await expect(page.get_by_role("heading", name=name)).to_be_visible()


async def _upload(page: Page, path: Path) -> None:
    await page.locator("#documents input[type=file]").set_input_files(str(path))
    row = page.locator(".document-row", has_text=path.name)
    await expect(row.get_by_text("ready")).to_be_visible(timeout=60_000)


async def test_librarian_uploads_and_patron_finds_reads_and_downloads(
    served_app: ServedApp,
    browser: Browser,
    page_errors: PageErrors,
    corpus: Path,
    app_db: AsyncSession,
) -> None:
    app = served_app
    public_pdf = corpus / "files" / "py-pdf-sample-files" / "crazyones-pdfa.pdf"
    private_pdf = corpus / "files" / "py-pdf-sample-files" / "pdflatex-4-pages.pdf"

    _create_admin(app, name="Ada Admin")

    # A librarian registers; the admin gives them the librarian role.
    lib_ctx, lib = await _new_page(browser, page_errors)
    await _register(lib, app, "Lena Librarian", *LIBRARIAN)
    admin_ctx, admin = await _new_page(browser, page_errors)
    await _log_in(admin, app, *ADMIN)
    # An admin changes accounts only with a second factor of their own.
    await set_up_second_factor(admin, app)
    await admin.get_by_role("link", name="Users").click()
    await admin.get_by_label(f"Role of {LIBRARIAN[0]}").click()
    await admin.get_by_role("option", name="librarian").click()
    await expect(admin.get_by_label(f"Role of {LIBRARIAN[0]}")).to_have_text("librarian")
    # Said where the admin looks (a toast), not only at the top of the page.
    await expect(admin.get_by_text(f"{LIBRARIAN[0]} is now a librarian.").first).to_be_visible()
    log = admin.locator("#account-log .audit-row").first
    await expect(log).to_contain_text("role changed")
    await expect(log).to_contain_text(LIBRARIAN[0])
    await admin_ctx.close()

    # The librarian creates a public and a private collection and uploads a real PDF to each.
    await _log_in(lib, app, *LIBRARIAN)
    await _create_collection(lib, app, "Open papers", private=False)
    await _upload(lib, public_pdf)
    await _create_collection(lib, app, "Staff only", private=True)
    await _upload(lib, private_pdf)
    private_doc_url = await lib.locator(".document-row a").first.get_attribute("href")
    # A file of a type the library refuses ends with its reason, and no Retry: sending it
    # again would fail the same way.
    await lib.locator("#documents input[type=file]").set_input_files(
        str(corpus / "files" / "pillow" / "hopper.bmp")
    )
    refused = lib.locator(".document-row", has_text="hopper.bmp")
    await expect(refused.get_by_text("a BMP image) are not accepted")).to_be_visible(timeout=60_000)
    await expect(refused.locator(".retry")).to_have_count(0)
    # The upload ends with a summary of how each of its files ended.
    await expect(lib.locator("#upload-summary")).to_have_text(
        "The file of your upload processed: 1 failed."
    )
    await lib_ctx.close()

    # A patron searches a word from the public PDF, sees it highlighted, opens and downloads it.
    pat_ctx, pat = await _new_page(browser, page_errors)
    await _register(pat, app, "Pat Patron", *PATRON)
    await _log_in(pat, app, *PATRON)
    await pat.fill("input[name=q]", "misfits")
    await pat.keyboard.press("Enter")
    await pat.wait_for_url(re.compile(r".*/search\?q=misfits"))
    hit = pat.locator(".search-hit")
    await expect(hit).to_have_count(1)
    await expect(hit.locator("mark.hit")).to_have_text(re.compile("misfits", re.I))
    await hit.locator(".hit-title").click()
    # Its title is its first heading, not its file name (crazyones-pdfa.pdf).
    await expect(pat.locator("#document-title")).to_have_text("The Crazy Ones")
    async with pat.expect_download() as info:
        await pat.locator("#download").click()
    download = await info.value
    assert download.suggested_filename == public_pdf.name
    saved = Path(await download.path())
    assert (
        hashlib.sha256(saved.read_bytes()).hexdigest()
        == hashlib.sha256(public_pdf.read_bytes()).hexdigest()
    )

    # The patron is no member of the private collection: no hit, no page, no download.
    await goto(pat, f"{app.url}/search?q=gefburn")
    await expect(pat.locator("#result-count")).to_contain_text("0 documents found")
    assert private_doc_url
    await goto(pat, app.url + private_doc_url)
    await expect(
        pat.get_by_text("This document does not exist, or you may not see it.")
    ).to_be_visible()
    doc_id = private_doc_url.rstrip("/").split("/")[-1]
    response = await pat.request.get(f"{app.url}/api/v1/documents/{doc_id}/download")
    assert response.status == 404
    await pat_ctx.close()

    assert page_errors.messages == []
    assert app.errors() == []


async def test_password_reset_through_the_mailbox(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    app = served_app
    context, page = await _new_page(browser, page_errors)
    await _register(page, app, "Forgetful Fred", "fred@example.org", "my first passphrase")
    await goto(page, f"{app.url}/forgot-password")
    await page.fill("input[name=email]", "fred@example.org")
    await page.click("button[type=submit]")
    await expect(page.get_by_text("a reset link is on its way")).to_be_visible()

    link = link_in(await take_mail(app, "fred@example.org", "Reset your library password"))
    assert "/reset-password?token=" in link
    # Delivered: the outbox keeps who and when, not the body with its link.
    message = (
        await app_db.exec(select(OutboxMessage).where(OutboxMessage.subject.contains("Reset")))  # type: ignore[attr-defined]
    ).one()
    assert message.sent_at is not None and message.body == ""
    await goto(page, link)
    await page.fill("input[name=password]", "my second passphrase")
    await page.fill("input[name=password2]", "my second passphrase")
    await page.click("button[type=submit]")
    await expect(page.get_by_text("Your password is changed")).to_be_visible()

    await _log_in(page, app, "fred@example.org", "my second passphrase")
    # The link works once only.
    await goto(page, link)
    await page.fill("input[name=password]", "my third passphrase")
    await page.fill("input[name=password2]", "my third passphrase")
    await page.click("button[type=submit]")
    await expect(page.get_by_text("invalid or has expired")).to_be_visible()
    await context.close()
    assert page_errors.messages == []
    assert app.errors() == []


async def test_cancelling_an_upload_keeps_nothing(
    served_app: ServedApp,
    browser: Browser,
    page_errors: PageErrors,
    app_db: AsyncSession,
    tmp_path: Path,
) -> None:
    app = served_app
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:
        for _ in range(600):
            fh.write(b"cancel me " * 104857 + b"\n")  # ~600 MB of text
    _create_admin(app)
    context, page = await _new_page(browser, page_errors)
    await _log_in(page, app, *ADMIN)
    await _create_collection(page, app, "Cancelled", private=False)
    objects = Path(app.env["DATA_DIR"]) / "objects"

    def stored_files() -> set[Path]:
        """Every file in the store but the pictures that processing the small file draws
        (its thumbnails and page image, there or not depending on how fast the worker is)."""
        if not objects.exists():
            return set()
        drawn = (objects / "thumbnails", objects / "pages")
        return {
            p
            for p in objects.rglob("*")
            if p.is_file() and not p.is_relative_to(drawn[0]) and not p.is_relative_to(drawn[1])
        }

    small = tmp_path / "small.txt"
    small.write_text("kept before the cancel\n" * 2000)
    before = stored_files()
    # Two files in one upload: each has its own bar; the first is stored while the second
    # is still being sent.
    await page.locator("#documents input[type=file]").set_input_files([str(small), str(big)])
    small_bar = page.get_by_role("progressbar", name="Sent of small.txt")
    big_bar = page.get_by_role("progressbar", name="Sent of big.txt")
    await expect(small_bar).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    await expect(page.locator(".incoming-file", has_text="small.txt")).to_contain_text("received")
    # The big file's bar moves with the bytes the browser has sent of it (1-99 %).
    await expect(big_bar).to_have_attribute("aria-valuenow", re.compile(r"^[1-9][0-9]?$"))
    await page.get_by_role("button", name="Cancel").click(timeout=30_000)
    await expect(page.get_by_role("button", name="Cancel")).to_have_count(0, timeout=30_000)
    await expect(page.get_by_text("Upload cancelled; big.txt was not kept.")).to_be_visible()
    await goto(page, page.url)
    await expect(page.locator(".document-row")).to_have_count(1)
    await expect(page.locator(".document-row", has_text="small.txt")).to_be_visible()
    kept = (await app_db.exec(select(Document))).all()
    assert [d.title for d in kept] == ["small"]
    # Only the small file was kept: nothing of the big one, not even a partial file.
    assert len(stored_files() - before) == 1
    await context.close()
    assert app.errors() == []
