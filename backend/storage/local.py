"""Objects as files under one folder; keys are internal ids, never user file names.

Files are 0600 and folders 0700 whatever umask the process inherited: the store holds
private collections' originals, thumbnails and page images.
"""

import asyncio
import contextlib
import errno
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from backend.errors import Conflict, StorageFull
from backend.files import open_private, private_dirs

# No room left on the disk, or in the user's quota on it.
_FULL = (errno.ENOSPC, errno.EDQUOT)

_KEY = re.compile(r"^[a-z0-9][a-z0-9/_.-]{0,199}$")


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key or "//" in key:
        raise ValueError(f"invalid object key {key!r}")
    return key


# A file being written is named after its writer (this host, this process): one whose
# writer is gone (a process killed mid-upload) is swept at once, not only when old.
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:60] or "host"
_PART = re.compile(r"^\..+\.[0-9a-f]{32}\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.part$")


def _writer_gone(name: str) -> bool:
    """Whether a .part file's writer ran on this host and is no longer running."""
    found = _PART.match(name)
    if found is None or found["host"] != _HOST:
        return False  # an older name, or another host's writer: judged by age alone
    try:
        os.kill(int(found["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive (another user's process)
    return False


class LocalWriter:
    def __init__(self, final: Path) -> None:
        self._final = final
        self._tmp = final.parent / f".{final.name}.{uuid.uuid4().hex}.{_HOST}-{os.getpid()}.part"
        private_dirs(final.parent)
        fd = open_private(self._tmp, os.O_WRONLY | os.O_EXCL)
        self._fh = open(fd, "wb")  # noqa: SIM115 - closed in commit/abort

    async def write(self, data: bytes) -> None:
        try:
            await asyncio.to_thread(self._fh.write, data)
        except OSError as exc:
            await self._full_or_raise(exc)

    async def _full_or_raise(self, exc: OSError) -> None:
        """A full disk is said as such (after the half-written file is removed)."""
        if exc.errno in _FULL:
            await self.abort()
            raise StorageFull() from exc
        raise exc

    async def commit(self) -> None:
        try:
            await self._commit()
        except OSError as exc:
            await self._full_or_raise(exc)

    async def _commit(self) -> None:
        def finish() -> None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            try:
                # link() refuses to replace an existing file: originals are never overwritten.
                os.link(self._tmp, self._final)
            except FileExistsError as exc:
                raise Conflict(f"object {self._final.name} already exists") from exc
            finally:
                self._tmp.unlink(missing_ok=True)

        await asyncio.to_thread(finish)

    async def abort(self) -> None:
        def drop() -> None:
            if not self._fh.closed:
                with contextlib.suppress(OSError):  # its buffer cannot be written either
                    self._fh.close()
            self._tmp.unlink(missing_ok=True)

        await asyncio.to_thread(drop)


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str) -> LocalWriter:
        try:
            return LocalWriter(self._path(key))
        except OSError as exc:
            if exc.errno in _FULL:  # not even room for a new (empty) file
                raise StorageFull() from exc
            raise

    async def read(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        fh = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk
        finally:
            fh.close()

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def sweep_partial(self, older_than_seconds: float) -> int:
        def sweep() -> int:
            gone, before = 0, time.time() - older_than_seconds
            for path in self.root.rglob(".*.part") if self.root.exists() else []:
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < before or _writer_gone(path.name):
                        path.unlink()
                        gone += 1
            return gone

        return await asyncio.to_thread(sweep)

    async def keys(self, prefix: str = "") -> set[str]:
        def walk() -> set[str]:
            found: set[str] = set()
            top = self.root / prefix if prefix else self.root
            for folder, _dirs, files in os.walk(top):
                base = os.path.relpath(folder, self.root)
                for name in files:
                    if not name.startswith("."):  # not a write in progress
                        found.add(name if base == "." else f"{base}/{name}")
            return found

        return await asyncio.to_thread(walk)

    async def usage(self) -> tuple[int, int]:
        def walk() -> tuple[int, int]:
            objects = size = 0
            for folder, _dirs, files in os.walk(self.root):
                for name in files:
                    if name.startswith("."):  # a write in progress (LocalWriter's .part)
                        continue
                    try:
                        size += os.stat(os.path.join(folder, name)).st_size
                    except FileNotFoundError:
                        continue  # deleted while walking
                    objects += 1
            return objects, size

        return await asyncio.to_thread(walk)

    def local_path(self, key: str) -> Path:
        """Where the object lies on disk (for parsers that need a real file)."""
        return self._path(key)
