"""Saved searches in a real browser, at both widths: a patron keeps a search from the
search page, finds it on their account page with its e-mail alert and its Atom feed,
turns the alert off, gives the feed a new address and deletes the search."""

from pathlib import Path

import pytest
from lxml import etree
from playwright.async_api import Browser, expect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.users.models import Role
from bench.common import bulk_load
from tests.e2e.conftest import PageErrors, ServedApp, goto, index_now, log_in
from tests.factories import make_user

ATOM = {"a": "http://www.w3.org/2005/Atom"}


def _books(word: str) -> list[dict[str, object]]:
    return [
        {
            "title": f"Lighthouse keeping, volume {i}",
            "text": f"Lamps, lenses and storms at sea; {word}.",
            "authors": ["Stevenson, Alan"],
            "year": 1840 + i,
            "language": "en",
        }
        for i in range(1, 4)
    ]


@pytest.mark.parametrize("width", [1280, 390])
async def test_a_patron_keeps_a_search_and_manages_it_on_their_account_page(
    served_app: ServedApp,
    browser: Browser,
    page_errors: PageErrors,
    app_db: AsyncSession,
    width: int,
    tmp_path: Path,
) -> None:
    word = f"w{width}"  # (the two widths' searches find their own books)
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    await bulk_load(_books(word), f"Saved shore {width}", engine=engine, catalogue=True)
    async with engine.begin() as conn:  # (as if just processed: the feed's window)
        await conn.execute(text("UPDATE document_versions SET processed_at = now()"))
    await index_now(served_app, engine)
    await engine.dispose()
    patron = await make_user(app_db, Role.PATRON, email=f"keeper{width}@example.org")
    await app_db.commit()
    page = await log_in(browser, served_app, patron.email, page_errors)
    await page.set_viewport_size({"width": width, "height": 900})

    await goto(page, f"{served_app.url}/search?q=lighthouse+{word}&author=Stevenson%2C+Alan")
    await page.locator(".search-hit").first.wait_for()
    await page.locator("#save-search").click()
    await page.get_by_text(f"Saved as “lighthouse {word}”").wait_for()
    await page.locator("#save-search").click()  # the same search again: kept once
    await page.get_by_text("You keep this search already").wait_for()

    await goto(page, f"{served_app.url}/account")
    row = page.locator(".saved-search")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(f"lighthouse {word}")
    await expect(row).to_contain_text("author: Stevenson, Alan")
    await expect(row).to_contain_text("nothing new yet")
    await page.screenshot(path=str(tmp_path / f"saved-searches-{width}.png"), full_page=True)
    feed = await row.locator(".saved-feed").get_attribute("href")
    assert feed is not None and "/feed.atom?key=" in feed
    answer = await page.request.get(feed.replace("http://localhost:3000", served_app.url))
    assert answer.ok and answer.headers["content-type"].startswith("application/atom+xml")
    root = etree.fromstring(await answer.body())
    assert len(root.findall("a:entry", ATOM)) == 3

    alert = row.get_by_role("checkbox")
    await expect(alert).to_be_checked()
    await alert.click()
    await page.get_by_text("No more e-mails for this search").wait_for()
    await expect(alert).not_to_be_checked()

    await row.get_by_role("button", name="New address").click()
    await page.get_by_text("The feed has a new address").wait_for()
    old = await page.request.get(feed.replace("http://localhost:3000", served_app.url))
    assert old.status == 404

    await row.locator("summary", has_text="Rename").click()
    await row.get_by_label(f"New name of lighthouse {word}").fill(f"  Stevenson's {word} ")
    await row.get_by_role("button", name="Rename").click()
    await page.get_by_text("Renamed.").wait_for()
    await expect(row.get_by_role("link").first).to_have_text(f"Stevenson's {word}")
    await row.get_by_role("button", name=f"Delete the saved search Stevenson's {word}").click()
    await page.locator("#no-saved-searches").wait_for()
    await expect(page.locator(".saved-search")).to_have_count(0)
    assert page_errors.messages == []
    assert served_app.errors() == []
    await page.context.close()
