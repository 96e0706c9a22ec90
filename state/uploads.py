"""One way to receive a browser upload, for every drop zone.

Each drop zone's handler is a chunked background handler (`rx.upload_files_chunk`, never
the buffered `rx.upload_files`) that calls `receive()` with the chunks, the acting user's
session token (`upload_token`, the one place that knows where it comes from) and a
`Destination`:
- who may send this upload: asked through the backend before the first chunk is consumed
  (a refusal leaves the body unread: the request ends there);
- where each file goes while it streams: the object store, or a bounded buffer for a
  small image, with its size limit (and, for a ZIP, its unpacking limits) enforced as the
  bytes arrive;
- how the files are recorded: in one unit of work, each file as it is stored or all of
  them at the end. A refusal at any point drops whatever was stored of the upload that is
  not recorded.
"""

import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import reflex as rx
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access import scope
from backend.collections import service as collections
from backend.documents import bulk
from backend.documents import service as documents
from backend.errors import InvalidInput, LibraryError, UploadTooLarge
from backend.imports import service as imports
from backend.imports.zipstream import ZipStreamCheck
from backend.storage.service import StoredObject, UploadSink, get_store, human_size
from backend.users.models import User
from state.session import acting_as, session_token

Progress = Callable[[int, str, int, bool], Awaitable[None]]
PROGRESS_EVERY = 0.25  # seconds between progress reports to the page


async def upload_token(state: rx.State) -> str:
    """The session token of whoever sends an upload (call it inside `async with state`).
    Every upload handler asks here, so where the token comes from is one place."""
    return session_token(state)


@dataclass(frozen=True)
class Received:
    """A file received whole: stored in the object store, or kept in a small buffer."""

    name: str
    stored: StoredObject | None = None
    data: bytes = b""

    @property
    def size(self) -> int:
        return self.stored.size if self.stored else len(self.data)


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...
    async def finish(self) -> Received: ...
    async def abort(self) -> None: ...


class StoreSink:
    """Streams a file into the object store (hashed, size-capped); a ZIP is also walked
    member by member as it arrives, and refused at the first limit it breaks."""

    def __init__(
        self,
        name: str,
        *,
        key: str = "",
        max_bytes: int | None = None,
        zip_check: ZipStreamCheck | None = None,
    ) -> None:
        self.name = name
        self._sink = UploadSink(get_store(), key=key, max_bytes=max_bytes)
        self._zip = zip_check

    async def write(self, data: bytes) -> None:
        if self._zip is not None:
            self._zip.feed(data)  # before the bytes are stored: refused ones never are
        await self._sink.write(data)

    async def finish(self) -> Received:
        if self._zip is not None:
            self._zip.close()
        return Received(self.name, stored=await self._sink.finish())

    async def abort(self) -> None:
        await self._sink.abort()


class BufferSink:
    """Keeps a small file in memory, never more than `limit` bytes of it."""

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit = name, limit
        self._data = bytearray()

    async def write(self, data: bytes) -> None:
        if len(self._data) + len(data) > self.limit:
            self._data.clear()
            raise UploadTooLarge(f"The file is larger than the limit of {human_size(self.limit)}.")
        self._data += data

    async def finish(self) -> Received:
        return Received(self.name, data=bytes(self._data))

    async def abort(self) -> None:
        self._data.clear()


Authorize = Callable[[AsyncSession, User | None], Awaitable[object]]
Record = Callable[[AsyncSession, User | None, list[Received]], Awaitable[object]]


@dataclass
class Destination:
    """What an upload is for (see the module's docstring)."""

    authorize: Authorize
    open: Callable[[str, int], Sink]  # a file's name and its place in the upload (from 0)
    record: Record
    together: bool = False  # record every file at the end (else each once it is stored)


@dataclass
class Outcome:
    accepted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    recorded: list[object] = field(default_factory=list)  # what `record` returned

    @property
    def error(self) -> str:
        return " ".join(self.problems)


async def _drop(files: list[Received]) -> None:
    for f in files:
        if f.stored is not None:
            await get_store().delete(f.stored.key)


