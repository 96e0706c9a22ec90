"""Planning and applying bulk import rows: each row of the CSV checked against the
database and the ZIP's members (the dry run), then written one at a time (the import)."""

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import scope
from backend.access.roles import is_staff
from backend.db import sql
from backend.documents import metadata
from backend.documents import service as documents
from backend.documents.bulk import TEXT_COLUMNS, ImportReport, RowReport, list_cell, subject_paths
from backend.documents.models import Document
from backend.search.engine import fold
from backend.storage.service import StoredObject
from backend.users.models import User


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
        known = {" -- ".join(k for _, k in p) for p in (await subject_paths(session)).values()}
        ids = [int(r["id"]) for r in rows if r.get("id", "").isdigit()]
        mine = set(
            (
                await sql(
                    session,
                    text(
                        "SELECT id FROM documents WHERE collection_id = :c AND id = ANY(:ids)"
                    ).bindparams(c=collection_id, ids=ids),
                )
            ).scalars()
        )
        return cls(session, actor, collection_id, members, known, mine)

    def _claim_file(self, row: dict[str, str]) -> tuple[str, str]:
        """The ZIP member a new row brings, or why it brings none. A row with no filename
        brings none: it is a record without a file (a book on the shelf)."""
        filename = row.get("filename", "")
        if not filename:
            return "", ""
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
                setattr(record, col, list_cell(row[col]))
        title = record.title
        tidy, errors = metadata.validate(record)
        problems += [m for k, m in errors.items() if k != "subject_ids"]
        paths = (
            [metadata.subject_path(s) for s in list_cell(row["subjects"])]
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


def refuse(item: Planned, problem: str) -> None:
    """The dry run found a reason, after planning, not to add the row."""
    item.report.action = "refused"
    item.report.problems.append(problem)
    item.new_subjects.clear()


async def refuse_duplicates(
    session: AsyncSession, actor: User | None, planned: list[Planned], digests: dict[int, str]
) -> None:
    """Refuse the rows whose file the library already holds, byte for byte (the pipeline
    would stop them as duplicates; the original is named to those who may see it), and
    those whose file has the same bytes as an earlier row's."""
    found = (
        await sql(
            session,
            text(
                "SELECT DISTINCT ON (v.sha256) v.sha256, v.document_id FROM document_versions v"
                " WHERE v.sha256 = ANY(:shas) AND v.status <> 'quarantined'"
                " ORDER BY v.sha256, v.document_id"
            ).bindparams(shas=sorted(set(digests.values()))),
        )
    ).all()
    held = {sha: document_id for sha, document_id in found}
    first_line: dict[str, int] = {}
    for item in planned:
        sha = digests.get(item.report.line, "")
        if item.report.action != "add" or not sha:
            continue
        if sha in held:
            seen = await scope.visible_document(session, actor, held[sha])
            refuse(
                item,
                f"The library already holds this file: “{seen[0].title}” in {seen[1].name}."
                if seen is not None
                else "The library already holds this file, in a collection you cannot see.",
            )
        elif sha in first_line:
            refuse(item, f"The same file as line {first_line[sha]}'s (byte for byte).")
        else:
            first_line[sha] = item.report.line


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
    """Write one planned row: a new document from its stored file (or a record without a
    file, for a row that names none), or an update of the record. Flushes; the caller
    commits. Returns the document's id."""
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
    elif not item.member:
        made = await metadata.catalogue_without_file(
            session=session,
            actor=actor,
            collection_id=collection_id,
            record=item.record,
            action="import",
        )
        assert made.id is not None
        return made.id
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
