"""Bulk import (a CSV of metadata plus a ZIP of files) and CSV export of a collection.

The import is planned first: every row is checked and the report says what would be
added, updated or refused and why, with nothing written. Then the good rows are applied:
each new file goes through the normal ingest pipeline (live progress on the collection
page), each row with an `id` updates that document's record (audited). The export writes
the same columns, so an exported file imports back unchanged.
"""

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import scope
from backend.access.roles import is_staff
from backend.documents import metadata
from backend.documents import service as documents
from backend.documents.models import Document
from backend.errors import InvalidInput
from backend.search.engine import fold
from backend.settings import get_settings
from backend.storage.service import get_store, store_stream
from backend.users.models import User

COLUMNS = [
    "id",
    "filename",
    "title",
    "creators",
    "contributors",
    "subjects",
    "description",
    "publisher",
    "date",
    "language",
    "identifier",
    "source",
    "relation",
    "coverage",
    "rights",
]
TEXT_COLUMNS = {
    "title": "title",
    "description": "description",
    "publisher": "publisher",
    "date": "date_issued",
    "language": "language",
    "identifier": "identifier",
    "source": "source",
    "relation": "relation",
    "coverage": "coverage",
    "rights": "rights",
}
LIST_SEPARATOR = ";"
MAX_ROWS = 100_000
MAX_CSV_BYTES = 64 * 1024 * 1024
MAX_RATIO = 200
# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class RowReport:
    line: int  # in the CSV file, counting the header as line 1
    action: str  # "add", "update" or "refused"
    title: str
    filename: str = ""
    document_id: int | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    rows: list[RowReport] = field(default_factory=list)
    new_subjects: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def adding(self) -> int:
        return sum(r.action == "add" for r in self.rows)

    @property
    def updating(self) -> int:
        return sum(r.action == "update" for r in self.rows)

    @property
    def refused(self) -> int:
        return sum(r.action == "refused" for r in self.rows)


# --- reading -----------------------------------------------------------------------------


def read_csv(data: bytes) -> list[dict[str, str]]:
    """The rows of a UTF-8 CSV (a byte-order mark is fine) with our header."""
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput("The CSV file is larger than 64 MB; split it.")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("The CSV file must be saved as UTF-8.") from exc
    sample = content[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(content, newline=""), dialect=dialect)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if not header:
        raise InvalidInput("The CSV file is empty.")
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"Unknown column(s): {', '.join(unknown)}. The columns are: {', '.join(COLUMNS)}."
        )
    if "title" not in header and "id" not in header and "filename" not in header:
        raise InvalidInput("The CSV needs a filename column (new files) or an id column.")
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= MAX_ROWS:
            raise InvalidInput(f"At most {MAX_ROWS:,} rows in one import.")
        rows.append({k: _unescape(v or "") for k, v in row.items() if k})
    return rows


def _unescape(value: str) -> str:
    value = value.strip()
    if value.startswith("'") and value[1:2] in _FORMULA_START:
        return value[1:]
    return value


def _escape(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]


def open_zip(path: Path) -> zipfile.ZipFile:
    """The ZIP of files, checked before anything is read from it."""
    settings = get_settings()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput("The ZIP file is damaged or not a ZIP file.") from exc
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > MAX_ROWS:
        raise InvalidInput(f"The ZIP holds {len(infos):,} files; at most {MAX_ROWS:,}.")
    for info in infos:
        if info.file_size > settings.max_upload_bytes:
            raise InvalidInput(f"{info.filename} is larger than one upload may be.")
        ratio = info.file_size / info.compress_size if info.compress_size else 0
        if ratio > MAX_RATIO and info.file_size > 10 << 20:
            raise InvalidInput(f"{info.filename} expands {ratio:.0f}x: a decompression bomb?")
    return archive


def _members(archive: zipfile.ZipFile | None) -> dict[str, str]:
    """File name as a CSV may give it (its path in the ZIP, or its name alone when that is
    unique) -> its path in the ZIP."""
    if archive is None:
        return {}
    names = [i.filename for i in archive.infolist() if not i.is_dir()]
    out = {n: n for n in names}
    by_base: dict[str, list[str]] = {}
    for n in names:
        by_base.setdefault(PurePosixPath(n).name, []).append(n)
    for base, paths in by_base.items():
        if len(paths) == 1:
            out.setdefault(base, paths[0])
    return out


