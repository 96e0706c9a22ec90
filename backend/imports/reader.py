"""The import's ZIP read back in the worker, member by member, under the upload's limits.

The worker reads through the archive's central directory (random access), which may
describe other members than the local headers the upload was checked by: every read is
checked again, as it happens. A member that breaks a limit or cannot be read (bad
checksum, truncated, unknown compression, encrypted) raises `MemberUnreadable`, which the
import reports on that member's row; nothing is crashed, nothing is kept of it.
"""

import asyncio
import hashlib
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from backend.errors import InvalidInput
from backend.imports.zipstream import RATIO_FLOOR, ZipLimits, ZipRefused
from backend.storage.service import human_size

CHUNK = 1 << 20
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,  # an encrypted member
    OSError,
    ValueError,
    struct.error,
)


class MemberUnreadable(InvalidInput):
    """One member breaks a limit or is damaged; the row that names it is refused."""


class ZipReader:
    """An archive on this machine's disk, opened by its directory and read with limits."""

    def __init__(self, path: Path, limits: ZipLimits) -> None:
        self.limits = limits
        self.unpacked = 0  # across every member read through this reader
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, struct.error) as exc:
            raise ZipRefused("The ZIP file is damaged or not a ZIP file.") from exc
        infos = self.archive.infolist()
        if len(infos) > limits.max_files:
            self.archive.close()
            raise ZipRefused(f"The ZIP holds {len(infos):,} files; at most {limits.max_files:,}.")
        self._infos = {i.filename: i for i in infos if not i.is_dir()}

    def close(self) -> None:
        self.archive.close()

    def names(self) -> dict[str, str]:
        """File name as a CSV may give it (its path in the ZIP, or its name alone when that
        is unique) -> its path in the ZIP."""
        out = {n: n for n in self._infos}
        by_base: dict[str, list[str]] = {}
        for n in self._infos:
            by_base.setdefault(PurePosixPath(n).name, []).append(n)
        for base, paths in by_base.items():
            if len(paths) == 1:
                out.setdefault(base, paths[0])
        return out

    async def chunks(self, name: str) -> AsyncIterator[bytes]:
        """The member's bytes, decompressed a chunk at a time and checked as they come."""
        info = self._infos.get(name)
        if info is None:
            raise MemberUnreadable(f"{name} is not in the ZIP.")
        limits = self.limits
        if info.file_size > limits.max_member:
            raise MemberUnreadable(f"{name} is larger than one upload may be.")
        read = 0
        try:
            fh = await asyncio.to_thread(self.archive.open, info)
        except _DAMAGE as exc:
            raise MemberUnreadable(f"{name} cannot be read from the ZIP ({exc}).") from exc
        try:
            while True:
                try:
                    chunk = await asyncio.to_thread(fh.read, CHUNK)
                except _DAMAGE as exc:
                    raise MemberUnreadable(f"{name} is damaged in the ZIP ({exc}).") from exc
                if not chunk:
                    return
                read += len(chunk)
                self.unpacked += len(chunk)
                # zipfile reads at most compress_size bytes of the member's data, so the
                # ratio to it is the real one.
                if read > limits.max_ratio * max(info.compress_size, RATIO_FLOOR):
                    raise MemberUnreadable(
                        f"{name} expands more than {limits.max_ratio} times: a decompression bomb?"
                    )
                if read > limits.max_member:
                    raise MemberUnreadable(f"{name} is larger than one upload may be.")
                if self.unpacked > limits.max_total:
                    raise MemberUnreadable(
                        f"The ZIP unpacks to more than {human_size(limits.max_total)} in all; "
                        f"{name} and the files after it were not read."
                    )
                yield chunk
        finally:
            fh.close()

    async def verify(self, name: str) -> tuple[str, str]:
        """Read a member through, keeping nothing: ("", its SHA-256) when it is whole,
        else (the reason, "")."""
        digest = hashlib.sha256()
        try:
            async for chunk in self.chunks(name):
                digest.update(chunk)
        except MemberUnreadable as exc:
            return str(exc), ""
        return "", digest.hexdigest()
