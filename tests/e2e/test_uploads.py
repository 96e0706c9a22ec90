"""Uploads against the app as it is served: the guard in front of its upload route (raw
HTTP), and the drop zones in Chromium: a cover, a new version, an import's ZIP bomb
refused while it streams."""

import asyncio
import io
import json
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect
from reflex_base.utils.format import format_event_handler
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import service as auth
from backend.auth.tokens import SESSION_COOKIE
from backend.users.models import Role
from state.collections import CollectionState
from tests.e2e.conftest import PageErrors, ServedApp, goto
from tests.factories import PASSWORD, make_collection, make_user

pytestmark = pytest.mark.e2e
UPLOAD = str(format_event_handler(CollectionState.upload))


async def raw_post(app: ServedApp, headers: dict[str, str], send: int) -> tuple[int, bytes]:
    """POST /_upload declaring a 300 MB body, send only `send` bytes of it, and read the
    answer: the guard answers without waiting for the rest."""
    parts = urlsplit(app.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = {
        "Host": parts.netloc,
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(300 << 20),
        "Reflex-Client-Token": "a-tab",
        **headers,
    }
    writer.write(
        b"POST /_upload HTTP/1.1\r\n"
        + b"".join(f"{k}: {v}\r\n".encode() for k, v in head.items())
        + b"\r\n"
        + b"x" * send
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), timeout=30)
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


async def test_the_served_app_guards_its_upload_route(
    served_app: ServedApp, app_db: AsyncSession
) -> None:
    patron = await make_user(app_db, email="reader@example.org")
    await app_db.commit()
    status, body = await raw_post(served_app, {"Reflex-Event-Handler": UPLOAD}, send=4096)
    assert status == 401 and json.loads(body)["detail"] == "Log in to upload files."
    from redis.asyncio import Redis

    redis = Redis.from_url(served_app.env["REDIS_URL"])
    login = await auth.login(session=app_db, redis=redis, email=patron.email, password=PASSWORD)
    await app_db.commit()
    await redis.aclose()
    cookie = {"Cookie": f"{SESSION_COOKIE}={login.token}"}
    status, _ = await raw_post(served_app, {**cookie, "Reflex-Event-Handler": UPLOAD}, send=4096)
    assert status == 403
    status, _ = await raw_post(
        served_app,
        {"Reflex-Event-Handler": UPLOAD, "Content-Length": str(1 << 40)},
        send=0,
    )
    assert status == 413
    assert served_app.errors() == []


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 180), (20, 60, 160)).save(out, "PNG")
    return out.getvalue()


async def _logged_in(browser: Browser, errors: PageErrors, app: ServedApp, email: str) -> Page:
    page = errors.watch(await (await browser.new_context()).new_page())
    await goto(page, f"{app.url}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{app.url}/")
    return page


async def _curator_on_shelf(
    app_db: AsyncSession, browser: Browser, errors: PageErrors, app: ServedApp, name: str
) -> Page:
    """A librarian logged in, on the page of a collection of theirs called `name`."""
    curator = await make_user(app_db, Role.LIBRARIAN, email="keeper@example.org")
    shelf = await make_collection(app_db, curator, name)
    await app_db.commit()
    page = await _logged_in(browser, errors, app, curator.email)
    await goto(page, f"{app.url}/collections/{shelf.slug}")
    return page


async def _upload_and_open(page: Page, file: Path) -> None:
    """Upload a file on its collection's page, wait until it is ready, open its page."""
    await page.locator("#documents input[type=file]").set_input_files(str(file))
    row = page.locator(".document-row", has_text=file.name)
    await expect(row.get_by_text("ready")).to_be_visible(timeout=60_000)
    await row.get_by_role("link").first.click()
    await page.locator('[data-ready="true"]').wait_for()


