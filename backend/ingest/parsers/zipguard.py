"""Limits on zip-based formats (DOCX, ODT, EPUB), checked before anything is unpacked."""

import zipfile
from pathlib import Path

from backend.ingest.parsers.base import ParseError

MAX_RATIO = 200  # a member that expands more than 200x is treated as a bomb


def check_zip(path: Path, *, max_unpacked: int, max_files: int) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ParseError(f"The file is a damaged archive ({exc}).") from exc
    infos = archive.infolist()
    if len(infos) > max_files:
        raise ParseError(
            f"The archive holds {len(infos)} files, more than the {max_files} allowed."
        )
    total = sum(i.file_size for i in infos)
    if total > max_unpacked:
        raise ParseError(
            f"The archive would unpack to {total // (1 << 20)} MB, more than the "
            f"{max_unpacked // (1 << 20)} MB allowed (a decompression bomb?)."
        )
    for info in infos:
        ratio = info.file_size / info.compress_size if info.compress_size else 0
        if ratio > MAX_RATIO and info.file_size > 10 << 20:
            raise ParseError(f"{info.filename} expands {ratio:.0f}x: a decompression bomb.")
    return archive


def read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """Read one member, never more than `limit` bytes, whatever its header claims."""
    with archive.open(name) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ParseError(f"{name} is larger than allowed.")
    return data
