"""A document's catalogue record: Dublin Core fields, creators and contributors, subjects
from the controlled list. Taken from the file when it is processed, until a librarian
edits it; every change refreshes the document's browse entries and search index."""

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from nameparser import HumanName
from sqlalchemy import delete, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import journal
from backend.access import scope
from backend.access.roles import is_staff, require_staff
from backend.browse import service as browse
from backend.clock import utcnow
from backend.db import session_scope, sql
from backend.documents.models import (
    AuditEntry,
    Document,
    DocumentPerson,
    DocumentSubject,
    DocumentVersion,
    PersonRole,
    Subject,
)
from backend.errors import InvalidInput, NotFound, PermissionDenied
from backend.ids import is_id
from backend.search import indexer
from backend.search.engine import fold, sort_title
from backend.search.indexer import type_label, year_of
from backend.users.models import User

MAX_PEOPLE = 50
MAX_SUBJECTS = 50
# "Aeronautics -- Research", "Science > Physics", "devel/python", "game::strategy": a
# path in the subject tree.
SUBJECT_PATH = re.compile(r"\s+--\s+|\s*>\s*|\s*/\s*|::")
_ORGANISATION = re.compile(
    r"\b(team|group|society|association|university|universit[éeä]|project|inc|ltd|llc|gmbh|"
    r"foundation|committee|council|institute|press|maintainers|developers|department|"
    r"library|museum|company|corporation|ministry|office|agency|community)\b",
    re.IGNORECASE,
)


def sort_name(name: str) -> str:
    """ "John Ronald Tolkien" -> "Tolkien, John Ronald"; names already inverted, one-word
    names and organisations stay as they are."""
    name = " ".join(name.split())
    if "," in name or len(name.split()) < 2 or _ORGANISATION.search(name) or re.search(r"\d", name):
        return name
    parsed = HumanName(name)
    last = " ".join(p for p in (parsed.last,) if p)
    first = " ".join(p for p in (parsed.title, parsed.first, parsed.middle) if p)
    if not last or not first:
        return name
    suffix = f", {parsed.suffix}" if parsed.suffix else ""
    return f"{last}, {first}{suffix}"


def person_key(name: str) -> str:
    return " ".join(fold(sort_name(name)).split())[:200]


def clean_names(values: Any, limit: int = MAX_PEOPLE) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return []
    seen: dict[str, str] = {}
    for v in values:
        name = " ".join(str(v).split())[:200]
        if name and person_key(name) not in seen:
            seen[person_key(name)] = name
    return list(seen.values())[:limit]


async def set_people(
    session: AsyncSession, document_id: int, role: PersonRole, names: list[str]
) -> None:
    await session.exec(
        delete(DocumentPerson).where(
            col(DocumentPerson.document_id) == document_id, col(DocumentPerson.role) == role.value
        )
    )
    for i, name in enumerate(clean_names(names)):
        session.add(
            DocumentPerson(
                document_id=document_id,
                role=role.value,
                position=i,
                name=name,
                sort_name=sort_name(name)[:200],
                sort_key=person_key(name),
            )
        )
    await session.flush()


async def people(session: AsyncSession, document_id: int, role: PersonRole) -> list[str]:
    rows = await session.exec(
        select(DocumentPerson.name)
        .where(DocumentPerson.document_id == document_id, DocumentPerson.role == role.value)
        .order_by(col(DocumentPerson.position))
    )
    return list(rows.all())


async def ensure_subject(
    session: AsyncSession, path: list[str], created_by: int | None = None
) -> Subject:
    """The subject at `path` (names from the root down), added to the list if missing."""
    parent: Subject | None = None
    for raw in path:
        name = " ".join(raw.split())[:200]
        key = fold(name)
        stmt = select(Subject).where(
            Subject.sort_key == key,
            col(Subject.parent_id).is_(None)
            if parent is None
            else col(Subject.parent_id) == parent.id,
        )
        found = (await session.exec(stmt)).first()
        if found is None:
            # Two uploads may add the same new subject at once: the second one waits for
            # the first and then finds it.
            await sql(
                session,
                text(
                    "INSERT INTO subjects (parent_id, name, sort_key, path, created_by) "
                    "VALUES (:parent, :name, :key, '', :by) ON CONFLICT DO NOTHING"
                ).bindparams(
                    parent=parent.id if parent else None, name=name, key=key, by=created_by
                ),
            )
            found = (await session.exec(stmt)).first()
            assert found is not None and found.id is not None
            if not found.path:
                found.path = f"{parent.path if parent else '/'}{found.id}/"
                session.add(found)
                await session.flush()
        parent = found
    assert parent is not None
    return parent


