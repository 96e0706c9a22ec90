"""Word, Excel and PowerPoint 97-2003, .xlsx, .pptx, .ods, .odp and WordPerfect through a
real burst worker: LibreOffice turns each into a PDF, which is read page by page, pictured
and indexed; files locked by a password end "needs a password", never published empty.

The fixtures were made by LibreOffice from text written for them (tests/fixtures/office/
make.py; the WordPerfect file by the format's rules, which LibreOffice reads but cannot
write)."""

from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents.models import Document, DocumentPage, DocumentVersion, IngestStatus
from backend.ingest import pages as page_images
from backend.search import service as search
from backend.storage.service import get_store
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_file
from tests.worker import run_burst

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "office"
# file: (its type, pages, title, a phrase only its text holds)
READ = {
    "report.doc": ("application/msword", 1, "Zanzibar archive report", "palm leaves"),
    "ledger.xls": ("application/vnd.ms-excel", 2, "Acquisitions ledger", "Herbarium of Lisbon"),
    "ledger.xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        2,
        "Acquisitions ledger",
        "Ptolemy Okonkwo",
    ),
    "ledger.ods": (
        "application/vnd.oasis.opendocument.spreadsheet",
        2,
        "Acquisitions ledger",
        "Tierra del Fuego",
    ),
    "slides.ppt": ("application/vnd.ms-powerpoint", 2, "Timbuktu digitisation", "colour targets"),
    "slides.pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        2,
        "Timbuktu digitisation",
        "Dublin Core",
    ),
    "slides.odp": (
        "application/vnd.oasis.opendocument.presentation",
        2,
        "Timbuktu digitisation",
        "cradles",
    ),
    # No title of its own (WordPerfect 5 has no document summary here): the first words.
    "minutes.wpd": ("application/vnd.wordperfect", 1, None, "Okavango river survey"),
}
LOCKED = {
    "locked.doc": ("convert", "The Word 97-2003 document is protected by a password"),
    "locked.xls": ("convert", "The Excel 97-2003 workbook is protected by a password"),
    "locked.xlsx": ("sniff", "The Office file is protected by a password"),
    "locked.ods": ("convert", "The OpenDocument spreadsheet is protected by a password"),
    "locked.odp": ("convert", "The OpenDocument presentation is protected by a password"),
}


async def test_office_files_are_converted_read_pictured_and_found(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    uploaded = {
        name: await upload_file(db, librarian, collection, FIXTURES / name) for name in READ
    }
    await db.commit()
    worker = await run_burst()
    assert worker.jobs_failed == 0
    patron = await make_user(db)
    for name, (mime, pages, title, phrase) in READ.items():
        document, version = uploaded[name]
        await db.refresh(version)
        assert version.status == IngestStatus.READY, (name, version.error)
        assert (version.mime_type, version.page_count) == (mime, pages), name
        assert version.thumbnail_key, name  # the converted PDF's first page
        # The first page pictured at ingest, the others drawn from the PDF made, kept.
        assert version.page_images == 1 and version.pdf_key == f"converted/{version.id}.pdf"
        last = await page_images.open_page_image(
            session=db, actor=patron, document_id=document.id, page_no=pages
        )
        assert await get_store().exists(last.key), name
        rows = (
            await db.exec(select(DocumentPage).where(DocumentPage.version_id == version.id))
        ).all()
        assert len(rows) == pages, name
        document = await db.get(Document, document.id, populate_existing=True)  # type: ignore[assignment]
        if title:
            assert document.title == title, name  # from the file's own properties
        found = await search.search(session=db, actor=patron, query=f'"{phrase}"')
        assert document.id in {h.document_id for h in found.hits}, (name, phrase)
    # A cell's text that ran over its neighbour is whole (the columns are fitted).
    found = await search.search(session=db, actor=patron, query="Lisbon Kamchatka")
    ledgers = {uploaded[n][0].id for n in ("ledger.xls", "ledger.xlsx", "ledger.ods")}
    assert {h.document_id for h in found.hits} == ledgers
    # One word for the kind of file, whatever its format.
    found = await search.search(session=db, actor=patron, query="Timbuktu OR Okonkwo")
    kinds = {v.label: v.count for v in found.facets["type"]}
    assert kinds == {"Presentation": 3, "Spreadsheet": 3}


async def test_office_files_locked_by_a_password_are_never_published_empty(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    uploaded = {n: await upload_file(db, librarian, collection, FIXTURES / n) for n in LOCKED}
    await db.commit()
    await run_burst()
    for name, (step, reason) in LOCKED.items():
        _, version = uploaded[name]
        await db.refresh(version)
        assert version.status == IngestStatus.NEEDS_PASSWORD, (name, version.error)
        assert version.step == step, name
        assert version.error.startswith(reason), (name, version.error)
        assert "Upload a copy saved without the password as a new version." in version.error
    versions = (await db.exec(select(DocumentVersion))).all()
    assert all(v.status != IngestStatus.READY for v in versions)


XML_FIXTURES = FIXTURES.parent / "xml"


async def test_fictionbook_svg_and_xml_are_read_pictured_and_found(
    db: AsyncSession, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    names = ("tale.fb2", "harbour.svg", "letter.tei.xml")
    uploaded = {n: await upload_file(db, librarian, collection, XML_FIXTURES / n) for n in names}
    await db.commit()
    await run_burst()
    patron = await make_user(db)
    for name, title, word, pages in (
        ("tale.fb2", "Сказка о полярной станции", "радист", 3),
        ("harbour.svg", "Harbour of Longyearbyen", "fathoms", 1),
        ("letter.tei.xml", "Lettre de Marie Curie à Paul Langevin", "polonium", 1),
    ):
        document, version = uploaded[name]
        await db.refresh(version)
        assert version.status == IngestStatus.READY, (name, version.error)
        assert version.page_count == pages and version.thumbnail_key, name
        document = await db.get(Document, document.id, populate_existing=True)  # type: ignore[assignment]
        assert document.title == title
        found = await search.search(session=db, actor=patron, query=word)
        assert [h.document_id for h in found.hits] == [document.id], name
    found = await search.search(session=db, actor=patron, query="радист OR fathoms OR polonium")
    assert {v.label for v in found.facets["type"]} == {"E-book", "Image", "XML"}
