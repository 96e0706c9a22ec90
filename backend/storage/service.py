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
        raise RuntimeError(
            "STORAGE_URL is not supported yet; leave it empty to use the local folder"
        )
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


async def store_stream(
    store: ObjectStore, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
) -> StoredObject:
    """Write chunks to a new object, never holding the whole file; abort past the limit."""
    limit = get_settings().max_upload_bytes if max_bytes is None else max_bytes
    key = new_original_key()
    digest = hashlib.sha256()
    size = 0
    writer = store.writer(key)
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(
                    f"The file is larger than the limit of {human_size(limit)}."
                )
            digest.update(chunk)
            await writer.write(chunk)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    return StoredObject(key=key, sha256=digest.hexdigest(), size=size)
