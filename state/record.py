"""A document page's catalogue side: the Dublin Core record, citations, related documents,
the text of each page, the audit log, and the curators' edit form."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import reflex as rx
from reflex.event import EventSpec
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import labels
from backend.documents import catalogue, inside, metadata
from backend.documents import service as documents
from backend.errors import LibraryError, NotFound
from backend.ids import parse_id
from backend.ingest import pages
from backend.search import service as search
from backend.users.models import User
from state.documents import DocumentState
from state.session import acting, acting_as, form_text, perform, reading, session_token

MAX_FIND = 500  # characters of a search inside a document
THUMBS = 9  # pictures of pages offered at once to jump by

DC_LABELS = {
    "title": "Title",
    "creator": "Creator",
    "subject": "Subject",
    "description": "Description",
    "publisher": "Publisher",
    "contributor": "Contributor",
    "date": "Date",
    "type": "Type",
    "format": "Format",
    "identifier": "Identifier",
    "source": "Source",
    "language": "Language",
    "relation": "Relation",
    "coverage": "Coverage",
    "rights": "Rights",
}
FIELD_LABELS = {
    **{name: label for name, (label, _) in metadata.TEXT_FIELDS.items()},
    "creators": "Creators",
    "contributors": "Contributors",
    "subjects": "Subjects",
}


@dataclass
class DcRow:
    element: str
    label: str
    lines: list[str]


@dataclass
class RelatedRow:
    id: int
    title: str
    why: str


@dataclass
class SegmentRow:
    text: str
    hit: bool


@dataclass
class MarkRow:
    """A marked word's place on the page's image, as CSS percentages."""

    left: str
    top: str
    width: str
    height: str


@dataclass
class FoundRow:
    page_no: int
    around: list[SegmentRow]


@dataclass
class ChangeRow:
    label: str
    before: str
    after: str


@dataclass
class AuditRow:
    when: str
    who: str
    changes: list[ChangeRow]


@dataclass
class SubjectChoice:
    id: int
    name: str


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "—"
    return str(value) if value not in (None, "") else "—"


def _doc_id(state: rx.State) -> int:
    """The document named by the page's address (0 when it names none)."""
    try:
        return parse_id(state.router.url.path.rstrip("/").split("/")[-1], "document")
    except NotFound:
        return 0


