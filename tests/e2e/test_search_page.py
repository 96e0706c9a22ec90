"""The search page in a real browser: facets, chips, sort, pages, did-you-mean, typing,
the address bar and the back button, and the keyboard."""

import asyncio
import re
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics.models import AnalyticsEvent
from bench.common import bulk_load
from tests.e2e.conftest import PageErrors, ServedApp, goto, index_now

BOOKS = [
    {
        "title": f"Lighthouse keeping, volume {i}",
        "text": "Lamps, lenses and storms at sea.",
        "authors": ["Stevenson, Alan"],
        "year": 1840 + i,
        "language": "en",
    }
    for i in range(1, 13)
] + [
    {
        "title": "The lighthouse cook book",
        "text": "Recipes for long winters.",
        "authors": ["Woolf, Virginia"],
        "year": 1927,
        "language": "en",
    },
    {
        "title": "Phares et balises",
        "text": "Les phares de Bretagne.",
        "authors": ["Le Goff, Anne"],
        "year": 1960,
        "language": "fr",
    },
]
SECRET = [
    {
        "title": "Lighthouse inspection reports",
        "text": "Confidential lighthouse audit.",
        "authors": ["Hidden, Harriet"],
        "year": 2001,
        "language": "en",
    },
]


async def _wait_for_click(db: AsyncSession) -> AnalyticsEvent:
    """The click, once the app's worker flushed it from Redis (every 5 seconds)."""
    for _ in range(300):
        found = (
            await db.exec(select(AnalyticsEvent).where(AnalyticsEvent.kind == "search_click"))
        ).first()
        if found is not None:
            return found
        await db.rollback()  # see the app's newer commits
        await asyncio.sleep(0.1)
    raise AssertionError("no click was recorded")


def _params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


