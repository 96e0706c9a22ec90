from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.errors import UploadTooLarge
from backend.storage.local import LocalObjectStore
from backend.storage.service import store_stream


async def _chunks(n: int, size: int = 1000) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * size


async def test_size_limit_stops_the_stream_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    with pytest.raises(UploadTooLarge, match="larger than the limit of 4.9 KB"):
        await store_stream(store, _chunks(10), max_bytes=5000)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def test_stream_hashes_and_stores(tmp_path: Path) -> None:
    import hashlib

    store = LocalObjectStore(tmp_path)
    stored = await store_stream(store, _chunks(3), max_bytes=5000)
    assert stored.size == 3000
    assert stored.sha256 == hashlib.sha256(b"x" * 3000).hexdigest()
    assert b"".join([c async for c in store.read(stored.key)]) == b"x" * 3000


def test_keys_cannot_escape_the_folder(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    for key in ("../etc/passwd", "/abs", "a/../../b", "Upper"):
        with pytest.raises(ValueError):
            store.writer(key)