# --- planning ----------------------------------------------------------------------------


@dataclass
class _Planned:
    report: RowReport
    record: metadata.Record
    subject_paths: list[list[str]] | None  # None: the row says nothing of subjects
    member: str = ""


async def _plan(
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    rows: list[dict[str, str]],
    archive: zipfile.ZipFile | None,
) -> tuple[ImportReport, list[_Planned]]:
    await scope.require_curated(session, actor, collection_id)
    members = _members(archive)
    known = {" -- ".join(k for _, k in p) for p in (await _subject_paths(session)).values()}
    ids = [int(r["id"]) for r in rows if r.get("id", "").isdigit()]
    mine = set(
        (
            await session.exec(
                text(
                    "SELECT id FROM documents WHERE collection_id = :c AND id = ANY(:ids)"
                ).bindparams(c=collection_id, ids=ids)
            )
        ).scalars()
    )
    report = ImportReport()
    planned: list[_Planned] = []
    new_subjects: dict[str, str] = {}
    seen_files: set[str] = set()
    for line, row in enumerate(rows, start=2):
        raw_id, filename = row.get("id", ""), row.get("filename", "")
        problems: list[str] = []
        member = ""
        doc_id: int | None = None
        if raw_id:
            action = "update"
            if not raw_id.isdigit() or int(raw_id) not in mine:
                problems.append(f"No document {raw_id} in this collection.")
            else:
                doc_id = int(raw_id)
        else:
            action = "add"
            if not filename:
                problems.append("A new document needs a filename (a file in the ZIP).")
            elif filename not in members:
                problems.append(f"{filename} is not in the ZIP.")
            elif members[filename] in seen_files:
                problems.append(f"{filename} is already imported by an earlier row.")
            else:
                member = members[filename]
                seen_files.add(member)
        if doc_id is not None:
            # An update changes the columns the CSV has and leaves the others alone.
            existing = await session.get(Document, doc_id)
            assert existing is not None
            record = await metadata.record_of(session, existing)
        else:
            record = metadata.Record(
                title=documents.title_from_filename(PurePosixPath(filename).name)
                if filename
                else ""
            )
        for col, attr in TEXT_COLUMNS.items():
            if col in row and (row[col] or col != "title"):
                setattr(record, attr, row[col])
        for col in ("creators", "contributors"):
            if col in row:
                setattr(record, col, _list(row[col]))
        title = record.title
        tidy, errors = metadata.validate(record)
        problems += [m for k, m in errors.items() if k != "subject_ids"]
        paths = (
            [metadata.subject_path(s) for s in _list(row["subjects"])]
            if "subjects" in row
            else None
        )
        adds: dict[str, str] = {}
        for path in paths or []:
            key = " -- ".join(fold(p) for p in path)
            if path and key not in known:
                if is_staff(actor):
                    adds[key] = " -- ".join(path)
                else:
                    problems.append(
                        f"“{' -- '.join(path)}” is not in the subject list (a librarian "
                        "can add it)."
                    )
        rr = RowReport(
            line=line,
            action="refused" if problems else action,
            title=tidy.title or title,
            filename=filename,
            document_id=doc_id,
            problems=problems,
        )
        report.rows.append(rr)
        if not problems:
            for key, name in adds.items():
                new_subjects.setdefault(key, name)
            tidy.subject_ids = record.subject_ids
            planned.append(
                _Planned(rr, tidy, None if paths is None else [p for p in paths if p], member)
            )
    report.new_subjects = sorted(new_subjects.values())
    return report, planned


async def _subject_paths(session: AsyncSession) -> dict[int, list[tuple[str, str]]]:
    """Every subject's path from the top, as (name, folded name) pairs."""
    rows = (await session.exec(text("SELECT id, parent_id, name, sort_key FROM subjects"))).all()
    by_id = {r.id: r for r in rows}
    out = {}
    for sid in by_id:
        parts, cur = [], sid
        while cur is not None and len(parts) < 10:
            row = by_id[cur]
            parts.append((row.name, row.sort_key))
            cur = row.parent_id
        out[sid] = parts[::-1]
    return out


async def plan(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    csv_data: bytes,
    zip_path: Path | None,
) -> ImportReport:
    """The dry run: what the import would do, row by row. Nothing is written."""
    rows = read_csv(csv_data)
    archive = open_zip(zip_path) if zip_path else None
    try:
        report, _ = await _plan(session, actor, collection_id, rows, archive)
    finally:
        if archive is not None:
            archive.close()
    return report


