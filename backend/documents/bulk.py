"""The bulk import's CSV (a row of metadata per document, naming files in a ZIP), its
report, and the CSV export of a collection in the same columns, so an exported file
imports back unchanged.

Every row is planned first (`bulk_rows`): the dry run says what would be added, updated
or refused and why, with nothing written. Then the good rows are applied one by one: each
new file goes through the normal ingest pipeline, each row with an `id` updates that
document's record (audited). The import's records, files and jobs are in `backend.imports`.
"""

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import scope
from backend.db import sql
from backend.errors import InvalidInput
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
    action: str  # "add", "update" or "refused"; an "add" without a filename: a record alone
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
        raise InvalidInput(
            "The CSV needs a filename column (new files), a title column (records without "
            "a file) or an id column (updates)."
        )
    reader.fieldnames = header
    rows: list[dict[str, str]] = []
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


def list_cell(value: str) -> list[str]:
    return [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]


async def subject_paths(session: AsyncSession) -> dict[int, list[tuple[str, str]]]:
    """Every subject's path from the top, as (name, folded name) pairs."""
    rows = (await sql(session, text("SELECT id, parent_id, name, sort_key FROM subjects"))).all()
    by_id = {r.id: r for r in rows}
    out = {}
    for sid in by_id:
        parts: list[tuple[str, str]] = []
        cur = sid
        while cur is not None and len(parts) < 10:
            row = by_id[cur]
            parts.append((row.name, row.sort_key))
            cur = row.parent_id
        out[sid] = parts[::-1]
    return out


# --- export ------------------------------------------------------------------------------


async def export_csv(*, session: AsyncSession, actor: User | None, collection_id: int) -> str:
    """Every document of the collection the actor may see, in the import's columns."""
    collection = await scope.require_visible_collection(session, actor, collection_id)
    curator = await scope.can_curate(session, actor, collection)
    rows = (
        await sql(
            session,
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
            ).bindparams(c=collection_id),
        )
    ).all()
    paths = {
        sid: " -- ".join(name for name, _ in path)
        for sid, path in (await subject_paths(session)).items()
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
