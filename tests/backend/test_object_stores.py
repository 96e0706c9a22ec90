"""One contract for every object store: the local folder and S3 (against moto_server)."""

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backend.errors import Conflict, UploadTooLarge
from backend.storage.base import ObjectStore
from backend.storage.local import LocalObjectStore
from backend.storage.s3 import PART_SIZE, S3ObjectStore
from backend.storage.service import cached_copy, store_stream


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path)
    return S3ObjectStore(request.getfixturevalue("s3_url"))


async def _chunks(total: int, size: int = 1 << 20) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield bytes([sent % 251]) * n
        sent += n


async def test_streams_in_and_out_byte_for_byte(store: ObjectStore) -> None:
    total = 2 * PART_SIZE + 12345  # several multipart parts on S3
    expected = hashlib.sha256()
    async for chunk in _chunks(total):
        expected.update(chunk)
    stored = await store_stream(store, _chunks(total), max_bytes=total)
    assert stored.size == total and stored.sha256 == expected.hexdigest()
    assert await store.exists(stored.key) and await store.size(stored.key) == total
    back = hashlib.sha256()
    async for chunk in store.read(stored.key):
        back.update(chunk)
    assert back.hexdigest() == stored.sha256
    await store.delete(stored.key)
    assert not await store.exists(stored.key)


async def test_an_upload_over_the_limit_leaves_nothing(store: ObjectStore) -> None:
    with pytest.raises(UploadTooLarge):
        await store_stream(store, _chunks(PART_SIZE + 5), max_bytes=PART_SIZE)
    if isinstance(store, S3ObjectStore):
        listed = store.client.list_objects_v2(Bucket=store.bucket)
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket)
        assert listed.get("KeyCount", 0) == 0 and not uploads.get("Uploads")


async def test_originals_are_never_overwritten(store: ObjectStore) -> None:
    first = store.writer("originals/same")
    await first.write(b"first")
    await first.commit()
    second = store.writer("originals/same")
    await second.write(b"second")
    with pytest.raises(Conflict):
        await second.commit()
    assert b"".join([c async for c in store.read("originals/same")]) == b"first"
    await store.delete("originals/same")


async def test_s3_presigned_download_names_the_file(s3_url: str) -> None:
    store = S3ObjectStore(s3_url)
    writer = store.writer("originals/presigned")
    await writer.write(b"%PDF-1.4 bytes")
    await writer.commit()
    url = store.download_url("originals/presigned", "Über Flug.pdf")
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200 and response.content == b"%PDF-1.4 bytes"
    assert "filename*=UTF-8''%C3%9Cber%20Flug.pdf" in response.headers["content-disposition"]
    await store.delete("originals/presigned")


class _Counted(S3ObjectStore):
    """The real S3 store, counting the objects it reads."""

    reads = 0

    def read(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        self.reads += 1
        return super().read(key, chunk_size)


async def test_a_remote_object_read_again_is_kept_on_this_machine(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.settings import get_settings

    monkeypatch.setattr(get_settings(), "data_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "object_cache_mb", 1)
    store = _Counted(s3_url)
    sizes = [600_000, 500_000, 300_000]
    keys = [(await store_stream(store, _chunks(n), max_bytes=n)).key for n in sizes]
    kept = tmp_path / "cache" / "objects"

    async def read_back(key: str) -> bytes:
        async with cached_copy(store, key, limit=1 << 20) as path:
            return path.read_bytes()

    first = await read_back(keys[0])
    assert len(first) == sizes[0] and store.reads == 1
    assert await read_back(keys[0]) == first and store.reads == 1  # the kept copy
    # A second object does not fit beside the first in 1 MB: the least recently used goes.
    assert len(await read_back(keys[1])) == sizes[1] and store.reads == 2
    assert len(list(kept.iterdir())) == 1
    await read_back(keys[0])
    assert store.reads == 3
    # A copy in use stays whole when the kept one is dropped meanwhile (by another
    # process's pruning): the reader holds its own link.
    async with cached_copy(store, keys[0], limit=1 << 20) as path:
        for f in kept.iterdir():
            f.unlink()
        assert path.read_bytes() == first
    # Nothing is left behind but what is kept; an object over the limit is refused.
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["objects"]
    with pytest.raises(UploadTooLarge):
        async with cached_copy(store, keys[0], limit=1000):
            pass
    assert not list(kept.iterdir())
    for key in keys:
        await store.delete(key)


async def test_a_local_object_is_read_in_place(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    key = (await store_stream(store, _chunks(1000), max_bytes=1000)).key
    async with cached_copy(store, key, limit=1 << 20) as path:
        assert path == store.local_path(key)


async def test_what_a_killed_upload_left_half_written_is_swept_once_old(
    store: ObjectStore,
) -> None:
    """A process killed mid-upload never aborts its writer: the local store keeps a .part
    file, S3 an unfinished multipart upload. The hourly sweep removes those older than
    it is told (an upload still in progress is younger), and nothing else."""
    import asyncio

    from jobs.tasks import PARTIAL_AGE_SECONDS, sweep_partial_objects
    from jobs.worker import WorkerSettings

    kept = await store_stream(store, _chunks(1000), max_bytes=1000)
    left = store.writer("originals/killed-mid-upload")
    await left.write(b"x" * (PART_SIZE + 1))  # (S3: one part sent, the upload open)
    await left.write(b"y")
    if isinstance(store, LocalObjectStore):
        # Young: maybe an upload still going. (moto dates every multipart upload
        # 2010-11-10, so on its S3 the age is not seen: a real S3 or MinIO dates it now.)
        assert await store.sweep_partial(3600) == 0
    await asyncio.sleep(1.1)
    assert await store.sweep_partial(1) == 1
    assert await store.sweep_partial(1) == 0
    assert not await store.exists("originals/killed-mid-upload")
    assert await store.exists(kept.key)  # finished objects are never touched
    if isinstance(store, LocalObjectStore):
        assert [p.name for p in store.root.rglob("*.part")] == []
    else:
        assert isinstance(store, S3ObjectStore)
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert uploads == []
    await store.delete(kept.key)
    # The worker sweeps every hour, what is 12 hours old.
    (job,) = [c for c in WorkerSettings.cron_jobs if c.coroutine is sweep_partial_objects]
    assert job.minute == {35} and PARTIAL_AGE_SECONDS == 12 * 3600


async def test_a_writer_killed_on_this_host_leaves_nothing_past_the_next_sweep(
    tmp_path: Path,
) -> None:
    """A .part file carries its writer's host and process: once that process is gone the
    sweep removes the file at once, however young; a live writer's stays."""
    import subprocess
    import sys

    store = LocalObjectStore(tmp_path / "objects")
    script = (
        "import asyncio, os, sys\n"
        "from pathlib import Path\n"
        "from backend.storage.local import LocalObjectStore\n"
        "async def main():\n"
        "    w = LocalObjectStore(Path(sys.argv[1])).writer('originals/cut-off')\n"
        "    await w.write(b'half a file')\n"
        "    w._fh.flush()\n"
        "    os.kill(os.getpid(), 9)\n"
        "asyncio.run(main())\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(store.root)], check=False)
    assert killed.returncode == -9
    mine = store.writer("originals/in-progress")  # this process: alive
    await mine.write(b"still coming")
    parts = sorted(p.name for p in store.root.rglob(".*.part"))
    assert len(parts) == 2
    assert await store.sweep_partial(12 * 3600) == 1
    assert [p.name for p in store.root.rglob(".*.part")] == [
        n for n in parts if f"-{os.getpid()}.part" in n
    ]
    await mine.abort()
