"""Receiving a chunked browser upload: each file streams into the store, then is recorded."""

from collections.abc import Awaitable, Callable

import reflex as rx

from backend.errors import LibraryError
from backend.storage.service import StoredObject, UploadSink, get_store

Recorder = Callable[[StoredObject, str], Awaitable[None]]


async def receive_files(
    chunks: rx.UploadChunkIterator, record: Recorder
) -> tuple[list[str], list[str]]:
    """Stream every file of the upload; returns the accepted names and the problems."""
    store = get_store()
    accepted: list[str] = []
    problems: list[str] = []
    sink: UploadSink | None = None
    current = ""

    async def finish(sink: UploadSink, name: str) -> None:
        stored = await sink.finish()
        try:
            await record(stored, name)
            accepted.append(name)
        except LibraryError as exc:
            await store.delete(stored.key)  # nothing was recorded: no orphan is kept
            problems.append(f"{name}: {exc}")

    try:
        async for chunk in chunks:
            if sink is None or chunk.filename != current:
                if sink is not None:
                    await finish(sink, current)
                sink, current = UploadSink(store), chunk.filename
            await sink.write(chunk.data)
        if sink is not None:
            await finish(sink, current)
    except LibraryError as exc:  # e.g. the size limit, raised while streaming
        if sink is not None:
            await sink.abort()
        problems.append(f"{current}: {exc}")
    except BaseException:
        if sink is not None:
            await sink.abort()
        raise
    return accepted, problems
