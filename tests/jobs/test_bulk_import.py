"""Bulk import (CSV + ZIP in the object store) through the real worker: the dry run, then
the import through the normal pipeline, each member read under the upload's limits; a
damaged member is its row's error, and an import always ends. CSV export that the import
reads back unchanged."""

import asyncio
import csv
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.browse import service as browse
from backend.clock import utcnow
from backend.collections import service as collections
from backend.collections.models import Collection
from backend.documents import bulk, bulk_rows
from backend.errors import InvalidInput, NotFound
from backend.imports import runner
from backend.imports import service as imports
from backend.imports.models import BulkImport, ImportStatus
from backend.search import service as search
from backend.storage.service import get_store, store_stream
from backend.users.models import Role, User
from tests.factories import make_collection, make_user, upload_bytes
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


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


FILES = {"scans/harbour.txt": b"Soundings of the harbour at low water.\n", "tides.txt": b"Tides.\n"}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]


async def stage(
    db: AsyncSession, actor: User, collection: Collection, csv_data: str, archive: bytes | None
) -> int:
    """The import as the upload leaves it: both files stored, the row recorded."""
    folder = imports.ImportFolder()
    await store_stream(get_store(), _chunks(csv_data.encode()), key=folder.csv_key)
    if archive is not None:
        await store_stream(get_store(), _chunks(archive), key=folder.zip_key)
    assert collection.id is not None
    row = await imports.create(
        session=db,
        actor=actor,
        collection_id=collection.id,
        folder=folder,
        has_csv=True,
        has_zip=archive is not None,
    )
    await db.commit()
    assert row.id is not None
    return row.id


async def state_of(db: AsyncSession, import_id: int) -> BulkImport:
    row = await db.get(BulkImport, import_id, populate_existing=True)
    assert row is not None
    return row


async def start(db: AsyncSession, actor: User, import_id: int) -> None:
    await imports.start(session=db, actor=actor, import_id=import_id)
    await db.commit()


@pytest.fixture
async def place(db: AsyncSession, data_dir: Path) -> dict[str, object]:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Charts")
    await db.commit()
    return {"librarian": librarian, "shelf": shelf}


async def count(db: AsyncSession, table: str) -> int:
    return int((await db.exec(text(f"SELECT count(*) FROM {table}"))).one()[0])  # type: ignore[call-overload]