def subject_path(value: str) -> list[str]:
    return [p for p in (" ".join(x.split()) for x in SUBJECT_PATH.split(value)) if p][:6]


async def set_subjects(session: AsyncSession, document_id: int, subject_ids: list[int]) -> None:
    await session.exec(
        delete(DocumentSubject).where(col(DocumentSubject.document_id) == document_id)
    )
    for i, sid in enumerate(dict.fromkeys(subject_ids)):
        if i >= MAX_SUBJECTS:
            break
        session.add(DocumentSubject(document_id=document_id, subject_id=sid, position=i))
    await session.flush()


async def subjects(session: AsyncSession, document_id: int) -> list[Subject]:
    rows = await session.exec(
        select(Subject)
        .join(DocumentSubject, col(DocumentSubject.subject_id) == Subject.id)
        .where(DocumentSubject.document_id == document_id)
        .order_by(col(DocumentSubject.position))
    )
    return list(rows.all())


def _text(meta: dict[str, Any], *keys: str, limit: int = 500) -> str:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value if v)
        if value:
            return " ".join(str(value).split())[:limit]
    return ""


@dataclass
class Extracted:
    """The catalogue record a file's own metadata gives."""

    fields: dict[str, Any]
    creators: list[str]
    contributors: list[str]
    subject_paths: list[list[str]]


def extracted(version: DocumentVersion) -> Extracted:
    meta = version.meta or {}
    paths = [subject_path(v) for v in clean_names(meta.get("subjects"), MAX_SUBJECTS)]
    return Extracted(
        fields={
            "description": _text(meta, "description", "abstract", limit=5000),
            "publisher": _text(meta, "publisher", limit=300),
            "date_issued": _text(meta, "date", "created", "year", limit=40),
            "year": year_of(meta),
            "identifier": _text(meta, "identifier", "isbn", "doi"),
            "rights": _text(meta, "rights", "license"),
            "language": version.language or _text(meta, "language", limit=12),
        },
        creators=clean_names(meta.get("authors")),
        contributors=clean_names(meta.get("contributors")),
        subject_paths=[p for p in paths if p],
    )


async def adopt_version(
    session: AsyncSession, document: Document, version: DocumentVersion
) -> None:
    """`version` is (becoming) the current one, processed: the document is listed, with
    its file type and language; the file's own metadata becomes the record unless a
    librarian edited it."""
    assert document.id is not None
    document.kind = type_label(version.mime_type or "")
    document.listed = True
    document.updated_at = utcnow()  # harvesters asking what changed since find it
    if document.metadata_source != "edited":
        record = extracted(version)
        for name, value in record.fields.items():
            setattr(document, name, value)
        await set_people(session, document.id, PersonRole.CREATOR, record.creators)
        await set_people(session, document.id, PersonRole.CONTRIBUTOR, record.contributors)
        ids = []
        for path in record.subject_paths:
            subject = await ensure_subject(session, path)
            assert subject.id is not None
            ids.append(subject.id)
        await set_subjects(session, document.id, ids)
        document.metadata_source = "extracted"
    document.title_sort = sort_title(document.title)[:300]
    session.add(document)
    await session.flush()
    await browse.refresh(session, [document.id])


async def catalogue_existing(batch: int = 1000, limit: int | None = None) -> int:
    """Give every processed document that has no catalogue record yet the one its file
    carries (documents from before the catalogue existed), at most `limit`; returns how
    many. A batch at a time, each in a few set-wide statements (what `adopt_version` does
    for one document)."""
    done = 0
    subject_ids: dict[tuple[str, ...], int] = {}
    while True:
        async with session_scope() as session:
            rows = (
                await session.exec(
                    select(Document, DocumentVersion)
                    .join(DocumentVersion, col(DocumentVersion.id) == Document.current_version_id)
                    .where(Document.metadata_source == "", DocumentVersion.status == "ready")
                    .order_by(col(Document.id))
                    .limit(batch)
                    .with_for_update(of=Document, skip_locked=True)
                )
            ).all()
            if rows:
                await _catalogue_batch(session, rows, subject_ids)
                await session.commit()
        done += len(rows)
        if len(rows) < batch or (limit is not None and done >= limit):
            return done


