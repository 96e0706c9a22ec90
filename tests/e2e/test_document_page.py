"""A document's page in a real browser: the Dublin Core record, its text (as text), the
citations, related documents, and a librarian's edit with its audit entry."""

from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.collections.models import Collection, Membership
from backend.users.models import Role
from bench.common import bulk_load
from tests.e2e.conftest import PageErrors, ServedApp, goto, index_now
from tests.factories import PASSWORD, make_user

RECORDS = [
    {
        "title": "Lighthouse keeping",
        "text": "Lamps and lenses. <script>window.pwned = 1</script><b>not bold</b>",
        "authors": ["Alan Stevenson"],
        "subjects": ["Lighthouses"],
        "year": 1850,
        "language": "en",
    },
    {
        "title": "Harbour lights",
        "text": "Beacons.",
        "authors": ["Alan Stevenson"],
        "subjects": ["Lighthouses"],
        "year": 1855,
        "language": "en",
    },
    {"title": "Unrelated almanac", "text": "Tides.", "authors": ["Someone Else"]},
]


async def test_the_record_its_text_citations_and_an_audited_edit(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    doc_id, sibling, _ = await bulk_load(RECORDS, "Sea and shore", engine=engine, catalogue=True)
    await engine.dispose()
    librarian = await make_user(app_db, Role.LIBRARIAN, email="keeper@example.org")
    # Librarians curate the collections they are curators of.
    shelf = (await app_db.exec(select(Collection).where(Collection.name == "Sea and shore"))).one()
    app_db.add(Membership(collection_id=shelf.id, user_id=librarian.id, role="curator"))
    await app_db.commit()

    page = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(page, f"{served_app.url}/login")
    await page.fill("input[name=email]", librarian.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{served_app.url}/")

    await goto(page, f"{served_app.url}/documents/{doc_id}")
    record = page.locator("#dublin-core")
    await expect(record.locator(".dc-creator")).to_contain_text("Alan Stevenson")
    await expect(record.locator(".dc-subject")).to_contain_text("Lighthouses")
    await expect(record.locator(".dc-date")).to_contain_text("1850")
    await expect(record.locator(".dc-identifier")).to_contain_text(f"/documents/{doc_id}")
    await expect(page.locator("#related")).to_contain_text(
        "Harbour lights — same author and same subject"
    )
    await expect(page.locator("#related")).not_to_contain_text("almanac")

    # The text, page by page (open from the start), as plain text: the document's markup
    # does not run.
    await expect(page.locator("#page-text")).to_be_visible()
    await expect(page.locator("#page-text")).to_contain_text("<script>window.pwned = 1</script>")
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("#page-text b").count() == 0

    # Citations, for reference managers.
    bib = await page.request.get(f"{served_app.url}/api/v1/documents/{doc_id}/citation.bib")
    assert bib.ok and "title = {Lighthouse keeping}" in await bib.text()
    assert "author = {Stevenson, Alan}" in await bib.text()
    ris = await page.request.get(f"{served_app.url}/api/v1/documents/{doc_id}/citation.ris")
    assert "AU  - Stevenson, Alan\r\n" in await ris.text()

    # A librarian edits: a wrong date is refused with its reason, nothing is saved.
    await page.click("#edit-record")
    await page.fill("#edit-title", "Lighthouse keeping, revised")
    await page.fill("#edit-date_issued", "March 1850")
    await page.fill("#edit-subject-search", "Tides")
    await page.get_by_role("button", name="Add “Tides” to the list").click()
    await expect(page.locator(".chosen-subject")).to_have_text(["Lighthouses", "Tides"])
    await page.click("#save-record")
    await expect(page.get_by_role("alert").first).to_contain_text("YYYY")
    await expect(page.locator("#document-title")).to_have_text("Lighthouse keeping")
    await page.fill("#edit-date_issued", "1850-03")
    await page.click("#save-record")
    await expect(page.locator("#document-title")).to_have_text("Lighthouse keeping, revised")
    await expect(record.locator(".dc-date")).to_contain_text("1850-03")
    await expect(record.locator(".dc-subject")).to_contain_text("Tides")
    # The audit log says who changed what from what to what.
    history = page.locator("#history")
    await expect(history).to_contain_text(librarian.display_name)
    title_row = history.get_by_role("row", name="Title")
    await expect(title_row).to_contain_text("Lighthouse keeping")
    await expect(title_row).to_contain_text("Lighthouse keeping, revised")
    await expect(history.get_by_role("row", name="Date")).to_contain_text("1850-03")

    # A patron who is not logged in sees the record and its history, not the form.
    anonymous = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(anonymous, f"{served_app.url}/documents/{sibling}")
    await expect(anonymous.locator("#dublin-core")).to_contain_text("Harbour lights")
    await expect(anonymous.locator("#edit-record")).to_have_count(0)
    assert page_errors.messages == []


async def test_patrons_see_no_staff_details_and_no_unready_document(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors, app_db: AsyncSession
) -> None:
    from sqlalchemy import text

    engine = create_async_engine(served_app.env["DATABASE_URL"])
    (doc_id,) = await bulk_load(RECORDS[:1], "Open shelf", engine=engine, catalogue=True)
    await engine.dispose()
    curator = await make_user(app_db, Role.LIBRARIAN, email="curator@example.org")
    patron = await make_user(app_db, Role.PATRON, email="reader@example.org")
    shelf = (await app_db.exec(select(Collection).where(Collection.name == "Open shelf"))).one()
    app_db.add(Membership(collection_id=shelf.id, user_id=curator.id, role="curator"))
    # A second document whose processing failed: for its curators only.
    failed = (
        await app_db.exec(
            text(
                "INSERT INTO documents (collection_id, title, created_at, updated_at) "
                "VALUES (:c, 'Unready manuscript', now(), now()) RETURNING id"
            ).bindparams(c=shelf.id)
        )
    ).scalar_one()
    version = (
        await app_db.exec(
            text(
                "INSERT INTO document_versions (document_id, version_no, file_key, filename,"
                " sha256, size, declared_mime, mime_type, created_at, status, step, error, meta,"
                " language, thumbnail_key, preview_key, warnings, attempts, duplicate_accepted,"
                " page_images) VALUES (:d, 1, 'x/1', 'unready.pdf', :sha, 10, 'application/pdf',"
                " '', now(), 'failed', 'type', 'The file is not a PDF.', '{}', '', '', '', '',"
                " 1, false, 0) RETURNING id"
            ).bindparams(d=failed, sha="f" * 64)
        )
    ).scalar_one()
    await app_db.exec(
        text("UPDATE documents SET current_version_id = :v WHERE id = :d").bindparams(
            v=version, d=failed
        )
    )
    await app_db.commit()

    async def logged_in(email: str) -> Page:
        page = page_errors.watch(await (await browser.new_context()).new_page())
        await goto(page, f"{served_app.url}/login")
        await page.fill("input[name=email]", email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_url(f"{served_app.url}/")
        return page

    staff_only = ("SHA-256", "Uploaded by", curator.display_name, "Make current")
    for reader in (await logged_in(patron.email), None):
        page = reader or page_errors.watch(await (await browser.new_context()).new_page())
        await goto(page, f"{served_app.url}/documents/{doc_id}")
        await expect(page.locator("#document-title")).to_have_text("Lighthouse keeping")
        await expect(page.locator(".version-row")).to_have_count(1)
        body = await page.locator("main").inner_text()
        assert not [s for s in staff_only if s in body], body
        assert "ready" not in await page.locator(".version-row").inner_text()
        await goto(page, f"{served_app.url}/documents/{failed}")
        await expect(page.get_by_text("This document does not exist")).to_be_visible()
        assert "Unready" not in await page.locator("main").inner_text()
        response = await page.request.get(f"{served_app.url}/api/v1/documents/{failed}/record")
        assert response.status == 404

    # Its curator sees both, with the staff details.
    page = await logged_in(curator.email)
    await goto(page, f"{served_app.url}/documents/{failed}")
    await expect(page.locator("#document-title")).to_have_text("Unready manuscript")
    await expect(page.get_by_text("The file is not a PDF.").first).to_be_visible()
    await expect(page.get_by_text("SHA-256")).to_be_visible()
    assert page_errors.messages == []


async def test_record_pages_have_their_head_in_the_html_as_sent(
    served_app: ServedApp, app_db: AsyncSession
) -> None:
    """What crawlers and Google Scholar read without running scripts: the real title, the
    Highwire Press tags, the collection's feeds; and 404 for a record that is not there
    or that the visitor may not see (backend.web.heads)."""
    import httpx

    engine = create_async_engine(served_app.env["DATABASE_URL"])
    doc_id, _, _ = await bulk_load(RECORDS, "Heads shelf", engine=engine, catalogue=True)
    [secret] = await bulk_load(
        [{"title": "Sealed minutes", "text": "x"}], "Heads vault", engine=engine, public=False
    )
    await engine.dispose()
    async with httpx.AsyncClient(base_url=served_app.url) as web:
        page = await web.get(f"/documents/{doc_id}", headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200
        text = page.text
        assert "<title>Lighthouse keeping · Library</title>" in text
        assert text.count("<title>") == 1
        assert '<meta name="citation_title" content="Lighthouse keeping">' in text
        assert '<meta name="citation_author" content="Alan Stevenson">' in text
        assert '<meta name="citation_publication_date" content="1850">' in text
        canonical = f"{served_app.env['PUBLIC_URL']}/documents/{doc_id}"
        assert f'<link rel="canonical" href="{canonical}">' in text
        shelf = await web.get("/collections/heads-shelf")
        assert shelf.status_code == 200
        assert "<title>Heads shelf · Library</title>" in shelf.text
        assert 'type="application/atom+xml"' in shelf.text
        for missing in (f"/documents/{secret}", "/documents/999999999", "/collections/heads-vault"):
            gone = await web.get(missing)
            assert gone.status_code == 404, missing
            assert "Sealed" not in gone.text and "Heads vault" not in gone.text
        assert (await web.get("/no-such-page")).status_code == 404


LOGBOOK = {
    "title": "The keeper's logbook",
    "text": "",
    "pages": [
        "Lit the lamp at dusk. Calm sea.",
        "Fog all day; the horn sounded.",
        "Oil delivered by the tender.",
        "A kraken was seen off the reef, or so the boatman swore.",
        "Lamp cleaned, lenses polished. The kraken story spread.",
    ],
    "authors": ["Grace Darling"],
    "year": 1838,
    "language": "en",
}


async def test_a_hit_opens_at_its_page_with_the_words_marked_and_search_inside(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors
) -> None:
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    LOGBOOK["text"] = "\n".join(LOGBOOK["pages"])  # type: ignore[arg-type]
    (doc_id,) = await bulk_load([LOGBOOK], "Logbooks", engine=engine, catalogue=True)
    await index_now(served_app, engine)
    await engine.dispose()

    page = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(page, f"{served_app.url}/search?q=kraken+reef")
    hit = page.locator(".search-hit").first
    # The card says who and when, and what kind of thing it is.
    await expect(hit.locator(".hit-byline")).to_have_text("Grace Darling · 1838")
    await expect(hit.locator(".hit-kind")).to_have_text("Text")
    # The page badge is a link to that page, as is the title.
    await expect(hit.locator(".hit-page")).to_have_text("page 4")
    await hit.locator(".hit-title").click()
    await page.wait_for_url(f"**/documents/{doc_id}?page=4&q=kraken+reef")
    await expect(page.locator("#page-label")).to_have_text("Page 4 of 5")
    marks = page.locator("#page-text mark.hit")
    await expect(marks).to_have_text(["kraken", "reef"])
    # The marks stay while paging; the next page has its own.
    await page.get_by_role("button", name="Next page").click()
    await expect(page.locator("#page-label")).to_have_text("Page 5 of 5")
    await expect(marks).to_have_text(["kraken"])

    # Search inside the document, by stem: lamp finds "lamp" and "Lamp" on pages 1 and 5.
    await page.get_by_label("Find in this document").fill("lamps")
    await page.get_by_label("Find in this document").press("Enter")
    await expect(page.locator("#found-count")).to_have_text("On 2 pages:")
    found = page.locator(".found-page")
    await expect(found).to_have_count(2)
    await expect(found.first).to_contain_text("Page 1")
    await expect(page.locator("#page-label")).to_have_text("Page 1 of 5")  # the first found
    await expect(marks).to_have_text(["lamp"])
    await found.nth(1).get_by_role("button").click()
    await expect(page.locator("#page-label")).to_have_text("Page 5 of 5")
    await expect(marks).to_have_text(["Lamp"])
    await page.get_by_label("Find in this document").fill("zeppelin")
    await page.get_by_label("Find in this document").press("Enter")
    await expect(page.locator("#found-count")).to_have_text("No page has those words.")
    # Any page number in the address is read safely: past the end is the last page.
    await goto(page, f"{served_app.url}/documents/{doc_id}?page=999999999999&q=%22")
    await expect(page.locator("#page-label")).to_have_text("Page 1 of 5")
    await goto(page, f"{served_app.url}/documents/{doc_id}?page=9")
    await expect(page.locator("#page-label")).to_have_text("Page 5 of 5")
    assert page_errors.messages == []
    assert served_app.errors() == []


ALIKE = [
    {
        "title": "Aeroelastic flutter of wings",
        "text": "Flutter of heated wings at supersonic speed; aeroelastic models.",
        "authors": ["Bisplinghoff, Raymond"],
        "language": "en",
    },
    {
        "title": "Heated wings",
        "text": "Supersonic wings: heated surfaces, aeroelastic flutter and models.",
        "authors": ["Garrick, Isadore"],
        "language": "en",
    },
    {
        "title": "Roses and tulips",
        "text": "Spring beds of roses and tulips; gardening at home.",
        "authors": ["Jekyll, Gertrude"],
        "language": "en",
    },
]


async def test_more_like_this_beside_the_related_documents_at_both_widths(
    served_app: ServedApp, browser: Browser, page_errors: PageErrors
) -> None:
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    first, second, roses = await bulk_load(ALIKE, "Wind tunnel", engine=engine, catalogue=True)
    await index_now(served_app, engine)
    await engine.dispose()
    page = page_errors.watch(await (await browser.new_context()).new_page())
    for width in (1280, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        await goto(page, f"{served_app.url}/documents/{first}")
        alike = page.locator("#similar li")
        await expect(alike).to_have_count(1)
        await expect(alike).to_contain_text("Heated wings")
        await alike.get_by_role("link").click()
        await page.wait_for_url(f"**/documents/{second}")
        await expect(page.locator("#similar li")).to_contain_text("Aeroelastic flutter")
        await goto(page, f"{served_app.url}/documents/{roses}")
        await page.locator("#document-title").wait_for()
        await expect(page.locator("#similar")).to_have_count(0)  # nothing like it
    assert page_errors.messages == []
    await page.context.close()