async def test_dry_run_reports_every_row_and_writes_nothing(
    db: AsyncSession, place: dict[str, object]
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    import_id = await stage(db, librarian, shelf, CSV, zip_of(FILES))  # type: ignore[arg-type]
    await run_burst()
    row = await state_of(db, import_id)
    assert row.status == ImportStatus.PLANNED
    assert (row.rows_total, row.adding, row.updating, row.refused) == (4, 1, 0, 3)
    view = await imports.get(session=db, actor=librarian, import_id=import_id, rows=10)  # type: ignore[arg-type]
    assert view.report is not None and view.may_start
    by_line = {r.line: r for r in view.report.rows}
    assert [(r.line, r.action) for r in view.report.rows] == [
        (3, "refused"),
        (4, "refused"),
        (5, "refused"),
        (2, "add"),  # refused rows come first: they need a person's eye
    ]
    assert by_line[2].filename == "harbour.txt"  # found in scans/ by its name
    assert "=cmd.txt is not in the ZIP." in by_line[3].problems
    assert any("YYYY" in p for p in by_line[4].problems)  # 1851-13 is no date
    assert by_line[5].problems == ["lost.txt is not in the ZIP."]
    assert view.report.new_subjects == ["Maritime -- Charts"]  # a librarian may extend it
    assert await count(db, "documents") == 0
    assert await count(db, "subjects") == 0


async def test_the_dry_run_refuses_duplicates_and_impossible_dates(
    db: AsyncSession, place: dict[str, object]
) -> None:
    """A file the library holds already (byte for byte), a file with the same bytes as an
    earlier row's, and a day the calendar does not have are refused by the dry run,
    not called "add" (the pipeline would only stop them later)."""
    librarian, shelf = place["librarian"], place["shelf"]
    held = b"Soundings of the harbour at low water.\n"
    stacks = await make_collection(db, librarian, "Stacks", is_public=False)  # type: ignore[arg-type]
    await upload_bytes(db, librarian, stacks, held, "held.txt")  # type: ignore[arg-type]
    await db.commit()
    await run_burst()
    rows = (
        "filename,title,date\n"
        "again.txt,Held already,1850\n"
        "fresh.txt,Fresh,1851\n"
        "twin.txt,Twin of fresh,1852\n"
        "leap.txt,Not a day,2023-02-29\n"
    )
    members = {
        "again.txt": held,
        "fresh.txt": b"Fresh soundings.\n",
        "twin.txt": b"Fresh soundings.\n",
        "leap.txt": b"Another file.\n",
    }
    import_id = await stage(db, librarian, shelf, rows, zip_of(members))  # type: ignore[arg-type]
    await run_burst()
    view = await imports.get(session=db, actor=librarian, import_id=import_id, rows=10)  # type: ignore[arg-type]
    assert view.report is not None
    by_line = {r.line: r for r in view.report.rows}
    assert {line: r.action for line, r in by_line.items()} == {
        2: "refused",
        3: "add",
        4: "refused",
        5: "refused",
    }
    assert by_line[2].problems == ["The library already holds this file: “held” in Stacks."]
    assert by_line[4].problems == ["The same file as line 3's (byte for byte)."]
    assert by_line[5].problems == ["There is no 2023-02-29: that month has fewer days."]
    # A curator who cannot see the original (a patron curating a collection of their
    # own; librarians see every collection) is not told its name.
    other = await make_user(db)
    hidden = await make_collection(db, librarian, "Back room", is_public=False)  # type: ignore[arg-type]
    assert hidden.id is not None
    await collections.add_member(
        session=db, actor=librarian, collection_id=hidden.id, email=other.email, role="curator"
    )  # type: ignore[arg-type]
    await db.commit()
    import_id = await stage(db, other, hidden, "filename\nagain.txt\n", zip_of(members))
    await run_burst()
    view = await imports.get(session=db, actor=other, import_id=import_id, rows=10)
    assert view.report is not None
    assert view.report.rows[0].problems == [
        "The library already holds this file, in a collection you cannot see."
    ]


async def test_bad_files_end_the_dry_run_with_a_reason(
    db: AsyncSession, place: dict[str, object]
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    latin = await stage(db, librarian, shelf, "title\nCaf\xe9\n", None)  # type: ignore[arg-type]
    # (stage writes UTF-8; rewrite the CSV as Latin-1 in the store)
    row = await state_of(db, latin)
    await get_store().delete(row.csv_key)
    await store_stream(get_store(), _chunks("title\nCaf\xe9\n".encode("latin-1")), key=row.csv_key)
    columns = await stage(db, librarian, shelf, "filename,colour\na.txt,red\n", None)  # type: ignore[arg-type]
    not_zip = await stage(db, librarian, shelf, CSV, b"not a zip")  # type: ignore[arg-type]
    await run_burst()
    assert (await state_of(db, latin)).error == "The CSV file must be saved as UTF-8."
    assert (await state_of(db, columns)).error.startswith("Unknown column(s): colour.")
    failed = await state_of(db, not_zip)
    assert (failed.status, failed.error) == ("failed", "The ZIP file is damaged or not a ZIP file.")
    with pytest.raises(InvalidInput, match="no checked rows"):
        await imports.start(session=db, actor=librarian, import_id=not_zip)  # type: ignore[arg-type]
    await db.rollback()


async def test_only_the_collections_curators_see_and_run_its_imports(
    db: AsyncSession, place: dict[str, object]
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    import_id = await stage(db, librarian, shelf, CSV, zip_of(FILES))  # type: ignore[arg-type]
    patron = await make_user(db)
    stranger = await make_user(db, Role.LIBRARIAN)
    await db.commit()
    for who in (None, patron, stranger):
        with pytest.raises(NotFound, match="No such import."):
            await imports.get(session=db, actor=who, import_id=import_id)
        with pytest.raises(NotFound, match="No such import."):
            await imports.start(session=db, actor=who, import_id=import_id)
        with pytest.raises(NotFound):
            await imports.create(
                session=db,
                actor=who,
                collection_id=shelf.id,  # type: ignore[attr-defined]
                folder=imports.ImportFolder(),
                has_csv=True,
                has_zip=False,
            )
    await db.rollback()


async def test_import_then_export_then_import_again_changes_nothing(
    db: AsyncSession, place: dict[str, object]
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    import_id = await stage(db, librarian, shelf, CSV, zip_of(FILES))  # type: ignore[arg-type]
    await run_burst()
    await start(db, librarian, import_id)  # type: ignore[arg-type]
    await run_burst()  # the import, then the normal pipeline for its file
    row = await state_of(db, import_id)
    assert (row.status, row.rows_done, row.added, row.updated, row.failures) == (
        "done",
        4,
        1,
        0,
        [],
    )
    assert not await get_store().exists(row.zip_key)  # an ended import's files are gone
    doc_id = (await db.exec(text("SELECT id FROM documents"))).one()[0]  # type: ignore[call-overload]
    status = (
        await db.exec(
            text(f"SELECT listed, title, year, metadata_source FROM documents WHERE id = {doc_id}")
        )
    ).one()  # type: ignore[call-overload]
    # The CSV's record stands: the file's own metadata does not replace it.
    assert tuple(status) == (True, "Harbour soundings", 1850, "edited")
    authors = await browse.keys(session=db, actor=None, classifier="author")
    assert [k.label for k in authors.keys] == ["Doe, Jane", "Stevenson, Alan"]
    audit = (await db.exec(text("SELECT action FROM audit_log ORDER BY id"))).all()  # type: ignore[call-overload]
    # The library's audit log: the shelf founded, the import started, the document it
    # added and the record it wrote.
    assert [a[0] for a in audit] == [
        "collection_created",
        "import_started",
        "document_added",
        "import",
    ]

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
    again = await stage(db, librarian, shelf, exported, None)  # type: ignore[arg-type]
    await run_burst()
    assert (await state_of(db, again)).updating == 1
    await start(db, librarian, again)  # type: ignore[arg-type]
    await run_burst()
    assert (await state_of(db, again)).updated == 1
    audit = (await db.exec(text("SELECT action FROM audit_log ORDER BY id"))).all()  # type: ignore[call-overload]
    # The round trip changed no record, so no edit was logged: only that it was started.
    assert [a[0] for a in audit][4:] == ["import_started"]
    # An edited export updates just what changed, and says so in the audit log.
    rows[0]["title"] = "Harbour soundings, 2nd ed."
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    edited = await stage(db, librarian, shelf, out.getvalue(), None)  # type: ignore[arg-type]
    await run_burst()
    await start(db, librarian, edited)  # type: ignore[arg-type]
    await run_burst()
    changes = (await db.exec(text("SELECT changes FROM audit_log ORDER BY id DESC LIMIT 1"))).one()  # type: ignore[call-overload]
    assert changes[0] == {"title": ["Harbour soundings", "Harbour soundings, 2nd ed."]}


def _damaged_zip() -> bytes:
    good = b"A sound file.\n" * 50
    data = bytearray(
        zip_of(
            {
                "good.txt": good,
                "crc.txt": bytes(range(256)) * 40,
                "bomb.txt": b"\0" * (2 << 20),
                "cut.txt": bytes(range(256)) * 400,
            }
        )
    )
    at = data.index(b"crc.txt") + len(b"crc.txt") + 200
    data[at] ^= 0xFF  # a flipped byte in its compressed data
    at = data.index(b"cut.txt") + len(b"cut.txt") + 100
    data[at : at + 300] = b"\0" * 300  # a hole in its compressed data
    return bytes(data)


DAMAGED_CSV = "filename,title\ngood.txt,Good\ncrc.txt,Bad sum\nbomb.txt,Bomb\ncut.txt,Holed\n"


@pytest.mark.parametrize("where", ["local", "s3"])
async def test_damaged_members_are_their_rows_errors_and_the_import_ends(
    db: AsyncSession, place: dict[str, object], where: str, request: pytest.FixtureRequest
) -> None:
    if where == "s3":
        request.getfixturevalue("s3_store")
    librarian, shelf = place["librarian"], place["shelf"]
    import_id = await stage(db, librarian, shelf, DAMAGED_CSV, _damaged_zip())  # type: ignore[arg-type]
    await run_burst()
    row = await state_of(db, import_id)
    assert (row.status, row.adding, row.refused) == ("planned", 1, 3)
    problems = {r["filename"]: " ".join(r["problems"]) for r in row.report["rows"]}
    assert problems["good.txt"] == ""
    assert "crc.txt is damaged" in problems["crc.txt"]
    assert "bomb.txt expands more than 200 times" in problems["bomb.txt"]
    assert "cut.txt" in problems["cut.txt"]
    await start(db, librarian, import_id)  # type: ignore[arg-type]
    await run_burst()
    row = await state_of(db, import_id)
    assert (row.status, row.added, row.failures) == ("done", 1, [])
    titles = (await db.exec(text("SELECT title FROM documents"))).all()  # type: ignore[call-overload]
    assert [t[0] for t in titles] == ["Good"]


async def test_a_file_damaged_after_the_dry_run_fails_its_row_only(
    db: AsyncSession, place: dict[str, object]
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    csv_data = "filename,title\ngood.txt,Good\ncrc.txt,Bad sum\n"
    sound = zip_of({"good.txt": b"fine\n" * 10, "crc.txt": bytes(range(256)) * 40})
    import_id = await stage(db, librarian, shelf, csv_data, sound)  # type: ignore[arg-type]
    await run_burst()
    assert (await state_of(db, import_id)).adding == 2
    # The stored ZIP is not what the dry run read (a store fault, a second view of it).
    row = await state_of(db, import_id)
    await get_store().delete(row.zip_key)
    damaged = bytearray(sound)
    at = damaged.index(b"crc.txt") + len(b"crc.txt") + 200
    damaged[at] ^= 0xFF
    await store_stream(get_store(), _chunks(bytes(damaged)), key=row.zip_key)
    await start(db, librarian, import_id)  # type: ignore[arg-type]
    await run_burst()
    row = await state_of(db, import_id)
    assert (row.status, row.added) == ("done", 1)
    assert [f["line"] for f in row.failures] == [3]
    assert "crc.txt is damaged" in row.failures[0]["problem"]
    assert await count(db, "documents") == 1
    assert await count(db, "document_versions") == 1  # and no object is left without a row


async def test_a_stopped_import_is_failed_then_goes_on_where_it_stopped(
    db: AsyncSession, place: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    names = [f"f{i}.txt" for i in range(5)]
    csv_data = "filename,title\n" + "".join(f"{n},Title {n}\n" for n in names)
    import_id = await stage(
        db,
        librarian,  # type: ignore[arg-type]
        shelf,  # type: ignore[arg-type]
        csv_data,
        zip_of({n: f"text of {n}\n".encode() for n in names}),
    )
    await run_burst()
    await start(db, librarian, import_id)  # type: ignore[arg-type]
    real_apply = bulk_rows.apply_row
    applied = 0
    stuck = asyncio.Event()

    async def slow_apply(**kwargs: object) -> int:
        nonlocal applied
        if applied == 2:
            stuck.set()
            await asyncio.sleep(3600)  # as a job that outlives arq's timeout
        applied += 1
        return await real_apply(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk_rows, "apply_row", slow_apply)
    job = asyncio.create_task(runner.run(import_id, store=get_store()))
    await stuck.wait()
    job.cancel()  # what arq's job timeout does
    with pytest.raises(asyncio.CancelledError):
        await job
    row = await state_of(db, import_id)
    assert (row.status, row.rows_done, row.added) == ("failed", 2, 2)
    assert row.error.startswith("It took too long and was stopped.")
    assert await count(db, "documents") == 2
    monkeypatch.setattr(bulk_rows, "apply_row", real_apply)
    await start(db, librarian, import_id)  # type: ignore[arg-type]
    await run_burst()
    row = await state_of(db, import_id)
    assert (row.status, row.rows_done, row.added) == ("done", 5, 5)
    titles = sorted(t[0] for t in (await db.exec(text("SELECT title FROM documents"))).all())  # type: ignore[call-overload]
    assert titles == [f"Title f{i}.txt" for i in range(5)]  # each row once


async def test_a_long_import_runs_in_slices_and_twice_run_jobs_add_nothing(
    db: AsyncSession, place: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    names = [f"g{i}.txt" for i in range(4)]
    csv_data = "filename\n" + "".join(f"{n}\n" for n in names)
    import_id = await stage(
        db,
        librarian,  # type: ignore[arg-type]
        shelf,  # type: ignore[arg-type]
        csv_data,
        zip_of({n: f"{n}\n".encode() for n in names}),
    )
    await run_burst()
    monkeypatch.setattr(runner, "SLICE_SECONDS", 0.0)  # one row per job
    await start(db, librarian, import_id)  # type: ignore[arg-type]
    await run_burst()
    row = await state_of(db, import_id)
    assert (row.status, row.rows_done, row.added) == ("done", 4, 4)
    # arq may run a job twice: the import is over, so it does nothing.
    assert await runner.run(import_id, store=get_store()) == "skipped"
    assert await runner.check(import_id, store=get_store()) == "skipped"
    assert await count(db, "documents") == 4


async def test_an_abandoned_import_ends_failed_and_an_old_one_is_dropped(
    db: AsyncSession, place: dict[str, object]
) -> None:
    librarian, shelf = place["librarian"], place["shelf"]
    busy = await stage(db, librarian, shelf, CSV, zip_of(FILES))  # type: ignore[arg-type]
    old = await stage(db, librarian, shelf, CSV, None)  # type: ignore[arg-type]
    await db.exec(
        text("UPDATE bulk_imports SET updated_at = :t WHERE id = :i").bindparams(
            t=utcnow() - timedelta(hours=1), i=busy
        )
    )
    await db.exec(
        text(
            "UPDATE bulk_imports SET status = 'planned', updated_at = :t WHERE id = :i"
        ).bindparams(t=utcnow() - timedelta(days=8), i=old)
    )
    await db.commit()
    assert await runner.sweep() == 2
    abandoned, dropped = await state_of(db, busy), await state_of(db, old)
    assert (abandoned.status, abandoned.error) == (
        "failed",
        "The worker stopped during the dry run; drop the files again.",
    )
    assert dropped.status == "cancelled"
    await run_burst()  # the dropped import's files are deleted
    assert not await get_store().exists(dropped.csv_key)
    assert (await db.exec(select(BulkImport).where(BulkImport.status == "checking"))).all() == []


def test_a_cell_that_looks_like_a_formula_survives_the_round_trip() -> None:
    assert bulk._escape("=SUM(A1)") == "'=SUM(A1)"
    assert bulk._unescape("'=SUM(A1)") == "=SUM(A1)"
    assert bulk._unescape("'quoted") == "'quoted"


async def test_rows_without_a_file_are_records_without_a_zip_too(
    db: AsyncSession, place: dict[str, object]
) -> None:
    """A library catalogues what it holds on paper: rows that name no file are records
    alone, planned, written, browsed and searched, with or without a ZIP beside them."""
    librarian, shelf = place["librarian"], place["shelf"]
    csv_data = (
        "title,creators,date,description\n"
        "Lighthouse lens drawings,Fresnel Augustin,1822,Folio in drawer 4\n"
        ",Nobody,1900,A row with no title\n"
        "Harbour charts,Alan Stevenson,1850-02-30,\n"
    )
    import_id = await stage(db, librarian, shelf, csv_data, None)  # type: ignore[arg-type]
    await run_burst()
    row = await state_of(db, import_id)
    assert (row.status, row.adding, row.refused) == ("planned", 1, 2)
    view = await imports.get(session=db, actor=librarian, import_id=import_id, rows=10)  # type: ignore[arg-type]
    assert view.report is not None
    by_line = {r.line: r for r in view.report.rows}
    assert by_line[2].action == "add" and by_line[2].filename == ""
    assert any("needs a title" in p for p in by_line[3].problems)
    assert any("no 1850-02-30" in p for p in by_line[4].problems)
    await start(db, librarian, import_id)  # type: ignore[arg-type]
    await run_burst()  # the import, then the search engine's batch
    row = await state_of(db, import_id)
    assert (row.status, row.added, row.failures) == ("done", 1, [])
    made = (
        await db.exec(text("SELECT id, kind, listed, current_version_id FROM documents"))  # type: ignore[call-overload]
    ).one()
    assert tuple(made[1:]) == ("record", True, None)
    found = await search.search(session=db, actor=None, query="lens drawings")
    assert [h.document_id for h in found.hits] == [made[0]]
