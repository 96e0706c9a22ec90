"""What a document's page shows of its catalogue record: the Dublin Core elements, the
citation in BibTeX and RIS, related documents, and a stable link."""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import scope
from backend.collections.models import Collection
from backend.db import sql
from backend.documents import metadata
from backend.documents.models import Document, PersonRole
from backend.errors import NotFound
from backend.settings import get_settings
from backend.users.models import User

FAN_OUT = 200
# DCMI Type Vocabulary for our kinds of file.
DCMI_TYPES = {"image": "StillImage"}


@dataclass(frozen=True)
class SubjectRef:
    id: int
    name: str
    trail: str  # "Science › Physics › Optics"


@dataclass
class DublinCore:
    """The fifteen elements, each a list of values (most have one or none)."""

    title: list[str] = field(default_factory=list)
    creator: list[str] = field(default_factory=list)
    subject: list[str] = field(default_factory=list)
    description: list[str] = field(default_factory=list)
    publisher: list[str] = field(default_factory=list)
    contributor: list[str] = field(default_factory=list)
    date: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    format: list[str] = field(default_factory=list)
    identifier: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    relation: list[str] = field(default_factory=list)
    coverage: list[str] = field(default_factory=list)
    rights: list[str] = field(default_factory=list)

    def items(self) -> list[tuple[str, list[str]]]:
        return [(name, getattr(self, name)) for name in self.__dataclass_fields__]


@dataclass
class Catalogued:
    document: Document
    collection_name: str
    creators: list[str]
    contributors: list[str]
    subjects: list[SubjectRef]
    mime_type: str
    stable_url: str

    def dublin_core(self) -> DublinCore:
        d = self.document
        return DublinCore(
            title=[d.title],
            creator=self.creators,
            subject=[s.trail for s in self.subjects],
            description=[d.description] if d.description else [],
            publisher=[d.publisher] if d.publisher else [],
            contributor=self.contributors,
            date=[d.date_issued] if d.date_issued else [],
            type=[DCMI_TYPES.get(d.kind, "Text")] if d.kind else [],
            format=[self.mime_type] if self.mime_type else [],
            identifier=[self.stable_url, *([d.identifier] if d.identifier else [])],
            source=[d.source] if d.source else [],
            language=[d.language] if d.language else [],
            relation=[d.relation] if d.relation else [],
            coverage=[d.coverage] if d.coverage else [],
            rights=[d.rights] if d.rights else [],
        )


def stable_url(document_id: int) -> str:
    """The document's address for citing: its id never changes, whatever its title."""
    return f"{get_settings().public_url.rstrip('/')}/documents/{document_id}"


async def catalogued(*, session: AsyncSession, actor: User | None, document_id: int) -> Catalogued:
    found = await scope.visible_document(session, actor, document_id)
    if found is None:
        raise NotFound("No such document.")
    return (await catalogued_many(session, [found]))[0]


async def catalogued_many(
    session: AsyncSession, found: Sequence[tuple[Document, Collection]]
) -> list[Catalogued]:
    """The records of documents already found visible, in their order, in four queries
    whatever their number (a harvest's page, a feed)."""
    ids = [d.id for d, _ in found if d.id is not None]
    version_ids = [d.current_version_id for d, _ in found if d.current_version_id]
    mime = dict(
        (
            await sql(
                session,
                text("SELECT id, mime_type FROM document_versions WHERE id = ANY(:ids)").bindparams(
                    ids=version_ids
                ),
            )
        ).all()
    )
    people: dict[tuple[int, str], list[str]] = {}
    for row in await sql(
        session,
        text(
            "SELECT document_id, role, name FROM document_people WHERE document_id = ANY(:ids) "
            "ORDER BY document_id, role, position"
        ).bindparams(ids=ids),
    ):
        people.setdefault((row.document_id, row.role), []).append(row.name)
    chosen = (
        await sql(
            session,
            text(
                "SELECT ds.document_id, s.id, s.name, s.path FROM document_subjects ds "
                "JOIN subjects s ON s.id = ds.subject_id WHERE ds.document_id = ANY(:ids) "
                "ORDER BY ds.document_id, ds.position"
            ).bindparams(ids=ids),
        )
    ).all()
    ancestors = {int(x) for row in chosen for x in row.path.strip("/").split("/") if x}
    names = dict(
        (
            await sql(
                session,
                text("SELECT id, name FROM subjects WHERE id = ANY(:ids)").bindparams(
                    ids=sorted(ancestors)
                ),
            )
        ).all()
    )
    subjects: dict[int, list[SubjectRef]] = {}
    for row in chosen:
        trail = [names[int(x)] for x in row.path.strip("/").split("/") if x and int(x) in names]
        subjects.setdefault(row.document_id, []).append(
            SubjectRef(row.id, row.name, " › ".join(trail) or row.name)
        )
    out = []
    for document, collection in found:
        assert document.id is not None
        out.append(
            Catalogued(
                document=document,
                collection_name=collection.name,
                creators=people.get((document.id, PersonRole.CREATOR.value), []),
                contributors=people.get((document.id, PersonRole.CONTRIBUTOR.value), []),
                subjects=subjects.get(document.id, []),
                mime_type=mime.get(document.current_version_id, "") or "",
                stable_url=stable_url(document.id),
            )
        )
    return out


