"""A record without a file, in a real browser at both widths: a curator catalogues a book
the library holds on paper from the collection page, lands on its page, and a patron
finds it by its author and opens it (no download, a word that it has no file)."""

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.users.models import Role
from tests.e2e.conftest import PageErrors, ServedApp, goto, log_in
from tests.factories import make_collection, make_user


@pytest.mark.parametrize("width", [1280, 390])
async def test_a_curator_catalogues_a_book_on_paper_and_a_patron_finds_it(
    served_app: ServedApp,
    browser: Browser,
    page_errors: PageErrors,
    app_db: AsyncSession,
    width: int,
    tmp_path: Path,
) -> None:
    curator = await make_user(app_db, Role.LIBRARIAN, email=f"shelver{width}@example.org")
    patron = await make_user(app_db, Role.PATRON, email=f"reader{width}@example.org")
    shelf = await make_collection(app_db, curator, f"Paper shelf {width}")
    await app_db.commit()
    page = await log_in(browser, served_app, curator.email, page_errors)
    await page.set_viewport_size({"width": width, "height": 900})
    await goto(page, f"{served_app.url}/collections/{shelf.slug}")
    await page.locator("#record-panel").click()
    form = page.locator(".record-panel")
    await form.locator("input[name=title]").fill(f"Treatise on lighthouse lenses {width}")
    await form.locator("textarea[name=creators]").fill("Fresnel, Augustin\nArago, François")
    await form.locator("input[name=date_issued]").fill("1822-02-30")  # no such day
    await page.locator("#catalogue-record").click()
    await expect(form).to_contain_text("There is no 1822-02-30")  # said by the server
    await form.locator("input[name=date_issued]").fill("1822")
    await page.screenshot(path=str(tmp_path / f"record-form-{width}.png"), full_page=True)
    await page.locator("#catalogue-record").click()
    await page.wait_for_url("**/documents/*")
    await expect(page.locator("#document-title")).to_have_text(
        f"Treatise on lighthouse lenses {width}"
    )
    await page.locator("#no-file").wait_for()
    await page.context.close()

    reader = await log_in(browser, served_app, patron.email, page_errors)
    await reader.set_viewport_size({"width": width, "height": 900})
    for _ in range(50):  # (the worker indexes it within a second or two)
        await goto(reader, f"{served_app.url}/search?q=author%3Aarago+lenses+{width}")
        if await reader.locator(".search-hit").count():
            break
        await reader.wait_for_timeout(200)
    hit = reader.locator(".search-hit")
    await expect(hit).to_have_count(1)
    await expect(hit).to_contain_text("Fresnel, Augustin")
    await expect(hit).to_contain_text("1822")
    await hit.locator(".hit-title").click()
    await reader.wait_for_url("**/documents/*")
    await reader.locator("#no-file").wait_for()
    await expect(reader.locator("#download")).to_have_count(0)
    await reader.get_by_text("Arago, François").first.wait_for()  # its record
    await expect(reader.locator("#bibtex")).to_contain_text("1822", use_inner_text=False)
    await reader.screenshot(path=str(tmp_path / f"record-page-{width}.png"), full_page=True)
    assert page_errors.messages == []
    assert served_app.errors() == []
    await reader.context.close()
