"""A collection's page in a real browser: statistics, a bulk import with a bad row
reported, the export, editing and making it private, and deleting it with its documents."""

import zipfile
from pathlib import Path

from playwright.async_api import Browser, expect
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.users.models import Role
from tests.e2e.conftest import PageErrors, ServedApp, goto
from tests.factories import PASSWORD, make_collection, make_user

CSV = (
    "filename,title,creators,subjects,date,language\n"
    "keeper.txt,The keeper's log,Grace Darling,Lighthouses -- Logs,1838,en\n"
    "missing.txt,A file nobody sent,,,,en\n"
)


async def test_a_curator_imports_exports_edits_and_deletes(
    served_app: ServedApp,
    browser: Browser,
    page_errors: PageErrors,
    app_db: AsyncSession,
    tmp_path: Path,
) -> None:
    curator = await make_user(app_db, Role.LIBRARIAN, email="curator@example.org")
    shelf = await make_collection(app_db, curator, "Coastal records")
    await app_db.commit()
    csv_path = tmp_path / "records.csv"
    csv_path.write_text(CSV)
    zip_path = tmp_path / "files.zip"
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("keeper.txt", "Lamp lit at dusk. Wind from the north-east.\n")

    page = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(page, f"{served_app.url}/login")
    await page.fill("input[name=email]", curator.email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{served_app.url}/")
    await goto(page, f"{served_app.url}/collections/{shelf.slug}")
    stats = page.locator("#collection-stats")
    await expect(stats).to_contain_text("Documents0")
    # Files dragged over a drop zone light it up, and it goes back when they leave.
    zone = page.locator("#bulk-import")
    before = await zone.evaluate("z => getComputedStyle(z).borderStyle")
    dragged = await page.evaluate_handle(
        "() => { const t = new DataTransfer(); t.items.add(new File(['x'], 'a.csv')); return t; }"
    )
    await zone.dispatch_event("dragenter", {"dataTransfer": dragged})
    await expect(zone).to_have_css("border-style", "solid")
    await zone.dispatch_event("dragleave", {"dataTransfer": dragged})
    await expect(zone).to_have_css("border-style", before)

    # The files stream into the store; the worker's dry run reports every row, the bad one
    # says why, and nothing is written yet.
    await page.locator("#bulk-import input[type=file]").set_input_files(
        [str(csv_path), str(zip_path)]
    )
    await expect(page.locator("#import-summary")).to_have_text(
        "1 to add, 0 to update, 1 refused.", timeout=30_000
    )
    refused = page.locator(".import-row", has_text="missing.txt")
    await expect(refused).to_contain_text("missing.txt is not in the ZIP.")
    await expect(page.locator("#import-panel")).to_contain_text("Lighthouses -- Logs")
    await expect(page.locator(".document-row")).to_have_count(0)
    # A reload finds the import where it stands (it lives in the database, not the tab).
    await page.reload()
    await page.locator('[data-ready="true"]').wait_for()
    await expect(page.locator("#import-summary")).to_have_text("1 to add, 0 to update, 1 refused.")
    await page.click("#run-import")
    await expect(page.locator("#import-panel")).to_contain_text("Imported: 1 added", timeout=30_000)
    row = page.locator(".document-row", has_text="The keeper's log")
    await expect(row.get_by_text("ready")).to_be_visible(timeout=60_000)
    await page.reload()
    await page.locator('[data-ready="true"]').wait_for()
    await expect(stats).to_contain_text("Documents1")

    # The export carries the record, in the columns the import reads.
    exported = await page.request.get(f"{served_app.url}/api/v1/collections/{shelf.id}/export.csv")
    text = (await exported.body()).decode("utf-8-sig")
    assert text.startswith("id,filename,title,creators,contributors,subjects")
    assert "keeper.txt,The keeper's log,Grace Darling,,Lighthouses -- Logs" in text

    # Rename and make private.
    await page.click("#manage")
    await page.fill("#manage-panel input[name=name]", "Coastal records (restricted)")
    await page.locator("#manage-panel").get_by_role("radio", name="private").click()
    await page.click("#save-collection")
    await expect(page.get_by_role("heading", name="Coastal records (restricted)")).to_be_visible()
    await expect(page.locator("#manage-panel")).to_contain_text("Saved.")
    await expect(page.get_by_text("private", exact=True).first).to_be_visible()
    anonymous = await (await browser.new_context()).new_page()
    response = await anonymous.goto(f"{served_app.url}/collections/{shelf.slug}")
    assert response is not None
    await anonymous.locator('[data-ready="true"]').wait_for()
    await expect(anonymous.get_by_text("does not exist, or you may not see it")).to_be_visible()

    # Deleting it asks what becomes of its document (the panel is still open).
    panel = page.locator("#manage-panel")
    await expect(panel).to_contain_text("It holds 1 documents")
    await panel.get_by_placeholder("Type the collection's name to confirm").fill(
        "Coastal records (restricted)"
    )
    await page.click("#delete")
    await expect(panel).to_contain_text("still holds 1 documents")
    await panel.get_by_role("radio", name="Delete them and their files").click()
    await page.click("#delete")
    await page.wait_for_url(f"{served_app.url}/collections")
    await expect(page.locator("main")).not_to_contain_text("Coastal records")
    assert page_errors.messages == []