async def receive(
    chunks: AsyncIterable[rx.UploadChunk],
    *,
    token: str,
    destination: Destination,
    progress: Progress | None = None,
) -> Outcome:
    """Authorize, then stream and record every file of the upload (see the docstring).

    `progress(index, name, bytes_received, done)` is called a few times a second while a
    file streams, and once when it is stored.
    """
    outcome = Outcome()
    try:
        async with acting_as(token) as (session, actor):
            await destination.authorize(session, actor)
    except LibraryError as exc:
        outcome.problems.append(str(exc))
        return outcome  # not one chunk consumed

    async def record(files: list[Received]) -> None:
        try:
            async with acting_as(token) as (session, actor):
                result = await destination.record(session, actor, files)
                await session.commit()
        except LibraryError as exc:
            await _drop(files)  # nothing was recorded: no orphan is kept
            where = f"{files[0].name}: " if len(files) == 1 else ""
            outcome.problems.append(f"{where}{exc}")
            return
        except BaseException:
            await _drop(files)
            raise
        outcome.accepted += [f.name for f in files]
        outcome.recorded.append(result)

    held: list[Received] = []  # stored, to be recorded together at the end
    sink: Sink | None = None
    current, index, reported, size = "", -1, 0.0, 0

    async def close_file() -> None:
        """The file in hand is whole: keep it, then say so."""
        nonlocal sink
        assert sink is not None
        done = await sink.finish()
        sink = None  # stored: from here on, only a refusal to record it drops it
        if destination.together:
            held.append(done)
        else:
            await record([done])
        if progress is not None:
            await progress(index, current, done.size, True)

    try:
        async for chunk in chunks:
            if sink is None or chunk.filename != current or chunk.offset == 0:
                if sink is not None:
                    await close_file()
                current, index, size = chunk.filename, index + 1, 0
                sink = destination.open(current, index)
            await sink.write(chunk.data)
            size += len(chunk.data)
            now = time.monotonic()
            if progress is not None and now - reported > PROGRESS_EVERY:
                reported = now
                await progress(index, current, size, False)
        if sink is not None:
            await close_file()
        if destination.together:
            files, held = held, []
            await record(files)
    except LibraryError as exc:  # a limit passed while streaming, or a file not wanted
        outcome.problems.append(f"{current}: {exc}" if current else str(exc))
    except asyncio.CancelledError:
        # The browser cancelled (or went away): the file in flight is dropped, the ones
        # already recorded are kept, and the page is told.
        outcome.problems.append(f"Upload cancelled; {current} was not kept.")
    finally:
        if sink is not None:
            await sink.abort()
        await _drop(held)
    return outcome


# --- the drop zones ----------------------------------------------------------------------


def _one_file(name: str, index: int) -> None:
    if index > 0:
        raise InvalidInput("Drop one file at a time here.")


def into_collection(collection_id: int) -> Destination:
    """Documents dropped on a collection: each becomes a document, then goes to ingest."""

    async def record(session: AsyncSession, actor: User | None, files: list[Received]) -> list[int]:
        """The new versions' ids (the page follows them to its closing summary)."""
        added = []
        for f in files:
            assert f.stored is not None
            _, version = await documents.add_document(
                session=session,
                actor=actor,
                collection_id=collection_id,
                stored=f.stored,
                filename=f.name,
            )
            assert version.id is not None
            added.append(version.id)
        return added

    return Destination(
        authorize=lambda session, actor: scope.require_curated(session, actor, collection_id),
        open=lambda name, index: StoreSink(name),
        record=record,
    )


def new_version(document_id: int) -> Destination:
    """A new version of a document (its collection's curators)."""

    def open_sink(name: str, index: int) -> Sink:
        _one_file(name, index)
        return StoreSink(name)

    async def record(session: AsyncSession, actor: User | None, files: list[Received]) -> None:
        assert files[0].stored is not None
        await documents.add_version(
            session=session,
            actor=actor,
            document_id=document_id,
            stored=files[0].stored,
            filename=files[0].name,
        )

    return Destination(
        authorize=lambda session, actor: scope.require_curated_document(
            session, actor, document_id
        ),
        open=open_sink,
        record=record,
    )


def collection_cover(collection_id: int) -> Destination:
    """A collection's cover image: a small file, read into a bounded buffer."""

    def open_sink(name: str, index: int) -> Sink:
        _one_file(name, index)
        return BufferSink(name, collections.MAX_COVER_BYTES)

    async def record(session: AsyncSession, actor: User | None, files: list[Received]) -> None:
        await collections.set_cover(
            session=session, actor=actor, collection_id=collection_id, data=files[0].data
        )

    return Destination(
        authorize=lambda session, actor: scope.require_curated(session, actor, collection_id),
        open=open_sink,
        record=record,
    )


IMPORT_FILES = "Drop one .csv file of metadata, and a .zip of the files it names."


def bulk_import(collection_id: int) -> Destination:
    """A bulk import's CSV and ZIP, stored under one folder; the import is recorded once
    both are in (its dry run then runs in the worker)."""
    folder = imports.ImportFolder()
    seen: set[str] = set()

    def open_sink(name: str, index: int) -> Sink:
        kind = name.lower().rsplit(".", 1)[-1]
        if kind not in ("csv", "zip") or kind in seen:
            raise InvalidInput(IMPORT_FILES)
        seen.add(kind)
        if kind == "csv":
            return StoreSink(name, key=folder.csv_key, max_bytes=bulk.MAX_CSV_BYTES)
        return StoreSink(
            name,
            key=folder.zip_key,
            max_bytes=imports.max_zip_bytes(),
            zip_check=ZipStreamCheck(imports.zip_limits()),
        )

    async def record(session: AsyncSession, actor: User | None, files: list[Received]) -> int:
        kinds = {f.name.lower().rsplit(".", 1)[-1] for f in files}
        created = await imports.create(
            session=session,
            actor=actor,
            collection_id=collection_id,
            folder=folder,
            has_csv="csv" in kinds,
            has_zip="zip" in kinds,
        )
        assert created.id is not None
        return created.id

    return Destination(
        authorize=lambda session, actor: imports.authorize_upload(
            session=session, actor=actor, collection_id=collection_id
        ),
        open=open_sink,
        record=record,
        together=True,
    )
