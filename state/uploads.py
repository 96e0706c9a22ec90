"""Receiving a chunked browser upload: each file streams into the store, then is recorded."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import reflex as rx

from backend.errors import LibraryError
from backend.storage.service import StoredObject, UploadSink, get_store, human_size

Recorder = Callable[[StoredObject, str], Awaitable[None]]
Progress = Callable[[int, str, int, bool], Awaitable[None]]
PROGRESS_EVERY = 0.25  # seconds between progress reports to the page


async def receive_files(
    chunks: rx.UploadChunkIterator, record: Recorder, progress: Progress | None = None
) -> tuple[list[str], list[str]]:
    """Stream every file of the upload; returns the accepted names and the problems.

    `progress(index, name, bytes_received, done)` is called a few times a second while a
    file streams, and once when it is complete; `index` counts the files from 0 in the
    order the browser sent them.
    """
    store = get_store()
    accepted: list[str] = []
    problems: list[str] = []
    sink: UploadSink | None = None
    current = ""
    index = -1
    reported = 0.0

    async def finish(sink: UploadSink, name: str) -> None:
        stored = await sink.finish()
        if progress is not None:
            await progress(index, name, stored.size, True)
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
                sink, current, index = UploadSink(store), chunk.filename, index + 1
            await sink.write(chunk.data)
            now = time.monotonic()
            if progress is not None and now - reported > PROGRESS_EVERY:
                reported = now
                await progress(index, current, sink.size, False)
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


def expected_files(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per file the browser is about to send, from its name and size."""
    rows = []
    for f in files:
        size = max(int(f.get("size") or 0), 0)
        rows.append(
            {
                "name": str(f.get("name") or "file"),
                "size": size,
                "percent": 0,
                "label": f"waiting · {human_size(size)}",
                "done": False,
            }
        )
    return rows


def share_progress(rows: list[dict[str, Any]], loaded: int, total: int) -> list[dict[str, Any]]:
    """Split the browser's bytes-sent figure for the whole request among its files.

    The files travel one after another in the request body, each behind a few hundred
    bytes of multipart headers, so file i has been sent as far as `loaded` reaches past
    the files before it. The headers are shared out evenly.
    """
    if not rows:
        return rows
    overhead = max(total - sum(r["size"] for r in rows), 0) / len(rows)
    start = 0.0
    out = []
    for r in rows:
        span = r["size"] + overhead
        sent = min(max(loaded - start, 0.0), span)
        start += span
        row = dict(r)
        if not r["done"]:
            row["percent"] = 100 if span <= 0 else int(100 * sent / span)
            if row["percent"] >= 100:
                row["label"] = f"sent · {human_size(r['size'])}, storing"
            elif sent > 0:
                row["label"] = f"{human_size(int(sent))} of {human_size(r['size'])}"
        out.append(row)
    return out


def mark_received(
    rows: list[dict[str, Any]], index: int, name: str, received: int
) -> list[dict[str, Any]]:
    """The server has stored file `index` whole: its row says so."""
    row = {"name": name, "size": received, "percent": 100, "done": True}
    row["label"] = f"received · {human_size(received)}"
    if 0 <= index < len(rows):
        return [row if i == index else r for i, r in enumerate(rows)]
    return [*rows, row]  # the browser did not name it (no drop event): still show it
