"""Streaming an upload into the store while hashing and enforcing the size limit."""

import hashlib
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from functools import lru_cache

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

    def __init__(self, store: ObjectStore, *, max_bytes: int | None = None) -> None:
        self.limit = get_settings().max_upload_bytes if max_bytes is None else max_bytes
        self.key = new_original_key()
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
    store: ObjectStore, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
) -> StoredObject:
    """Write chunks to a new object, never holding the whole file; abort past the limit."""
    sink = UploadSink(store, max_bytes=max_bytes)
    try:
        async for chunk in chunks:
            await sink.write(chunk)
        return await sink.finish()
    except BaseException:
        await sink.abort()
        raise