async def test_searching_with_facets_sort_pages_and_typos(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    await bulk_load(BOOKS, "Sea and shore", engine=engine)
    await bulk_load(SECRET, "Staff files", engine=engine, public=False)
    await index_now(served_app, engine)
    await engine.dispose()

    context = await browser.new_context()
    page = page_errors.watch(await context.new_page())
    await goto(page, f"{served_app.url}/search?q=lighthouse")
    count = page.locator("#result-count")
    await expect(count).to_contain_text("13 documents found")  # never the private one
    await expect(page.locator(".search-hit")).to_have_count(10)
    authors = page.get_by_role("group", name="Author")
    await expect(authors).to_contain_text("Stevenson, Alan12")
    await expect(page.get_by_role("group", name="Collection")).not_to_contain_text("Staff")
    await expect(authors).not_to_contain_text("Hidden")

    # A facet narrows the results; its chip removes it again.
    await authors.get_by_label("Woolf, Virginia").click()
    await expect(count).to_contain_text("1 document found")
    assert _params(page)["author"] == ["Woolf, Virginia"]
    await expect(page.locator(".search-hit")).to_contain_text("The lighthouse cook book")
    # The author facet still offers the others, with their counts, to add (OR).
    await authors.get_by_label("Stevenson, Alan").click()
    await expect(count).to_contain_text("13 documents found")
    await page.get_by_role("button", name="Remove filter Author: Stevenson, Alan").click()
    await expect(count).to_contain_text("1 document found")
    await page.get_by_role("button", name="Clear all").click()
    await expect(count).to_contain_text("13 documents found")

    # Sort by title (leading "The" ignored), then walk the pages.
    await page.get_by_label("Sort by").click()
    await page.get_by_role("option", name="Title A–Z").click()
    await expect(page).to_have_url(re.compile(r"sort=title"))
    titles = page.locator(".hit-title")
    await expect(titles.first).to_have_text("The lighthouse cook book")
    await expect(titles.nth(1)).to_have_text("Lighthouse keeping, volume 1")
    await expect(titles.nth(2)).to_have_text("Lighthouse keeping, volume 2")  # not 10
    await page.get_by_role("button", name="Next").click()
    await expect(page.locator(".search-hit")).to_have_count(3)
    await expect(titles.last).to_have_text("Lighthouse keeping, volume 12")
    assert _params(page)["page"] == ["2"]
    await page.go_back()  # the back button returns to page 1
    await expect(page.locator(".search-hit")).to_have_count(10)

    # A misspelt word still finds, and the page offers the correction.
    await goto(page, f"{served_app.url}/search?q=ligthouse+storms")
    await expect(page.locator("#did-you-mean")).to_have_text("lighthouse storms")
    await page.locator("#did-you-mean").click()
    await expect(page).to_have_url(re.compile(r"q=lighthouse\+storms"))
    # The corrected search has run (no more suggestion) before the box is typed in.
    await expect(page.locator("#did-you-mean")).to_have_count(0)
    await expect(count).to_contain_text("13 documents found, 12 with every word")

    # Search as you type: results follow the box, and the address keeps up.
    box = page.get_by_label("Search the library")
    await box.fill("phares")
    await expect(count).to_contain_text("1 document found")
    await expect(page.locator(".search-hit mark.hit")).to_have_text("phares")
    await expect(page).to_have_url(re.compile(r"q=phares"))

    # Autocomplete offers authors (and titles, subjects, frequent queries) as you type.
    await box.fill("stevens")
    options = page.locator("#search-completions option")
    await expect(options.first).to_have_attribute("value", 'author:"Stevenson, Alan"')
    await expect(count).to_contain_text("12 documents found")  # a word still being typed

    # Malformed input is read leniently, and the page says how.
    await goto(page, f'{served_app.url}/search?q="lenses+and')
    await expect(page.locator("#read-as")).to_contain_text("ignored a quote without its pair")

    # Keyboard alone: tab to a facet and tick it with the space bar.
    await goto(page, f"{served_app.url}/search?q=lighthouse")
    language = page.get_by_role("group", name="Language").get_by_label("English")
    await language.focus()
    await page.keyboard.press("Space")
    await expect(page).to_have_url(re.compile(r"language=en"))
    await expect(count).to_contain_text("13 documents found")

    # Opening a result records which one, at which rank.
    await page.locator(".hit-title").nth(1).click()
    await expect(page.locator("#document-title")).to_be_visible()
    click = await _wait_for_click(app_db)
    assert click.query == "lighthouse" and click.data["rank"] == 2

    # Nothing found: suggestions instead of a blank page.
    await goto(page, f"{served_app.url}/search?q=zzzqqq")
    await expect(page.locator("#no-results")).to_contain_text("Check the spelling")
    await context.close()
    assert page_errors.messages == []
    assert served_app.errors() == []


async def test_typing_follows_the_box_without_flashes_or_lost_keys(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors
) -> None:
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    await bulk_load(BOOKS, "Typing shore", engine=engine)
    await index_now(served_app, engine)
    await engine.dispose()

    context = await browser.new_context()
    page = page_errors.watch(await context.new_page())
    # The home page's box offers suggestions too, and its grid of collections reflows.
    await goto(page, served_app.url)
    await page.get_by_label("Search the library").press_sequentially("stev", delay=40)
    suggestions = page.locator("#search-box-suggestions option")
    await expect(suggestions.first).to_have_attribute("value", 'author:"Stevenson, Alan"')
    await page.get_by_label("Search the library").press("Enter")
    await page.wait_for_url(re.compile(r"/search\?q=stev"))
    count = page.locator("#result-count")
    await expect(count).to_contain_text("12 documents found")

    await goto(page, f"{served_app.url}/search?q=storms")
    await expect(count).to_contain_text("12 documents found")
    # Everything that appears while typing is recorded: no "nothing matched", no "did you
    # mean" may flash by while a word is still being typed.
    await page.evaluate(
        """() => {
            window.__seen = [];
            new MutationObserver(() => {
                if (document.querySelector('#no-results')) window.__seen.push('no-results');
                if (document.querySelector('#did-you-mean')) window.__seen.push('did-you-mean');
            }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )
    box = page.get_by_label("Search the library")
    results = page.locator("#results")
    await box.fill("")
    await box.press_sequentially("lighthouse", delay=90)  # each part of it begins a word
    await expect(results).to_have_attribute("data-shown-for", "lighthouse")
    await expect(count).to_contain_text("13 documents found")
    # A misspelt word still being typed finds its near spellings, and "did you mean"
    # waits for the word to end.
    await box.fill("")
    await box.press_sequentially("lig", delay=90)
    await expect(results).to_have_attribute("data-shown-for", "lig")
    await box.press_sequentially("t", delay=90)  # no word begins "ligt": lig's results stay
    await expect(page.locator("#held-note")).to_contain_text("Nothing yet for “ligt”")
    await expect(count).to_contain_text("13 documents found")
    await box.press_sequentially("house", delay=90)
    await expect(results).to_have_attribute("data-shown-for", "ligthouse")
    await expect(page.locator("#held-note")).to_have_count(0)
    await expect(count).to_contain_text("13 documents found")
    assert await page.evaluate("window.__seen") == []
    await box.press_sequentially(" ", delay=60)  # the word is finished: now it may
    await expect(page.locator("#did-you-mean")).to_have_text("lighthouse")

    # Fast typing: every key stays in the box (results never write over it), and the
    # results end up for the whole text, not for a search that an earlier key started.
    await box.fill("")
    await box.press_sequentially("lighthouse lenses storms", delay=15)
    await expect(results).to_have_attribute("data-shown-for", "lighthouse lenses storms")
    await page.wait_for_timeout(500)  # (any late answer for an earlier key has come)
    assert await box.input_value() == "lighthouse lenses storms"
    await expect(results).to_have_attribute("data-shown-for", "lighthouse lenses storms")
    await expect(page).to_have_url(re.compile(r"q=lighthouse\+lenses\+storms"))
    # A page load sets the box, even to text it had before.
    await page.go_back()
    await expect(box).to_have_value("stev")
    await context.close()
    assert page_errors.messages == []
    assert served_app.errors() == []


async def test_pages_are_served_with_the_gateways_headers_and_keep_working_under_its_policy(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors
) -> None:
    """The served HTML, its scripts and the API carry the security headers and a request
    id; the page runs under its Content-Security-Policy without a single violation (a
    violation is a console error), search as you type included (scripts sent by handlers)."""
    page = page_errors.watch(await browser.new_page())
    response = await page.goto(f"{served_app.url}/search?q=anything")
    assert response is not None
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert len(headers["x-request-id"]) == 32
    await page.locator('[data-ready="true"]').wait_for()
    await page.get_by_label("Search the library").fill("harbour")
    await expect(page).to_have_url(re.compile(r"q=harbour"))  # a script a handler sent
    api = await page.request.get(f"{served_app.url}/api/v1/documents/999999/record")
    assert api.headers["x-request-id"] and "ratelimit-remaining" in api.headers
    assert page_errors.messages == []
    await page.context.close()