async def _catalogue_batch(
    session: AsyncSession,
    rows: Any,
    subject_ids: dict[tuple[str, ...], int],
) -> None:
    columns: dict[str, list[Any]] = {
        k: []
        for k in (
            "id",
            "kind",
            "title_sort",
            "description",
            "publisher",
            "date_issued",
            "year",
            "identifier",
            "rights",
            "language",
        )
    }
    people: list[tuple[int, str, int, str, str, str]] = []
    links: list[tuple[int, int, int]] = []
    for document, version in rows:
        record = extracted(version)
        columns["id"].append(document.id)
        columns["kind"].append(type_label(version.mime_type or ""))
        columns["title_sort"].append(sort_title(document.title)[:300])
        for name, value in record.fields.items():
            columns[name].append(value)
        for role, names in (
            (PersonRole.CREATOR, record.creators),
            (PersonRole.CONTRIBUTOR, record.contributors),
        ):
            for i, name in enumerate(names):
                people.append(
                    (document.id, role.value, i, name, sort_name(name)[:200], person_key(name))
                )
        seen: set[int] = set()
        for path in record.subject_paths:
            key = tuple(fold(p) for p in path)
            if key not in subject_ids:
                subject = await ensure_subject(session, path)
                assert subject.id is not None
                subject_ids[key] = subject.id
            sid = subject_ids[key]
            if sid not in seen:
                links.append((document.id, sid, len(seen)))
                seen.add(sid)
    ids = columns["id"]
    await sql(
        session,
        text(
            """
            UPDATE documents d SET kind = v.kind, title_sort = v.title_sort,
                description = v.description, publisher = v.publisher,
                date_issued = v.date_issued, year = v.year, identifier = v.identifier,
                rights = v.rights, language = v.language, listed = true,
                metadata_source = 'extracted', updated_at = now()
            FROM unnest(CAST(:id AS int[]), CAST(:kind AS text[]), CAST(:title_sort AS text[]),
                        CAST(:description AS text[]), CAST(:publisher AS text[]),
                        CAST(:date_issued AS text[]), CAST(:year AS int[]),
                        CAST(:identifier AS text[]), CAST(:rights AS text[]),
                        CAST(:language AS text[]))
                 AS v(id, kind, title_sort, description, publisher, date_issued, year,
                      identifier, rights, language)
            WHERE d.id = v.id
            """
        ).bindparams(**columns),
    )
    await sql(
        session,
        text("DELETE FROM document_people WHERE document_id = ANY(:ids)").bindparams(ids=ids),
    )
    if people:
        await sql(
            session,
            text(
                "INSERT INTO document_people "
                "(document_id, role, position, name, sort_name, sort_key) "
                "SELECT * FROM unnest(CAST(:d AS int[]), CAST(:r AS text[]), "
                "CAST(:p AS int[]), CAST(:n AS text[]), CAST(:s AS text[]), CAST(:k AS text[]))"
            ).bindparams(**dict(zip("drpnsk", map(list, zip(*people, strict=True)), strict=True))),
        )
    await sql(
        session,
        text("DELETE FROM document_subjects WHERE document_id = ANY(:ids)").bindparams(ids=ids),
    )
    if links:
        await sql(
            session,
            text(
                "INSERT INTO document_subjects (document_id, subject_id, position) "
                "SELECT * FROM unnest(CAST(:d AS int[]), CAST(:s AS int[]), CAST(:p AS int[]))"
            ).bindparams(**dict(zip("dsp", map(list, zip(*links, strict=True)), strict=True))),
        )
    await browse.refresh(session, ids)


# --- editing -----------------------------------------------------------------------------

TEXT_FIELDS = {  # field -> (label, longest)
    "title": ("Title", 500),
    "description": ("Description", 5000),
    "publisher": ("Publisher", 300),
    "date_issued": ("Date", 40),
    "language": ("Language", 12),
    "identifier": ("Identifier", 500),
    "source": ("Source", 500),
    "relation": ("Relation", 500),
    "coverage": ("Coverage", 500),
    "rights": ("Rights", 500),
}
_DATE = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?)?$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z]{2,4})?$")


@dataclass
class Record:
    """A document's catalogue record as the edit form shows and sends it."""

    title: str = ""
    description: str = ""
    publisher: str = ""
    date_issued: str = ""
    language: str = ""
    identifier: str = ""
    source: str = ""
    relation: str = ""
    coverage: str = ""
    rights: str = ""
    creators: list[str] = field(default_factory=list)
    contributors: list[str] = field(default_factory=list)
    subject_ids: list[int] = field(default_factory=list)


