"""The analytics dashboard in a real browser: an admin sees the figures of events made
here and downloads them as CSV with the same numbers; a librarian sees their collection's
figures and no other's; a patron finds no page."""

import csv
import io

from playwright.async_api import Browser, expect
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.analytics import events
from backend.users.models import Role
from bench.common import bulk_load
from tests.e2e.conftest import PageErrors, ServedApp, goto, log_in
from tests.factories import make_user


async def test_admins_and_librarians_see_their_figures(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    admin = await make_user(app_db, Role.ADMIN, email="admin@example.org")
    librarian = await make_user(app_db, Role.LIBRARIAN, email="librarian@example.org")
    patron = await make_user(app_db, email="patron@example.org")
    await app_db.commit()
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    (charts,) = await bulk_load(
        [{"title": "Harbour charts", "text": "Soundings."}], "Charts", engine=engine
    )
    (ledger,) = await bulk_load(
        [{"title": "Ledger of wrecks", "text": "Losses."}], "Wrecks", engine=engine
    )
    async with engine.begin() as conn:
        mine = (
            await conn.execute(text(f"SELECT collection_id FROM documents WHERE id={charts}"))
        ).scalar()
        theirs = (
            await conn.execute(text(f"SELECT collection_id FROM documents WHERE id={ledger}"))
        ).scalar()
        await conn.execute(
            text(
                "INSERT INTO collection_members (collection_id, user_id, role, created_at) "
                f"VALUES ({mine}, {librarian.id}, 'curator', now())"
            )
        )
        # Today's events, as the worker's flush stores them: five searches (two found
        # nothing), three visitors' views of the charts, one of the ledger.
        rows = [("search", "lighthouse lamps", 3, None, None, None)] * 3
        rows += [("search", "kraken", 0, None, None, None)] * 2
        rows += [("document_view", "", None, charts, mine, f"0{i}") for i in range(3)]
        rows += [("document_view", "", None, ledger, theirs, "09")]
        for i, (kind, query, found, doc, coll, visitor) in enumerate(rows):
            await conn.execute(
                text(
                    "INSERT INTO analytics_events (key, at, kind, query, result_count, "
                    "document_id, collection_id, visitor, data) VALUES (gen_random_uuid(), "
                    "now() - make_interval(secs => :i), :kind, :q, :n, :d, :c, "
                    "decode(:v, 'hex'), '{}')"
                ).bindparams(i=i, kind=kind, q=query, n=found, d=doc, c=coll, v=visitor)
            )
    await engine.dispose()
    # ... and, as the flush does, say that today's figures changed.
    redis = Redis.from_url(served_app.env["REDIS_URL"])
    await redis.set(events.FLUSHED, "test-events-stored")
    await redis.aclose()

    page = await log_in(browser, served_app, admin.email, page_errors)
    await goto(page, f"{served_app.url}/admin/analytics?days=7")
    searches = page.locator("[data-figure='Searches'] .figure")
    await expect(searches).to_have_text("5")
    await expect(page.locator("[data-figure='Zero results'] .figure")).to_have_text("40.0 %")
    await expect(page.locator("[data-figure='Views'] .figure")).to_have_text("4")
    await expect(page.locator("#top-queries")).to_contain_text("lighthouse lamps")
    await expect(page.locator("#panel-documents")).to_contain_text("Ledger of wrecks")
    # The CSV holds the same numbers as the page.
    async with page.expect_download() as download:
        await page.click("#csv-searches-series")
    body = open(await (await download.value).path(), encoding="utf-8-sig").read()
    today = list(csv.DictReader(io.StringIO(body)))[-1]
    assert (float(today["searches"]), float(today["zero_results"])) == (5, 2)
    # A zero-result query marked handled stays marked.
    zero = page.locator("#zero-queries")
    await zero.get_by_role("button", name="Mark handled").click()
    await expect(zero.get_by_role("button", name="Handled ✓")).to_be_visible()
    await page.get_by_role("button", name="30 days").click()
    await expect(page).to_have_url(f"{served_app.url}/admin/analytics?days=30")
    await expect(searches).to_have_text("5")

    page = await log_in(browser, served_app, librarian.email, page_errors)
    await goto(page, f"{served_app.url}/admin/analytics")
    await expect(page.locator("[data-figure='Views'] .figure")).to_have_text("3")
    await expect(page.locator("#panel-documents")).to_contain_text("Harbour charts")
    await expect(page.locator("#panel-documents")).not_to_contain_text("Ledger of wrecks")
    await expect(page.locator("#panel-searches")).to_have_count(0)  # the library's only

    page = await log_in(browser, served_app, patron.email, page_errors)
    await goto(page, f"{served_app.url}/admin/analytics")
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await expect(page.locator("#panel-documents")).to_have_count(0)
