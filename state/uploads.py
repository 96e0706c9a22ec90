"""Receiving a chunked browser upload: each file streams into the store, then is recorded."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import reflex as rx

from backend.errors import LibraryError
from backend.storage.service import StoredObject, UploadSink, get_store

Recorder = Callable[[StoredObject, str], Awaitable[None]]
Progress = Callable[[str, int, bool], Awaitable[None]]
PROGRESS_EVERY = 0.25  # seconds between progress reports to the page


async def receive_files(
    chunks: rx.UploadChunkIterator, record: Recorder, progress: Progress | None = None
) -> tuple[list[str], list[str]]:
    """Stream every file of the upload; returns the accepted names and the problems.

    `progress(name, bytes_received, done)` is called a few times a second while a file
    streams, and once when it is complete.
    """
    store = get_store()
    accepted: list[str] = []
    problems: list[str] = []
    sink: UploadSink | None = None
    current = ""
    reported = 0.0

    async def finish(sink: UploadSink, name: str) -> None:
        stored = await sink.finish()
        if progress is not None:
            await progress(name, stored.size, True)
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
            now = time.monotonic()
            if progress is not None and now - reported > PROGRESS_EVERY:
                reported = now
                await progress(current, sink.size, False)
        if sink is not None:
            await finish(sink, current)
    except LibraryError as exc:  # e.g. the size limit, raised while streaming
        if sink is not None:
            await sink.abort()
        problems.append(f"{current}: {exc}")
    except asyncio.CancelledError:
        # The browser cancelled (or went away): the file in flight is dropped, the ones
        # already received are kept, and the page is told.
        if sink is not None:
            await sink.abort()
        problems.append(f"Upload cancelled; {current} was not kept.")
    except BaseException:
        if sink is not None:
            await sink.abort()
        raise
    return accepted, problems