# --- citations ---------------------------------------------------------------------------

_BIBTEX_SPECIAL = re.compile(r"([\\{}&%$#_^~])")


def _bibtex_value(value: str) -> str:
    def escape(m: re.Match[str]) -> str:
        ch = m.group(1)
        return {"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}"}.get(ch, "\\" + ch)

    return _BIBTEX_SPECIAL.sub(escape, " ".join(value.split()))


def bibtex(c: Catalogued) -> str:
    d = c.document
    people = [metadata.sort_name(n) for n in c.creators]
    surname = re.sub(r"\W+", "", (people[0].split(",")[0] if people else "anon").lower())
    key = f"{surname or 'doc'}{d.year or ''}doc{d.id}"
    kind = "book" if d.publisher else "misc"
    fields = [
        ("title", d.title),
        ("author", " and ".join(people)),
        ("year", str(d.year) if d.year else ""),
        ("publisher", d.publisher),
        ("abstract", d.description[:2000]),
        ("keywords", ", ".join(s.name for s in c.subjects)),
        ("language", d.language),
        ("note", d.identifier),
        ("url", c.stable_url),
    ]
    body = ",\n".join(f"  {name} = {{{_bibtex_value(v)}}}" for name, v in fields if v)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def ris(c: Catalogued) -> str:
    d = c.document
    lines = [("TY", "BOOK" if d.publisher else "GEN"), ("TI", d.title)]
    lines += [("AU", metadata.sort_name(n)) for n in c.creators]
    lines += [("A2", metadata.sort_name(n)) for n in c.contributors]
    if d.year:
        lines.append(("PY", str(d.year)))
    if d.date_issued:
        lines.append(("DA", d.date_issued.replace("-", "/")))
    if d.publisher:
        lines.append(("PB", d.publisher))
    if d.description:
        lines.append(("AB", d.description[:2000]))
    lines += [("KW", s.name) for s in c.subjects]
    if d.language:
        lines.append(("LA", d.language))
    if d.identifier:
        lines.append(("SN" if _looks_like_isbn(d.identifier) else "M1", d.identifier))
    lines += [("UR", c.stable_url), ("ER", "")]
    # RIS is one tag per line: no value may break a line.
    return "".join(f"{tag}  - {' '.join(value.split())}\r\n" for tag, value in lines)


def _looks_like_isbn(value: str) -> bool:
    digits = re.sub(r"[\s-]", "", value.removeprefix("ISBN").strip())
    return bool(re.fullmatch(r"\d{9}[\dXx]|\d{13}", digits))


# --- related documents -------------------------------------------------------------------


@dataclass(frozen=True)
class Related:
    id: int
    title: str
    why: str  # "same author", "same subject", "same author and subject"


async def related(
    *, session: AsyncSession, actor: User | None, document_id: int, limit: int = 6
) -> list[Related]:
    """Listed documents the actor may see that share an author or a subject with this
    one, most shared first."""
    from backend.access.roles import is_staff

    if await scope.visible_document(session, actor, document_id) is None:
        raise NotFound("No such document.")
    ids = None if is_staff(actor) else await scope.visible_ids(session, actor)
    rows = (
        await sql(
            session,
            text(
                f"""
                WITH mine AS (
                    SELECT p.sort_key AS key, 'author' AS facet FROM document_people p
                    WHERE p.document_id = :doc AND p.role = 'creator'
                  UNION
                    SELECT ds.subject_id::text, 'subject' FROM document_subjects ds
                    WHERE ds.document_id = :doc
                )
                SELECT e.document_id AS id, d.title,
                       bool_or(m.facet = 'author') AS by_author,
                       bool_or(m.facet = 'subject') AS by_subject
                FROM mine m
                -- At most FAN_OUT documents from each author or subject: a subject with
                -- half the library in it costs no more than a small one.
                CROSS JOIN LATERAL (
                    SELECT e.document_id FROM browse_entries e
                    WHERE e.facet = m.facet AND e.key = m.key AND e.document_id <> :doc
                      {"AND e.collection_id = ANY(:ids)" if ids is not None else ""}
                    ORDER BY e.sort_key, e.document_id
                    LIMIT :fan_out
                ) e
                JOIN documents d ON d.id = e.document_id
                GROUP BY e.document_id, d.title, d.title_sort
                ORDER BY count(*) DESC, d.title_sort, e.document_id
                LIMIT :limit
                """
            ).bindparams(
                doc=document_id,
                limit=limit,
                fan_out=FAN_OUT,
                **({"ids": ids} if ids is not None else {}),
            ),
        )
    ).all()
    out = []
    for r in rows:
        why = " and ".join(
            w for w, yes in (("same author", r.by_author), ("same subject", r.by_subject)) if yes
        )
        out.append(Related(r.id, r.title, why))
    return out
