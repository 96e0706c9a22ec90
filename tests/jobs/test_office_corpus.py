"""Every file of the shared office corpus (119 real office, e-mail, text and PDF files
from another project's test suite) ends ready with its text, or in a state whose reason
is true and clear."""

from pathlib import Path

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.documents.models import DocumentPage, DocumentVersion, IngestStatus
from backend.errors import InvalidInput
from backend.ingest import sniff
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_file
from tests.worker import run_burst

VAGUE = ("stopped unexpectedly", "The reader failed on this file", "crashed", "Traceback")
PASSWORD = (
    "is protected by a password, so its text cannot be read and it is not published. Upload "
    "a copy saved without the password as a new version."
)
# What does not end ready, and the reason it gives (each checked true in the manifest).
NOT_READY = {
    "empty.eml": (IngestStatus.FAILED, "extract", "The file is empty: it holds no e-mail message."),
    "fake-text-all-whitespace.txt": (
        IngestStatus.FAILED,
        "extract",
        "The file holds no text: only spaces or blank lines.",
    ),
    "password.pdf": (IngestStatus.NEEDS_PASSWORD, "extract", f"The PDF {PASSWORD}"),
    "password_protected.xlsx": (
        IngestStatus.NEEDS_PASSWORD,
        "sniff",
        f"The Office file {PASSWORD}",
    ),
    # An archive is many documents: the bulk import takes them one by one.
    "simple.zip": (
        IngestStatus.FAILED,
        "sniff",
        "Files of this type (a ZIP archive) are not accepted. Accepted: " + sniff.ACCEPTED + ".",
    ),
}
# Ready with nothing to read: a workbook with one empty sheet, a slide that is a picture.
NO_TEXT = {"empty.xlsx", "test-image-jpg-mime.pptx"}
# A phrase of each kind of file and case of the manifest, as a reader of it sees it.
READ = {
    "email-no-utf8-2008-07-16.062410.eml": "Tamir Erez",
    "fake-email-utf-16-be.eml": "Matthew Robinson",
    "signed-doc.p7s": "This is a test",
    "fake-email-attachment.msg": "fake-attachment.txt",
    "fake-doc-emphasized-text.doc": "bold-italic",
    "simple.doc": "favorite things",
    "eng_spa_mult.doc": "born free and equal",
    "tests-example.xls": "What C datatypes are 8 bits?",
    "fake-power-point.ppt": "Adding a Bullet Slide",
    "eng_spa_mult.ppt": "Todos los seres humanos",
    "docx-hdrftr.docx": "First header para",
    "docx-shapes.docx": "Paragraph with single within",
    "handbook-872p.docx": "Standing Trustees",
    "2023-half-year-analyses-by-segment.xlsx": "Nestlé",
    "emoji.xlsx": "🤠",
    "vodafone.xlsx": "Nine quarters to 30 June 2023",
    "group-shapes-nested.pptx": "A",
    "sample-presentation.pptx": "This is the first content slide",
    "fake.odt": "Lorem ipsum dolor sit amet",
    "eng_spa_mult.rtf": "dotados como están de razón",
    "example-steelJIS-datasheet-utf-16.html": "Japanese Steels and Alloys",
    "fake-html-cp1252.html": "Die schöne Frau",
    "factbook-utf-16.xml": "Washington, DC",
    "factbook.xsl": "World Factbook",
    "stanley-cups-utf-16.csv": "Maple Leafs",
    "README.org": "Example Docs",
    "codeblock.md": "HTML Example",
    "umlauts-non-utf8.md": "können äöüß",
    "fake-text-utf-16-be.txt": "Doylestown, PA 18901",
    "fake-text-utf-32.txt": "Doylestown, PA 18901",
    "UDHR_first_article_all.txt": "Universal Declaration of Human Right",
    "winter-sports.epub": "Winter Sports in Switzerland",
    "DA-1p.heic": "Abomination",
    "layout-parser-paper-combined.tiff": "LayoutParser",
    "chi_sim_image.jpeg": "清道夫",  # OSD cannot judge a line: tesseract's surest language
    "jpn-vert.jpeg": "日本語",  # vertical Japanese, read in jpn_vert
    # OSD calls the page Latin; its Korean lines are read in Korean too.
    "english-and-korean.png": "안녕하세요",
    "loremipsum-flat.pdf": "Lorem ipsum dolor sit amet",
    # Its OCR layer says "Eeairing to keep you posted": the scan is read again.
    "pdf-with-ocr-text.pdf": "Desiring to keep you posted on the progress of the Foundation",
    "korean-text-with-tables.pdf": "무이자할부",
    "copy-protected.pdf": "LayoutParser",
    "fr_olap.pdf": "Résumés et interrogations de logs de requêtes OLAP",
    "pdf2image-memory-error-test-400p.pdf": "IDRS Terminal Responses",
}


async def test_every_office_corpus_file_ends_ready_with_its_text_or_says_why(
    db: AsyncSession, corpus: Path, data_dir: Path
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    collection = await make_collection(db, librarian)
    files = sorted((corpus / "office" / "unstructured").iterdir())
    assert len(files) == 119
    for path in files:
        if path.stat().st_size == 0:  # refused at the upload, with its reason
            with pytest.raises(InvalidInput, match=f"{path.name} is empty"):
                await upload_file(db, librarian, collection, path)
            continue
        await upload_file(db, librarian, collection, path)
    await db.commit()
    worker = await run_burst()
    assert worker.jobs_failed == 0
    outcome = {}
    pictured = {}
    for version in (await db.exec(select(DocumentVersion))).all():
        pages = (
            await db.exec(select(DocumentPage).where(DocumentPage.version_id == version.id))
        ).all()
        text = " ".join(" ".join(p.text for p in pages).split())
        outcome[version.filename] = (version.status, version.step, version.error, text)
        pictured[version.filename] = bool(version.thumbnail_key)
    assert len(outcome) == len(files) - 1  # empty.txt was never stored
    for name, (status, step, error, text) in outcome.items():
        if name in NOT_READY:
            assert (status, step, error) == NOT_READY[name], name
            continue
        assert status == IngestStatus.READY, (name, status, error)
        assert not any(v in error for v in VAGUE), (name, error)
        # Every ready document has a picture: its own, a page, or its text drawn.
        assert pictured[name], name
        if name not in NO_TEXT:
            assert text, name
    for name, phrase in READ.items():
        assert phrase in outcome[name][3], (name, outcome[name][3][:300])
    for name in NO_TEXT:
        assert outcome[name][3] == "", name