class RecordState(rx.State):
    document_id: int = 0
    found: bool = False
    dublin_core: list[DcRow] = []
    stable_url: str = ""
    bibtex: str = ""
    ris: str = ""
    related: list[RelatedRow] = []
    similar: list[RelatedRow] = []  # "more like this", by the search engine's statistics
    audit: list[AuditRow] = []
    # The text of one page.
    page_no: int = 1
    page_count: int = 0
    page_text: str = ""
    page_images: int = 0
    # The page's text in pieces, the words searched for marked (the hit that led here, or
    # a search inside the document), and how many are marked.
    page_segments: list[SegmentRow] = []
    marked: int = 0
    page_marks: list[MarkRow] = []  # the marked words' places on the page's image
    find: str = ""  # the words searched for inside the document ("": none)
    found_pages: list[FoundRow] = []
    found_total: int = -1  # pages where they are (-1: no search made)
    # The edit form (curators).
    editing: bool = False
    form: dict[str, str] = {}
    errors: dict[str, str] = {}
    chosen: list[SubjectChoice] = []
    choices: list[SubjectChoice] = []
    subject_typed: str = ""
    saved: str = ""
    error: str = ""

    def _forget(self) -> None:
        """Nothing of a document this tab may not see stays in its state."""
        self.document_id, self.found = 0, False
        self.dublin_core, self.related, self.similar, self.audit = [], [], [], []
        self.stable_url = self.bibtex = self.ris = ""
        self.page_no, self.page_count, self.page_text, self.page_images = 1, 0, "", 0
        self.page_segments, self.marked, self.find, self.page_marks = [], 0, "", []
        self.found_pages, self.found_total = [], -1
        self.editing, self.form, self.errors, self.saved, self.error = False, {}, {}, "", ""
        self.chosen, self.choices, self.subject_typed = [], [], ""

    @rx.event
    async def load(self) -> EventSpec | None:
        self._forget()
        try:
            async with reading(self) as (session, actor):
                await self._fill(session, actor, _doc_id(self))
        except LibraryError:
            self._forget()
            return None
        self.found = True
        return self._then_marks()

    async def _fill(self, session: AsyncSession, actor: User | None, doc_id: int) -> None:
        found = await catalogue.catalogued(session=session, actor=actor, document_id=doc_id)
        self.document_id = doc_id
        self.dublin_core = [
            DcRow(name, DC_LABELS[name], [_readable(name, v) for v in values])
            for name, values in found.dublin_core().items()
            if values
        ]
        self.stable_url = found.stable_url
        self.bibtex = catalogue.bibtex(found)
        self.ris = catalogue.ris(found)
        self.related = [
            RelatedRow(r.id, r.title, r.why)
            for r in await catalogue.related(session=session, actor=actor, document_id=doc_id)
        ]
        alike = await search.similar(
            session=session,
            actor=actor,
            document_id=doc_id,
            leave_out=[r.id for r in self.related],
        )
        self.similar = [RelatedRow(i, title, "") for i, title in alike]
        curator = await documents.curates(session=session, actor=actor, document_id=doc_id)
        audit = (
            await metadata.history(session=session, actor=actor, document_id=doc_id)
            if curator
            else []
        )
        self.audit = [
            AuditRow(
                when=e.at.strftime("%Y-%m-%d %H:%M"),
                who=e.actor_name or "someone",
                changes=[
                    ChangeRow(FIELD_LABELS.get(k, k), _shown(v[0]), _shown(v[1]))
                    for k, v in e.changes.items()
                ],
            )
            for e in audit
        ]
        # A search hit's link names the page it matched and the words (?page=112&q=…).
        params = parse_qs(self.router.url.query)
        self.find = (params.get("q") or [""])[-1][:MAX_FIND]
        asked = (params.get("page") or ["1"])[-1]
        page_no = int(asked) if asked.isascii() and asked.isdigit() and len(asked) < 9 else 1
        try:
            await self._read_page(session, actor, page_no)
        except LibraryError:
            self.page_no, self.page_count, self.page_text, self.page_images = 1, 0, "", 0

    async def _read_page(self, session: AsyncSession, actor: User | None, page_no: int) -> None:
        page = await inside.marked_page(
            session=session,
            actor=actor,
            document_id=self.document_id,
            page_no=page_no,
            query=self.find,
        )
        self.page_no, self.page_count, self.page_text = page.page_no, page.page_count, page.text
        self.page_images = page.page_images
        self.page_segments = [SegmentRow(s.text, s.hit) for s in page.segments or []]
        self.marked = page.marked
        self.page_marks = []  # found after the page is shown: find_marks

    def _then_marks(self) -> EventSpec | None:
        """The event that marks the words on the page's image, when there are words."""
        pictured = 1 <= self.page_no <= self.page_images
        return RecordState.find_marks if self.marked and pictured else None

    @rx.event(background=True)
    async def find_marks(self) -> None:
        """The marked words' places on the page's image, once the page is shown (a scanned
        page's are read by OCR the first time: it does not hold the page meanwhile)."""
        async with self:
            doc, page_no, token = self.document_id, self.page_no, session_token(self)
            words = [s.text for s in self.page_segments if s.hit]
            pictured = 1 <= page_no <= self.page_images
        if not words or not pictured:
            return
        try:
            async with acting_as(token) as (session, actor):
                boxes = await pages.word_boxes(
                    session=session, actor=actor, document_id=doc, page_no=page_no, words=words
                )
        except LibraryError:
            return  # the page's text is marked all the same
        async with self:
            now = [s.text for s in self.page_segments if s.hit]
            if (self.document_id, self.page_no, now) != (doc, page_no, words):
                return  # another page, or other words, since
            self.page_marks = [
                MarkRow(
                    f"{b.left * 100:.2f}%",
                    f"{b.top * 100:.2f}%",
                    f"{(b.right - b.left) * 100:.2f}%",
                    f"{(b.bottom - b.top) * 100:.2f}%",
                )
                for b in boxes
            ]

    @rx.var
    def page_image_url(self) -> str:
        if not 1 <= self.page_no <= self.page_images:
            return ""
        return f"/api/v1/documents/{self.document_id}/pages/{self.page_no}.webp"

    @rx.var
    def nearby_pages(self) -> list[int]:
        """The pages whose pictures are offered to jump by: those around the one shown."""
        if self.page_images < 2:
            return []
        first = max(1, min(self.page_no - THUMBS // 2, self.page_images - THUMBS + 1))
        return list(range(first, min(self.page_images, first + THUMBS - 1) + 1))

    @rx.event
    async def show_page(self, page_no: int) -> EventSpec | None:
        return await self._show_page(page_no)

    async def _show_page(self, page_no: int) -> EventSpec | None:
        try:
            async with reading(self) as (session, actor):
                await self._read_page(session, actor, page_no)
        except LibraryError as exc:
            self.error = str(exc)
            return None
        return self._then_marks()

    @rx.event
    async def find_inside(self, form: dict[str, Any]) -> EventSpec | None:
        """Search inside this document: the pages where the words are, and the words
        marked on the page shown."""
        self.find = form_text(form, "find").strip()[:MAX_FIND]
        if not self.find:
            self.found_pages, self.found_total = [], -1
            return await self._show_page(self.page_no)
        try:
            async with reading(self) as (session, actor):
                found = await inside.find_inside(
                    session=session, actor=actor, document_id=self.document_id, query=self.find
                )
                first = found.pages[0].page_no if found.pages else self.page_no
                await self._read_page(session, actor, first)
        except LibraryError as exc:
            self.error = str(exc)
            return None
        self.found_pages = [
            FoundRow(p.page_no, [SegmentRow(s.text, s.hit) for s in p.around]) for p in found.pages
        ]
        self.found_total = found.total
        return self._then_marks()

    @rx.event
    async def go_to_page(self, form: dict[str, Any]) -> EventSpec | None:
        typed = str(form.get("page", "")).strip()
        if typed.isascii() and typed.isdigit() and len(typed) <= 9:
            return await self._show_page(int(typed))
        return None

    # --- editing ---

    @rx.event
    async def start_editing(self) -> None:
        try:
            async with acting(self) as (session, actor):
                record, subjects = await metadata.editable(
                    session=session, actor=actor, document_id=self.document_id
                )
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.form = {name: str(getattr(record, name)) for name in metadata.TEXT_FIELDS}
        self.form["creators"] = "\n".join(record.creators)
        self.form["contributors"] = "\n".join(record.contributors)
        self.chosen = [SubjectChoice(s.id, s.name) for s in subjects if s.id is not None]
        self.choices, self.subject_typed = [], ""
        self.errors, self.saved, self.error = {}, "", ""
        self.editing = True

    @rx.event
    def cancel_editing(self) -> None:
        self.editing, self.errors = False, {}

    @rx.event
    async def find_subjects(self, typed: str) -> None:
        if not self.editing:
            return
        try:
            async with acting(self) as (session, actor):
                found = await metadata.subject_choices(
                    session=session, actor=actor, text_typed=typed
                )
        except LibraryError as exc:
            self.errors = {**self.errors, "subject_ids": str(exc)}
            return
        self.subject_typed = typed[:200]
        chosen = {c.id for c in self.chosen}
        self.choices = [
            SubjectChoice(s.id, s.name) for s in found if s.id is not None and s.id not in chosen
        ]

    @rx.event
    def choose_subject(self, subject_id: int) -> None:
        """Move one of the choices offered (never a name the browser made up) to the chosen."""
        offered = next((c for c in self.choices if c.id == subject_id), None)
        if offered is not None and all(c.id != subject_id for c in self.chosen):
            self.chosen = [*self.chosen, offered]
        self.choices = [c for c in self.choices if c.id != subject_id]

    @rx.event
    def drop_subject(self, subject_id: int) -> None:
        self.chosen = [c for c in self.chosen if c.id != subject_id]

    @rx.event
    async def new_subject(self) -> None:
        """A librarian extends the controlled list with what was typed."""
        name = self.subject_typed.strip()
        if not name or not self.editing:
            return
        try:
            subject = await perform(self, metadata.add_subject, name=name)
        except LibraryError as exc:
            self.errors = {**self.errors, "subject_ids": str(exc)}
            return
        assert subject.id is not None
        if all(c.id != subject.id for c in self.chosen):
            self.chosen = [*self.chosen, SubjectChoice(subject.id, subject.name)]
        self.subject_typed = ""

    @rx.event
    async def save(self, form: dict[str, Any]) -> Any:
        record = metadata.Record(
            **{name: str(form.get(name, "")) for name in metadata.TEXT_FIELDS},
            creators=str(form.get("creators", "")).splitlines(),
            contributors=str(form.get("contributors", "")).splitlines(),
            subject_ids=[c.id for c in self.chosen],
        )
        try:
            changes = await perform(
                self, metadata.update, document_id=self.document_id, record=record
            )
        except metadata.InvalidRecord as exc:
            self.errors = exc.errors
            self.form = {k: str(v) for k, v in form.items()}
            return
        except LibraryError as exc:
            self.error = str(exc)
            return
        self.editing, self.errors = False, {}
        await RecordState.load.fn(self)  # type: ignore[attr-defined]
        self.saved = (
            f"Saved: {', '.join(FIELD_LABELS.get(k, k).lower() for k in changes)}."
            if changes
            else "Nothing changed."
        )
        return DocumentState.load  # the heading shows the new title


def _readable(element: str, value: str) -> str:
    """A record's value as a person reads it on the page: a language's name and a file
    format's, where the record itself keeps the codes (as OAI-PMH and the API give them)."""
    if element == "language":
        return labels.language(value)
    if element == "format":
        return labels.file_format(value)
    return value
