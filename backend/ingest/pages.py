"""Page images drawn when a reader first opens a page, and kept.

Ingest draws a PDF's first page only (backend.ingest.thumbnails.PAGE_IMAGES): drawing
every page of every document when it arrives made page images most of the cost of
ingesting a text PDF, for pages few people look at. Any other page is drawn the first time
someone opens it, from the version's PDF (the file itself, or LibreOffice's conversion of
an office file), in the sandbox like any reading of a file, with the next few pages a
reader turns to; the images are stored, so the next reader gets the stored one.
"""

import asyncio
import tempfile
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents import service as documents
from backend.documents.service import Served, page_image_key
from backend.errors import Conflict, LibraryError
from backend.ingest import sandbox
from backend.settings import get_settings
from backend.storage.base import ObjectStore
from backend.storage.service import cached_copy, get_store, store_file
from backend.users.models import User

WINDOW = 4  # pages drawn at once: the one opened and the next ones, if not drawn yet
DRAWING_AT_ONCE = 2  # per process: readers opening many pages wait rather than fork more

_limits: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


class NotDrawn(LibraryError):
    """The page's image could not be drawn (the reason says why)."""

    status_code = 503


def _limit() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _limits:
        _limits[loop] = asyncio.Semaphore(DRAWING_AT_ONCE)
    return _limits[loop]


async def open_page_image(
    *, session: AsyncSession, actor: User | None, document_id: int, page_no: int
) -> Served:
    """A page's image, if the actor may see the document: the stored one, or drawn now."""
    found = await documents.page_image(
        session=session, actor=actor, document_id=document_id, page_no=page_no
    )
    store = get_store()
    if not found.drawn and not await store.exists(found.key):
        await _draw(store, found, page_no)
    return Served(found.key, found.public)


async def _draw(store: ObjectStore, found: documents.PageImage, page_no: int) -> None:
    last = page_no
    while last < min(found.page_count, page_no + WINDOW - 1):
        if await store.exists(page_image_key(found.version_id, last + 1)):
            break
        last += 1
    async with _limit():
        if await store.exists(found.key):  # drawn by another request while this one waited
            return
        with tempfile.TemporaryDirectory(prefix="pages-") as tmp:
            outdir = Path(tmp)
            limit = get_settings().max_upload_bytes
            async with cached_copy(store, found.pdf_key, limit=limit) as pdf:
                result = await sandbox.draw(pdf, page_no, last, outdir)
            if result.error or not result.page_images:
                raise NotDrawn(f"The image of page {page_no} could not be drawn. {result.error}")
            for n in range(page_no, page_no + result.page_images):
                try:
                    await store_file(
                        store, page_image_key(found.version_id, n), outdir / f"page-{n:04d}.webp"
                    )
                except Conflict:
                    pass  # drawn meanwhile by a request for a page before it: the same image