async def test_a_curators_cover_new_version_and_a_refused_import(
    served_app: ServedApp,
    browser: Browser,
    page_errors: PageErrors,
    app_db: AsyncSession,
    tmp_path: Path,
) -> None:
    page = await _curator_on_shelf(app_db, browser, page_errors, served_app, "Lamp rooms")

    # A cover: streamed into a bounded buffer, then made a WebP.
    cover = tmp_path / "cover.png"
    cover.write_bytes(_png())
    await page.click("#manage")
    await page.locator("#cover input[type=file]").set_input_files(str(cover))
    await expect(page.locator("#manage-panel")).to_contain_text("The cover is changed.")
    await expect(page.locator("#collection-cover")).to_be_visible()

    # An import whose ZIP is a bomb: refused as it streams, and nothing of it is kept.
    records = tmp_path / "records.csv"
    records.write_text("filename,title\npage0.txt,Zeros\n")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i in range(300):
            z.writestr(f"page{i}.txt", b"\0" * (1 << 20))
    await page.locator("#bulk-import input[type=file]").set_input_files([str(records), str(bomb)])
    await expect(page.locator("#import-panel")).to_contain_text(
        "bomb.zip: page0.txt expands more than 200 times: a decompression bomb?"
    )
    imports = Path(served_app.env["DATA_DIR"]) / "objects" / "imports"
    assert not imports.exists() or not [p for p in imports.rglob("*") if p.is_file()]

    # A document, then a new version of it from its page.
    first = tmp_path / "log.txt"
    first.write_text("Lamp lit at dusk.\n")
    await _upload_and_open(page, first)
    second = tmp_path / "log-2.txt"
    second.write_text("Lamp lit at dusk. Wind from the north-east.\n")
    await page.locator("#new-version input[type=file]").set_input_files(str(second))
    await expect(page.get_by_text("Received log-2.txt")).to_be_visible()
    # The bomb's refusal may reach the browser as the upload's answer (a 400, which
    # Chromium logs) or as a cut stream, depending on when it is read: that line once at
    # most, and nothing else.
    refused = [m for m in page_errors.messages if "status of 400" in m and m.endswith("/_upload")]
    assert len(refused) <= 1
    assert [m for m in page_errors.messages if m not in refused] == []
    assert served_app.errors() == []


async def test_every_page_of_an_uploaded_pdf_is_shown_as_an_image(
    served_app: ServedApp,
    browser: Browser,
    page_errors: PageErrors,
    app_db: AsyncSession,
    tmp_path: Path,
) -> None:
    """Ingest draws the first page; the web process draws any other when it is opened."""
    from tests.jobs.files import text_pdf

    page = await _curator_on_shelf(app_db, browser, page_errors, served_app, "Log books")
    pdf = tmp_path / "watches.pdf"
    pdf.write_bytes(text_pdf([f"Watch {n} kept" for n in range(1, 6)]))
    await _upload_and_open(page, pdf)
    await expect(page.locator("#page-text")).to_be_visible()  # (the viewer starts open)
    for number in (1, 4):
        if number > 1:
            await page.get_by_label("Page number").fill(str(number))
            await page.get_by_role("button", name="Go").click()
        await expect(page.locator("#page-text")).to_contain_text(f"Watch {number} kept")
        image = page.locator("#page-image")
        await expect(image).to_have_attribute("alt", f"Page {number}")
        await page.wait_for_function(
            "() => { const i = document.querySelector('#page-image');"
            " return i && i.complete && i.naturalWidth > 0 }"
        )
        assert abs(await image.evaluate("i => i.naturalWidth") - 900) <= 1  # PDFium rounds
    # Pictures of the pages around the one shown lead to theirs.
    pictures = page.locator("#page-pictures")
    await expect(pictures.get_by_role("button")).to_have_count(5)
    await expect(pictures.get_by_role("button", name="Page 4")).to_have_attribute(
        "aria-current", "page"
    )
    await pictures.get_by_role("button", name="Page 2").click()
    await expect(page.locator("#page-label")).to_have_text("Page 2 of 5")
    await expect(page.locator("#page-text")).to_contain_text("Watch 2 kept")
    # The words searched for are marked on the page's image too, where they stand, at
    # both widths: "kept" follows "Watch 2 " (71 pt of Helvetica 18 pt from 72 pt in) on
    # a 612 pt wide page, its line 720 pt up a 792 pt page.
    await page.get_by_label("Find in this document").fill("kept")
    await page.get_by_label("Find in this document").press("Enter")
    await expect(page.locator("#found-count")).to_have_text("On 5 pages:")
    await expect(page.locator("#page-label")).to_have_text("Page 1 of 5")
    mark = page.locator("#page-picture .page-mark")
    await expect(mark).to_have_count(1)
    for width in (1280, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        picture, box = await page.locator("#page-image").bounding_box(), await mark.bounding_box()
        assert picture is not None and box is not None
        left = (box["x"] - picture["x"]) / picture["width"]
        top = (box["y"] - picture["y"]) / picture["height"]
        assert 0.21 < left < 0.26 and 0.06 < top < 0.1, (width, left, top)
        assert box["width"] / picture["width"] < 0.12 and box["height"] / picture["height"] < 0.04
        await page.locator("#text-viewer").screenshot(path=str(tmp_path / f"marks-{width}.png"))
    await page.get_by_label("Find in this document").fill("zeppelin")
    await page.get_by_label("Find in this document").press("Enter")
    await expect(page.locator("#found-count")).to_have_text("No page has those words.")
    await expect(mark).to_have_count(0)
    assert page_errors.messages == []
    assert served_app.errors() == []