async def record_of(session: AsyncSession, document: Document) -> Record:
    assert document.id is not None
    return Record(
        **{name: getattr(document, name) for name in TEXT_FIELDS},
        creators=await people(session, document.id, PersonRole.CREATOR),
        contributors=await people(session, document.id, PersonRole.CONTRIBUTOR),
        subject_ids=[s.id for s in await subjects(session, document.id) if s.id is not None],
    )


def date_problem(value: str) -> str:
    """Why `value` is not a date of issue ("" when it is one): the form YYYY, YYYY-MM or
    YYYY-MM-DD, and a day the calendar has (no 2020-02-30, no 2023-02-29)."""
    m = _DATE.match(value)
    if m is None:
        return "Write the date as YYYY, YYYY-MM or YYYY-MM-DD."
    year, month, day = m.groups()
    if day is not None:
        try:
            date(int(year), int(month), int(day))
        except ValueError:
            return f"There is no {value}: that month has fewer days."
    return ""


def validate(record: Record) -> tuple[Record, dict[str, str]]:
    """The record tidied (spaces collapsed), and a message per field that is wrong."""
    errors: dict[str, str] = {}
    tidy = Record()
    for name, (label, longest) in TEXT_FIELDS.items():
        value = str(getattr(record, name) or "")
        value = value.strip() if name == "description" else " ".join(value.split())
        if len(value) > longest:
            errors[name] = f"{label} must be at most {longest} characters long."
        setattr(tidy, name, value)
    if not tidy.title:
        errors["title"] = "A document needs a title."
    if tidy.date_issued:
        problem = date_problem(tidy.date_issued)
        if problem:
            errors["date_issued"] = problem
    if tidy.language and not _LANGUAGE.match(tidy.language):
        errors["language"] = "Use a language code such as en, fr or de."
    for name in ("creators", "contributors"):
        names = [" ".join(str(n).split()) for n in getattr(record, name)]
        names = [n for n in names if n]
        if any(len(n) > 200 for n in names):
            errors[name] = "A name must be at most 200 characters long."
        if len(names) > MAX_PEOPLE:
            errors[name] = f"At most {MAX_PEOPLE} names."
        setattr(tidy, name, clean_names(names))
    if not all(is_id(i) for i in record.subject_ids):
        errors["subject_ids"] = "No such subject."
    tidy.subject_ids = list(dict.fromkeys(i for i in record.subject_ids if is_id(i)))
    if len(tidy.subject_ids) > MAX_SUBJECTS:
        errors["subject_ids"] = f"At most {MAX_SUBJECTS} subjects."
    return tidy, errors


async def update(
    *,
    session: AsyncSession,
    actor: User | None,
    document_id: int,
    record: Record,
    action: str = "edit",
) -> dict[str, list[Any]]:
    """A curator's edit of the record (or a bulk import's: `action`). Every changed field
    goes into the audit log (from what to what); returns those changes (empty when nothing
    changed)."""
    document, collection = await scope.require_curated_document(session, actor, document_id)
    assert document.id is not None and collection.id is not None
    assert actor is not None
    tidy, errors = validate(record)
    if errors:
        raise InvalidRecord(errors)
    known = {
        s.id: s
        for s in (
            await session.exec(select(Subject).where(col(Subject.id).in_(tidy.subject_ids)))
        ).all()
    }
    if missing := [i for i in tidy.subject_ids if i not in known]:
        raise InvalidRecord({"subject_ids": f"No such subject: {missing[0]}."})
    before = await record_of(session, document)
    old_subjects = [await _trail(session, s) for s in await subjects(session, document.id)]
    changes: dict[str, list[Any]] = {}
    for name in TEXT_FIELDS:
        if getattr(before, name) != getattr(tidy, name):
            changes[name] = [getattr(before, name), getattr(tidy, name)]
            setattr(document, name, getattr(tidy, name))
    for name, role in (("creators", PersonRole.CREATOR), ("contributors", PersonRole.CONTRIBUTOR)):
        if getattr(before, name) != getattr(tidy, name):
            changes[name] = [getattr(before, name), getattr(tidy, name)]
            await set_people(session, document.id, role, getattr(tidy, name))
    if before.subject_ids != tidy.subject_ids:
        new_subjects = [await _trail(session, known[i]) for i in tidy.subject_ids]
        changes["subjects"] = [old_subjects, new_subjects]
        await set_subjects(session, document.id, tidy.subject_ids)
    if not changes:
        return changes
    if "date_issued" in changes:
        m = _DATE.match(tidy.date_issued)
        document.year = int(m.group(1)) if m else None
    document.metadata_source = "edited"
    document.title_sort = sort_title(document.title)[:300]
    document.updated_at = utcnow()
    session.add(document)
    session.add(
        AuditEntry(
            document_id=document.id,
            collection_id=collection.id,
            actor_id=actor.id,
            actor_name=actor.display_name or actor.email,
            action=action,
            label=document.title,
            changes=changes,
        )
    )
    await session.flush()
    await browse.refresh(session, [document.id])
    await indexer.changed(session, document.id)
    return changes


