"""Page images drawn when a reader first opens a page, and kept.

Ingest draws a PDF's first page only (backend.ingest.thumbnails.PAGE_IMAGES): drawing
every page of every document when it arrives made page images most of the cost of
ingesting a text PDF, for pages few people look at. Any other page is drawn the first time
someone opens it, from the version's PDF (the file itself, or LibreOffice's conversion of
an office file), in the sandbox like any reading of a file, with the next few pages a
reader turns to; the images are stored, so the next reader gets the stored one.
"""

import asyncio
import hashlib
import io
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from weakref import WeakKeyDictionary

from PIL import Image
from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents import service as documents
from backend.documents.service import Served, page_image_key
from backend.errors import Conflict, LibraryError
from backend.ingest import sandbox
from backend.ingest.parsers import ocr
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.storage.base import ObjectStore
from backend.storage.service import (
    cached_copy,
    get_store,
    read_limited,
    store_file,
    store_stream,
)
from backend.users.models import User

SMALL_WIDTH = 120  # pixels: the pictures of pages to jump by (shown 56-60 px wide, 2x)
MAX_PAGE_IMAGE_BYTES = 20 << 20  # a drawn page's WebP is 30-300 KB
WINDOW = 4  # pages drawn at once: the one opened and the next ones, if not drawn yet
DRAWING_AT_ONCE = 2  # per process: readers opening many pages wait rather than fork more

MARKED_WORDS = 20  # distinct words looked for on a page
BOXES_KEPT_SECONDS = 86_400  # a version's file never changes: its boxes are kept a day

log = logging.getLogger(__name__)
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
    *,
    session: AsyncSession,
    actor: User | None,
    document_id: int,
    page_no: int,
    small: bool = False,
) -> Served:
    """A page's image, if the actor may see the document: the stored one, or drawn now.
    `small`: its picture to jump by (SMALL_WIDTH wide), made from the page's image the
    first time it is asked for, and kept."""
    found = await documents.page_image(
        session=session, actor=actor, document_id=document_id, page_no=page_no
    )
    store = get_store()
    if small:
        key = page_image_key(found.version_id, page_no, small=True)
        if not await store.exists(key):
            if not found.drawn and not await store.exists(found.key):
                await _draw(store, found, page_no)
            await _shrink(store, found.key, key)
        return Served(key, found.public)
    if not found.drawn and not await store.exists(found.key):
        await _draw(store, found, page_no)
    return Served(found.key, found.public)


async def _shrink(store: ObjectStore, key: str, small_key: str) -> None:
    """The picture to jump by, from the page's image (drawn by this library, a bounded
    WebP): SMALL_WIDTH wide, stored beside it."""
    data = await read_limited(store, key, limit=MAX_PAGE_IMAGE_BYTES, what="The page's image")

    def shrink() -> bytes:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((SMALL_WIDTH, SMALL_WIDTH * 4))
            out = io.BytesIO()
            image.save(out, "WEBP", quality=70, method=2)
            return out.getvalue()

    small = await asyncio.to_thread(shrink)

    async def one_chunk() -> AsyncIterator[bytes]:
        yield small

    try:
        await store_stream(store, one_chunk(), key=small_key, max_bytes=len(small))
    except Conflict:
        pass  # made meanwhile by another request: the same picture


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


@dataclass(frozen=True)
class Box:
    """Where a word stands on a page's image: fractions of its width and height."""

    left: float
    top: float
    right: float
    bottom: float


async def word_boxes(
    *, session: AsyncSession, actor: User | None, document_id: int, page_no: int, words: list[str]
) -> list[Box]:
    """Where `words` (those marked in the page's text) stand on the page's image, if the
    actor may see the document: read in the sandbox from the PDF's text layer, or by OCR
    of a page without one, and kept a day per version, page and words. [] when the file
    cannot be read now (the marks are a help: the page's text is marked all the same)."""
    wanted = sorted({w.strip() for w in words if w.strip()})[:MARKED_WORDS]
    if not wanted:
        return []
    found = await documents.page_image(
        session=session, actor=actor, document_id=document_id, page_no=page_no
    )
    digest = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:32]
    kept_key = f"boxes:{found.version_id}:{page_no}:{digest}"
    try:
        kept = await get_redis().get(kept_key)
    except (RedisError, OSError):  # Redis away: looked up anew
        kept = None
    if kept is not None:
        return [Box(*b) for b in json.loads(kept)]
    languages = ocr.languages_for_words(wanted, found.language, get_settings().ocr_languages)
    limit = get_settings().max_upload_bytes
    async with _limit():
        with tempfile.TemporaryDirectory(prefix="boxes-") as tmp:
            async with cached_copy(get_store(), found.pdf_key, limit=limit) as pdf:
                result = await sandbox.find_words(pdf, page_no, wanted, Path(tmp), ocr=languages)
    if result.error:
        log.warning(
            "words not found on page %s of version %s: %s", page_no, found.version_id, result.error
        )
        return []
    try:
        await get_redis().set(kept_key, json.dumps(result.boxes), ex=BOXES_KEPT_SECONDS)
    except (RedisError, OSError):
        pass  # not kept: looked up again next time
    return [Box(*b) for b in result.boxes]
