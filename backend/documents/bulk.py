"""Bulk import rows (a CSV of metadata naming files in a ZIP) and CSV export of a collection.

Every row is planned first: the dry run says what would be added, updated or refused and
why, with nothing written. Then the good rows are applied one by one (`apply_row`): each
new file goes through the normal ingest pipeline, each row with an `id` updates that
document's record (audited). The export writes the same columns, so an exported file
imports back unchanged. The import's records, files and jobs are in `backend.imports`.
"""

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import scope
from backend.access.roles import is_staff
from backend.documents import metadata
from backend.documents import service as documents
from backend.documents.models import Document
from backend.errors import InvalidInput
from backend.search.engine import fold
from backend.storage.service import StoredObject
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

    @property
    def adding(self) -> int:
        return sum(r.action == "add" for r in self.rows)

    @property
    def updating(self) -> int:
        return sum(r.action == "update" for r in self.rows)

    @property
    def refused(self) -> int:
        return sum(r.action == "refused" for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"rows": [asdict(r) for r in self.rows], "new_subjects": self.new_subjects}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ImportReport":
        return cls(
            rows=[RowReport(**r) for r in data.get("rows", [])],
            new_subjects=list(data.get("new_subjects", [])),
        )


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


# --- planning ----------------------------------------------------------------------------


@dataclass
class Planned:
    """A row checked against the database and the ZIP, ready to apply unless refused."""

    report: RowReport
    record: metadata.Record
    subject_paths: list[list[str]] | None  # None: the row says nothing of subjects
    member: str = ""
    new_subjects: dict[str, str] = field(default_factory=dict)  # folded path -> path


class Planner:
    """Plans rows one at a time, as the dry run and the import both need them."""

    def __init__(
        self,
        session: AsyncSession,
        actor: User | None,
        collection_id: int,
        members: dict[str, str],
        known: set[str],
        mine: set[int],
    ) -> None:
        self.session, self.actor, self.collection_id = session, actor, collection_id
        self.members, self.known, self.mine = members, known, mine
        self.seen_files: set[str] = set()

    @classmethod
    async def start(
        cls,
        session: AsyncSession,
        actor: User | None,
        collection_id: int,
        rows: list[dict[str, str]],
        members: dict[str, str],
    ) -> "Planner":
        """A planner for these rows, if the actor curates the collection (NotFound if not).
        `members` maps the names a CSV may give to paths in the ZIP."""
        await scope.require_curated(session, actor, collection_id)
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
        return cls(session, actor, collection_id, members, known, mine)

    def _claim_file(self, row: dict[str, str]) -> tuple[str, str]:
        """The ZIP member a new row brings, or why it brings none."""
        filename = row.get("filename", "")
        if not filename:
            return "", "A new document needs a filename (a file in the ZIP)."
        if filename not in self.members:
            return "", f"{filename} is not in the ZIP."
        if self.members[filename] in self.seen_files:
            return "", f"{filename} is already imported by an earlier row."
        self.seen_files.add(self.members[filename])
        return self.members[filename], ""

    def skip(self, row: dict[str, str]) -> None:
        """A row planned (and applied) before: only its claim on a file matters now."""
        if not row.get("id", ""):
            self._claim_file(row)

    async def plan(self, line: int, row: dict[str, str]) -> Planned:
        raw_id, filename = row.get("id", ""), row.get("filename", "")
        problems: list[str] = []
        member = ""
        doc_id: int | None = None
        if raw_id:
            action = "update"
            if not raw_id.isdigit() or int(raw_id) not in self.mine:
                problems.append(f"No document {raw_id} in this collection.")
            else:
                doc_id = int(raw_id)
        else:
            action = "add"
            member, problem = self._claim_file(row)
            if problem:
                problems.append(problem)
        existing = await self.session.get(Document, doc_id) if doc_id is not None else None
        if existing is not None:
            # An update changes the columns the CSV has and leaves the others alone.
            record = await metadata.record_of(self.session, existing)
        else:
            name = PurePosixPath(filename).name if filename else ""
            record = metadata.Record(title=documents.title_from_filename(name) if name else "")
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
            if path and key not in self.known:
                if is_staff(self.actor):
                    adds[key] = " -- ".join(path)
                else:
                    problems.append(
                        f"“{' -- '.join(path)}” is not in the subject list (a librarian "
                        "can add it)."
                    )
        report = RowReport(
            line=line,
            action="refused" if problems else action,
            title=tidy.title or title,
            filename=filename,
            document_id=doc_id,
            problems=problems,
        )
        tidy.subject_ids = record.subject_ids
        return Planned(
            report,
            tidy,
            None if paths is None else [p for p in paths if p],
            member,
            {} if problems else adds,
        )


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


async def plan_all(planner: Planner, rows: list[dict[str, str]]) -> list[Planned]:
    """Every row, planned in order (the CSV's line numbers count the header as line 1)."""
    return [await planner.plan(line, row) for line, row in enumerate(rows, start=2)]


def report_of(planned: list[Planned]) -> ImportReport:
    new_subjects: dict[str, str] = {}
    for item in planned:
        for key, name in item.new_subjects.items():
            new_subjects.setdefault(key, name)
    return ImportReport(
        rows=[p.report for p in planned], new_subjects=sorted(new_subjects.values())
    )


async def apply_row(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    item: Planned,
    stored: StoredObject | None,
) -> int:
    """Write one planned row: a new document from its stored file, or an update of the
    record. Flushes; the caller commits. Returns the document's id."""
    assert actor is not None and item.report.action in ("add", "update")
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
        document_id = item.report.document_id
    else:
        assert stored is not None
        document, _ = await documents.add_document(
            session=session,
            actor=actor,
            collection_id=collection_id,
            stored=stored,
            filename=PurePosixPath(item.member).name,
            title=item.record.title,
        )
        assert document.id is not None
        document_id = document.id
    await metadata.update(
        session=session, actor=actor, document_id=document_id, record=item.record, action="import"
    )
    return document_id


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