# The kind of a document that has no file: a record of something the library holds
# otherwise (a book on a shelf, a map in a drawer), catalogued, browsed and searched.
NO_FILE = "record"


async def catalogue_without_file(
    *,
    session: AsyncSession,
    actor: User | None,
    collection_id: int,
    record: Record,
    action: str = "catalogue",
) -> Document:
    """A new document of a collection the actor curates that is a record alone (no file):
    listed at once, searchable by its record, in the audit log as catalogued. A file can
    be added to it later as its first version."""
    await scope.require_curated(session, actor, collection_id)
    assert actor is not None
    tidy, errors = validate(record)
    if errors:
        raise InvalidRecord(errors)
    # (an empty title first, so the record's every field is a change the log names)
    document = Document(
        collection_id=collection_id, title="", created_by=actor.id, kind=NO_FILE, listed=True
    )
    session.add(document)
    await session.flush()
    assert document.id is not None
    journal.write(
        session,
        actor=actor,
        action=journal.DOCUMENT_ADDED,
        label=tidy.title,
        document_id=document.id,
        collection_id=collection_id,
        changes={"file": [None, None]},
    )
    await update(
        session=session, actor=actor, document_id=document.id, record=record, action=action
    )
    return document


async def _trail(session: AsyncSession, subject: Subject) -> str:
    """ "Science -- Physics -- Optics": a subject as the audit log names it."""
    assert subject.id is not None
    return " -- ".join(name for _, name in await browse.subject_trail(session, subject.id))


class InvalidRecord(InvalidInput):
    """The form's fields that are wrong, each with its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


async def history(
    *, session: AsyncSession, actor: User | None, document_id: int
) -> list[AuditEntry]:
    """The document's audit log, newest first, for its curators (it names the staff who
    edited it and what the record said before)."""
    await scope.require_curated_document(session, actor, document_id)
    rows = await session.exec(
        select(AuditEntry)
        .where(AuditEntry.document_id == document_id)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    )
    return list(rows.all())


async def add_subject(
    *, session: AsyncSession, actor: User | None, name: str, parent_id: int | None = None
) -> Subject:
    """Extend the controlled list (librarians and admins)."""
    user = require_staff(actor)
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise InvalidInput("A subject needs a name of at most 200 characters.")
    path: list[str] = []
    if parent_id is not None:
        parent = await session.get(Subject, parent_id)
        if parent is None:
            raise NotFound("No such parent subject.")
        path = [n for _, n in await browse.subject_trail(session, parent_id)]
    return await ensure_subject(session, [*path, name], created_by=user.id)


async def editable(
    *, session: AsyncSession, actor: User | None, document_id: int
) -> tuple[Record, list[Subject]]:
    """The record as the edit form starts from, and its subjects; for its curators."""
    document, _ = await scope.require_curated_document(session, actor, document_id)
    assert document.id is not None
    return await record_of(session, document), await subjects(session, document.id)


async def subject_choices(
    *, session: AsyncSession, actor: User | None, text_typed: str, limit: int = 20
) -> list[Subject]:
    """Subjects of the controlled list whose name starts with, or has a word starting
    with, what was typed (for the edit form of anyone who curates a collection). Staff
    choose from the whole list; a patron trusted with a collection from the subjects of
    documents they may see, since a subject's name can tell of a private collection."""
    if not is_staff(actor) and not await scope.curates_any(session, actor):
        raise PermissionDenied("Only a collection's curators can choose subjects.")
    typed = fold(" ".join(text_typed.split()))[:200]
    if not typed:
        return []
    stmt = select(Subject).where(
        col(Subject.sort_key).startswith(typed) | col(Subject.sort_key).contains(" " + typed)
    )
    if not is_staff(actor):
        seen = (
            select(DocumentSubject.subject_id)
            .join(Document, col(Document.id) == DocumentSubject.document_id)
            .where(scope.visible_document_clause(actor))
        )
        stmt = stmt.where(col(Subject.id).in_(seen))
    rows = await session.exec(stmt.order_by(col(Subject.sort_key)).limit(limit))
    return list(rows.all())
