"""What the upload and the ingest pipeline write in the data folder is private."""

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents.models import IngestStatus
from backend.documents.service import page_image_key
from backend.ingest import pages as page_images
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The web process's umask, as if it had been started with a permissive one: the
    store's own modes must hold anyway (the worker sets its own umask)."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _entries(root: Path) -> dict[Path, int]:
    return {p: stat.S_IMODE(p.lstat().st_mode) for p in root.rglob("*")}


async def test_originals_thumbnails_page_images_and_index_have_no_group_or_other_bits(
    db: AsyncSession, data_dir: Path, open_umask: None
) -> None:
    from PIL import Image, ImageDraw

    before = set(_entries(data_dir))
    pages = []
    for n in range(1, 3):
        page = Image.new("RGB", (600, 800), "white")
        ImageDraw.Draw(page).rectangle((50, 50, 50 + 100 * n, 150), fill="black")
        pages.append(page)
    pdf = io.BytesIO()
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:])
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian, is_public=False)
    document, version = await upload_bytes(db, librarian, collection, pdf.getvalue(), "2.pdf")
    await db.commit()
    await run_burst()
    await db.refresh(version)
    assert version.status == IngestStatus.READY, version.error
    assert version.thumbnail_key and version.page_images == 1
    # The second page's image, drawn when the librarian opens it.
    assert document.id is not None
    await page_images.open_page_image(
        session=db, actor=librarian, document_id=document.id, page_no=2
    )

    written = {p: mode for p, mode in _entries(data_dir).items() if p not in before}
    names = {p.relative_to(data_dir).parts[0] for p in written}
    assert {"objects", "search"} <= names  # the store's files and the search index
    objects = data_dir / "objects"
    stored = {p.relative_to(objects).as_posix() for p in written if objects in p.parents}
    assert version.file_key in stored and version.thumbnail_key in stored
    assert version.id is not None and page_image_key(version.id, 2) in stored
    open_to_others = {str(p): oct(mode) for p, mode in written.items() if mode & 0o077}
    assert open_to_others == {}
