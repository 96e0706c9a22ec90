"""Bulk import (CSV + ZIP) with a dry run, through the real pipeline; CSV export that the
import reads back unchanged."""

import csv
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.browse import service as browse
from backend.documents import bulk
from backend.errors import InvalidInput, NotFound
from backend.users.models import Role
from tests.factories import make_collection, make_user
from tests.worker import run_burst

CSV = (
    (
        "filename,title,creators,subjects,date,language,description\n"
        "harbour.txt,Harbour soundings,Alan Stevenson; Jane Doe,Maritime -- Charts,1850,en,"
        '"Depths, measured."\n'
    )
    + """=cmd.txt,Formula-looking name,,,,en,
tides.txt,,Ann Lee,Maritime,1851-13,en,
lost.txt,A missing file,,,,en,
"""
)


def _zip(tmp_path: Path) -> Path:
    path = tmp_path / "files.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("scans/harbour.txt", "Soundings of the harbour at low water.\n")
        z.writestr("tides.txt", "Tide tables.\n")
    return path


@pytest.fixture
async def place(db: AsyncSession, data_dir: Path) -> dict[str, object]:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Charts")
    await db.commit()
    return {"librarian": librarian, "shelf": shelf}


async def test_dry_run_reports_every_row_and_writes_nothing(
    db: AsyncSession, place: dict[str, object], tmp_path: Path
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    report = await bulk.plan(
        session=db,
        actor=librarian,
        collection_id=shelf.id,
        csv_data=CSV.encode(),
        zip_path=_zip(tmp_path),  # type: ignore[arg-type, attr-defined]
    )
    assert [(r.line, r.action) for r in report.rows] == [
        (2, "add"),
        (3, "refused"),
        (4, "refused"),
        (5, "refused"),
    ]
    assert report.rows[0].filename == "harbour.txt"  # found in scans/ by its name
    assert "=cmd.txt is not in the ZIP." in report.rows[1].problems
    assert any("YYYY" in p for p in report.rows[2].problems)  # 1851-13 is no date
    assert report.rows[3].problems == ["lost.txt is not in the ZIP."]
    assert report.new_subjects == ["Maritime -- Charts"]  # a librarian may extend the list
    count = (await db.exec(text("SELECT count(*) FROM documents"))).one()  # type: ignore[call-overload]
    assert count[0] == 0
    subjects = (await db.exec(text("SELECT count(*) FROM subjects"))).one()  # type: ignore[call-overload]
    assert subjects[0] == 0


async def test_bad_files_are_refused_before_anything_is_read(
    db: AsyncSession, place: dict[str, object], tmp_path: Path
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    with pytest.raises(InvalidInput, match="UTF-8"):
        bulk.read_csv("title\nCaf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="Unknown column"):
        bulk.read_csv(b"filename,colour\na.txt,red\n")
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(InvalidInput, match="ZIP"):
        await bulk.plan(
            session=db,
            actor=librarian,
            collection_id=shelf.id,
            csv_data=CSV.encode(),
            zip_path=not_zip,  # type: ignore[arg-type, attr-defined]
        )
    patron = await make_user(db)
    with pytest.raises(NotFound):
        await bulk.plan(
            session=db,
            actor=patron,
            collection_id=shelf.id,
            csv_data=CSV.encode(),
            zip_path=None,  # type: ignore[attr-defined]
        )


async def test_import_then_export_then_import_again_changes_nothing(
    db: AsyncSession, place: dict[str, object], tmp_path: Path
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    report = await bulk.apply(
        session=db,
        actor=librarian,
        collection_id=shelf.id,
        csv_data=CSV.encode(),
        zip_path=_zip(tmp_path),  # type: ignore[arg-type, attr-defined]
    )
    assert report.applied and report.adding == 1 and report.refused == 3
    await run_burst()  # the normal pipeline processes the file
    doc_id = report.rows[0].document_id
    status = (
        await db.exec(
            text(f"SELECT listed, title, year, metadata_source FROM documents WHERE id = {doc_id}")
        )
    ).one()  # type: ignore[call-overload]
    # The CSV's record stands: the file's own metadata does not replace it.
    assert tuple(status) == (True, "Harbour soundings", 1850, "edited")
    authors = await browse.keys(session=db, actor=None, classifier="author")
    assert [k.label for k in authors.keys] == ["Doe, Jane", "Stevenson, Alan"]
    audit = (await db.exec(text("SELECT action FROM audit_log"))).all()  # type: ignore[call-overload]
    assert [a[0] for a in audit] == ["import"]

    exported = await bulk.export_csv(session=db, actor=None, collection_id=shelf.id)  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows == [
        {
            "id": str(doc_id),
            "filename": "harbour.txt",
            "title": "Harbour soundings",
            "creators": "Alan Stevenson; Jane Doe",
            "contributors": "",
            "subjects": "Maritime -- Charts",
            "description": "Depths, measured.",
            "publisher": "",
            "date": "1850",
            "language": "en",
            "identifier": "",
            "source": "",
            "relation": "",
            "coverage": "",
            "rights": "",
        }
    ]
    again = await bulk.apply(
        session=db,
        actor=librarian,
        collection_id=shelf.id,
        csv_data=exported.encode(),
        zip_path=None,  # type: ignore[arg-type, attr-defined]
    )
    assert [(r.action, r.document_id) for r in again.rows] == [("update", doc_id)]
    audit = (await db.exec(text("SELECT action FROM audit_log"))).all()  # type: ignore[call-overload]
    assert len(audit) == 1  # the round trip changed nothing, so nothing was logged
    # An edited export updates just what changed, and says so in the audit log.
    rows[0]["title"] = "Harbour soundings, 2nd ed."
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    edited = out.getvalue()
    await bulk.apply(
        session=db,
        actor=librarian,
        collection_id=shelf.id,
        csv_data=edited.encode(),
        zip_path=None,  # type: ignore[arg-type, attr-defined]
    )
    changes = (await db.exec(text("SELECT changes FROM audit_log ORDER BY id DESC LIMIT 1"))).one()  # type: ignore[call-overload]
    assert changes[0] == {"title": ["Harbour soundings", "Harbour soundings, 2nd ed."]}


def test_a_cell_that_looks_like_a_formula_survives_the_round_trip() -> None:
    assert bulk._escape("=SUM(A1)") == "'=SUM(A1)"
    assert bulk._unescape("'=SUM(A1)") == "=SUM(A1)"
    assert bulk._unescape("'quoted") == "'quoted"
