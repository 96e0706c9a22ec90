"""Streaming an upload into the store while hashing and enforcing the size limit."""

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from backend.errors import UploadTooLarge
from backend.settings import get_settings
from backend.storage.base import ObjectStore
from backend.storage.local import LocalObjectStore


@dataclass(frozen=True)
class StoredObject:
    key: str
    sha256: str
    size: int


@lru_cache
def get_store() -> ObjectStore:
    settings = get_settings()
    if settings.storage_url:
        from backend.storage.s3 import S3ObjectStore

        return S3ObjectStore(settings.storage_url)
    return LocalObjectStore(settings.objects_dir)


def new_original_key() -> str:
    return f"originals/{uuid.uuid4().hex}"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


class UploadSink:
    """Receives one file chunk by chunk: streams it to the store, hashes it, caps its size."""

    def __init__(self, store: ObjectStore, *, key: str = "", max_bytes: int | None = None) -> None:
        self.limit = get_settings().max_upload_bytes if max_bytes is None else max_bytes
        self.key = key or new_original_key()
        self.size = 0
        self._digest = hashlib.sha256()
        self._writer = store.writer(self.key)

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            await self.abort()
            raise UploadTooLarge(f"The file is larger than the limit of {human_size(self.limit)}.")
        self._digest.update(chunk)
        await self._writer.write(chunk)

    async def finish(self) -> StoredObject:
        await self._writer.commit()
        return StoredObject(key=self.key, sha256=self._digest.hexdigest(), size=self.size)

    async def abort(self) -> None:
        await self._writer.abort()


async def store_stream(
    store: ObjectStore,
    chunks: AsyncIterable[bytes],
    *,
    key: str = "",
    max_bytes: int | None = None,
) -> StoredObject:
    """Write chunks to a new object, never holding the whole file; abort past the limit."""
    sink = UploadSink(store, key=key, max_bytes=max_bytes)
    try:
        async for chunk in chunks:
            await sink.write(chunk)
        return await sink.finish()
    except BaseException:
        await sink.abort()
        raise


async def store_file(store: ObjectStore, key: str, source: Path) -> None:
    """A file of this machine written to `key`, 1 MB at a time; nothing left on failure."""
    writer = store.writer(key)
    try:
        with source.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, 1 << 20):
                await writer.write(chunk)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise


async def read_limited(store: ObjectStore, key: str, *, limit: int, what: str) -> bytes:
    """A small object read whole (a CSV of metadata), refused past `limit` bytes."""
    data = bytearray()
    async for chunk in store.read(key):
        data += chunk
        if len(data) > limit:
            raise UploadTooLarge(f"{what} is larger than {human_size(limit)}.")
    return bytes(data)


@asynccontextmanager
async def local_copy(store: ObjectStore, key: str, *, limit: int) -> AsyncIterator[Path]:
    """The object as a file on this machine, for readers that need to seek (a ZIP's
    directory is at its end): the local store's own file, or a temporary copy streamed
    from the remote store and refused past `limit` bytes."""
    if isinstance(store, LocalObjectStore):
        yield store.local_path(key)
        return
    folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="library-copy-")
    try:
        path = Path(folder) / "object"
        await _fetch(store, key, path, limit)
        yield path
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


async def _fetch(store: ObjectStore, key: str, path: Path, limit: int) -> None:
    size = 0
    with path.open("wb") as out:
        async for chunk in store.read(key):
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(f"The stored file is larger than {human_size(limit)}.")
            await asyncio.to_thread(out.write, chunk)


def _prune(folder: Path, budget: int) -> None:
    """The least recently used files of `folder` removed until the rest fit in `budget`."""
    kept = []
    for entry in os.scandir(folder):
        with contextlib.suppress(FileNotFoundError):
            info = entry.stat()
            kept.append((info.st_mtime, info.st_size, entry.path))
    total = sum(size for _, size, _ in kept)
    for _, size, path in sorted(kept):
        if total <= budget:
            break
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        total -= size


@asynccontextmanager
async def cached_copy(store: ObjectStore, key: str, *, limit: int) -> AsyncIterator[Path]:
    """`local_copy` for an object read again and again (the PDF a reader's pages are drawn
    from): a remote object's copy is kept in data_dir/cache/objects, up to OBJECT_CACHE_MB
    for all of them, the least recently used dropped first. Stored objects never change
    under their key, so a kept copy is never stale. The caller reads a hard link of the
    kept copy, which stays whole even when another process drops it meanwhile."""
    budget = get_settings().object_cache_mb << 20
    if isinstance(store, LocalObjectStore) or budget == 0:
        async with local_copy(store, key, limit=limit) as path:
            yield path
        return
    folder = get_settings().data_dir / "cache" / "objects"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    kept = folder / hashlib.sha256(key.encode()).hexdigest()
    # The work folder beside the kept copies: a hard link needs the same filesystem.
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="copy-", dir=folder.parent))
    try:
        mine = work / "object"
        try:
            await asyncio.to_thread(os.link, kept, mine)
            await asyncio.to_thread(os.utime, kept)
        except FileNotFoundError:
            await _fetch(store, key, mine, limit)
            await asyncio.to_thread(_keep, mine, kept, budget)
        yield mine
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


def _keep(copy: Path, kept: Path, budget: int) -> None:
    if copy.stat().st_size > budget:
        return
    kept.parent.mkdir(parents=True, exist_ok=True)
    staged = kept.with_name(f".{kept.name}.{uuid.uuid4().hex}")
    try:
        os.link(copy, staged)
        os.replace(staged, kept)
    except OSError:  # another filesystem, or no room: the copy is used once, not kept
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
        return
    _prune(kept.parent, budget)
