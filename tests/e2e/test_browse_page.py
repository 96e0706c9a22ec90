"""Browsing in a real browser: every classifier, its counts, paging through a list and
back, and a private collection that shows nowhere."""

import re

from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.common import bulk_load
from tests.e2e.conftest import PageErrors, ServedApp, goto

SHELF = [
    {
        "title": f"Lighthouse keeping, volume {i}",
        "text": "Lamps and lenses.",
        "authors": ["Alan Stevenson"],
        "subjects": ["Lighthouses"],
        "year": 1840 + i,
        "language": "en",
    }
    for i in range(1, 13)
] + [
    {
        "title": "The lighthouse cook book",
        "text": "Recipes.",
        "authors": ["Woolf, Virginia"],
        "subjects": ["Cooking"],
        "year": 1927,
        "language": "en",
    },
    {
        "title": "Phares et balises",
        "text": "Les phares de Bretagne.",
        "authors": ["Le Goff, Anne"],
        "subjects": ["Lighthouses -- Brittany"],
        "year": 1960,
        "language": "fr",
    },
]
TIDES = [
    {"title": f"Tide tables, part {i}", "text": "High and low water.", "language": "en"}
    for i in range(1, 61)
]
SECRET = [
    {
        "title": "Lighthouse inspection reports",
        "text": "Confidential.",
        "authors": ["Hidden, Harriet"],
        "subjects": ["Lighthouses -- Audits"],
        "year": 1845,
        "language": "en",
    }
]


async def test_browsing_every_classifier(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    await bulk_load(SHELF + TIDES, "Sea and shore", engine=engine, catalogue=True)
    await bulk_load(SECRET, "Staff files", engine=engine, public=False, catalogue=True)
    await engine.dispose()
    page = page_errors.watch(await (await browser.new_context()).new_page())
    rows = page.locator(".browse-document > a")

    # Titles A to Z, leading "The" ignored, numbers by value; 50 to a page.
    await goto(page, f"{served_app.url}/browse")
    await expect(page.locator("#browse-heading")).to_have_text("All titles, A to Z")
    await expect(rows).to_have_count(50)
    await expect(rows.nth(0)).to_have_text("The lighthouse cook book")
    await expect(rows.nth(1)).to_have_text("Lighthouse keeping, volume 1")
    # The line under a title says its type as everywhere else ("Text", not "text").
    await expect(page.locator(".browse-document").nth(1)).to_contain_text("· Text")
    await expect(rows.nth(2)).to_have_text("Lighthouse keeping, volume 2")
    await expect(page.locator("#browse")).not_to_contain_text("inspection")
    letters = page.get_by_role("navigation", name="Titles by first letter")
    await expect(letters.get_by_label("T: 60 titles")).to_be_visible()
    await expect(letters.get_by_label("L: 13 titles")).to_be_visible()  # not 14
    await page.get_by_role("link", name="Next →").click()
    await expect(page).to_have_url(re.compile(r"after="))
    await expect(rows).to_have_count(24)
    await expect(rows.last).to_have_text("Tide tables, part 60")
    await page.get_by_role("link", name="← Previous").click()
    await expect(rows).to_have_count(50)
    await expect(rows.nth(0)).to_have_text("The lighthouse cook book")
    await letters.get_by_label("P: 1 title", exact=True).click()
    await expect(page.locator("#browse-heading")).to_have_text("Titles beginning with P")
    await expect(rows).to_have_text(["Phares et balises"])

    # Authors, filed by surname, each with their documents.
    await page.get_by_role("link", name="Authors").click()
    entries = page.locator(".browse-entry")
    await expect(entries).to_have_text(
        ["Le Goff, Anne (1)", "Stevenson, Alan (12)", "Woolf, Virginia (1)"]
    )
    await page.get_by_role("link", name="Stevenson, Alan").click()
    await expect(page.locator("#browse-heading")).to_have_text("Stevenson, Alan")
    await expect(rows).to_have_count(12)
    await expect(rows.last).to_have_text("Lighthouse keeping, volume 12")

    # The subject tree: a document counts once under each broader subject.
    await page.get_by_role("link", name="Subjects").click()
    await expect(entries).to_have_text(["Cooking (1)", "Lighthouses (13)"])
    await page.get_by_role("link", name="Lighthouses").click()
    await expect(page.locator("#browse-heading")).to_have_text("Lighthouses")
    await expect(entries).to_have_text(["Brittany (1)"])  # Audits is private
    await expect(rows).to_have_count(13)
    await page.get_by_role("link", name="Brittany").click()
    await expect(page.locator("#browse-trail")).to_contain_text("Lighthouses")
    await expect(rows).to_have_text(["Phares et balises"])

    # Dates: decades, then the years of one.
    await page.get_by_role("link", name="Dates").click()
    await expect(entries).to_have_text(["1840s (9)", "1850s (3)", "1920s (1)", "1960s (1)"])
    await page.get_by_role("link", name="1840s").click()
    await expect(entries.first).to_have_text("1841 (1)")
    await expect(entries).to_have_count(9)  # 1845's private report is not counted
    await page.get_by_role("link", name="1845").click()
    await expect(page.locator("#browse-heading")).to_have_text("1845")
    await expect(rows).to_have_text(["Lighthouse keeping, volume 5"])

    # Types and languages.
    await page.get_by_role("link", name="Languages").click()
    await expect(entries).to_have_text(["English (73)", "French (1)"])
    await page.get_by_role("link", name="Types").click()
    await expect(entries).to_have_text(["Text (74)"])
    assert page_errors.messages == []