async def apply(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    csv_data: bytes,
    zip_path: Path | None,
) -> ImportReport:
    """Apply the rows the dry run accepts (the refused ones are reported, not applied).
    Each row is its own unit of work, committed as it is done: a large import shows
    progress as it goes, and one failing file loses nothing of the others."""
    rows = read_csv(csv_data)
    archive = open_zip(zip_path) if zip_path else None
    try:
        report, planned = await _plan(session, actor, collection_id, rows, archive)
        assert actor is not None
        for item in planned:
            if item.subject_paths is not None:
                item.record.subject_ids = [
                    s.id
                    for s in [
                        await metadata.ensure_subject(session, path, created_by=actor.id)
                        for path in item.subject_paths
                    ]
                    if s.id is not None
                ]
            if item.report.action == "update":
                assert item.report.document_id is not None
                await metadata.update(
                    session=session,
                    actor=actor,
                    document_id=item.report.document_id,
                    record=item.record,
                    action="import",
                )
            else:
                assert archive is not None
                stored = await store_stream(get_store(), _read(archive, item.member))
                document, _ = await documents.add_document(
                    session=session,
                    actor=actor,
                    collection_id=collection_id,
                    stored=stored,
                    filename=PurePosixPath(item.member).name,
                    title=item.record.title,
                )
                assert document.id is not None
                item.report.document_id = document.id
                await metadata.update(
                    session=session,
                    actor=actor,
                    document_id=document.id,
                    record=item.record,
                    action="import",
                )
            await session.commit()
    finally:
        if archive is not None:
            archive.close()
    report.applied = True
    return report


async def _read(archive: zipfile.ZipFile, name: str) -> AsyncIterator[bytes]:
    limit = get_settings().max_upload_bytes
    read = 0
    with archive.open(name) as fh:
        while chunk := fh.read(1 << 20):
            read += len(chunk)
            if read > limit:
                raise InvalidInput(f"{name} is larger than one upload may be.")
            yield chunk


# --- export ------------------------------------------------------------------------------


async def export_csv(*, session: AsyncSession, actor: User | None, collection_id: int) -> str:
    """Every document of the collection the actor may see, in the import's columns."""
    collection = await scope.require_visible_collection(session, actor, collection_id)
    curator = await scope.can_curate(session, actor, collection)
    rows = (
        await session.exec(
            text(
                f"""
                SELECT d.id, v.filename, d.title, d.description, d.publisher, d.date_issued,
                       d.language, d.identifier, d.source, d.relation, d.coverage, d.rights,
                       ARRAY(SELECT p.name FROM document_people p
                             WHERE p.document_id = d.id AND p.role = 'creator'
                             ORDER BY p.position) AS creators,
                       ARRAY(SELECT p.name FROM document_people p
                             WHERE p.document_id = d.id AND p.role = 'contributor'
                             ORDER BY p.position) AS contributors,
                       ARRAY(SELECT ds.subject_id FROM document_subjects ds
                             WHERE ds.document_id = d.id ORDER BY ds.position) AS subject_ids
                FROM documents d
                LEFT JOIN document_versions v ON v.id = d.current_version_id
                WHERE d.collection_id = :c {"" if curator else "AND d.listed"}
                ORDER BY d.id
                """
            ).bindparams(c=collection_id)
        )
    ).all()
    paths = {
        sid: " -- ".join(name for name, _ in path)
        for sid, path in (await _subject_paths(session)).items()
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        values = {
            "id": str(r.id),
            "filename": r.filename or "",
            "title": r.title,
            "creators": f"{LIST_SEPARATOR} ".join(r.creators),
            "contributors": f"{LIST_SEPARATOR} ".join(r.contributors),
            "subjects": f"{LIST_SEPARATOR} ".join(paths.get(i, "") for i in r.subject_ids),
            "description": r.description,
            "publisher": r.publisher,
            "date": r.date_issued,
            "language": r.language,
            "identifier": r.identifier,
            "source": r.source,
            "relation": r.relation,
            "coverage": r.coverage,
            "rights": r.rights,
        }
        writer.writerow([_escape(values[c]) for c in COLUMNS])
    return out.getvalue()
