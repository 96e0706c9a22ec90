"""A bulk import's ZIP checked while it streams in (web side) and read back by its
directory (worker side), under the same limits."""

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from backend.errors import LibraryError
from backend.imports.reader import MemberUnreadable, ZipReader
from backend.imports.zipstream import ZipLimits, ZipStreamCheck, ZipSummary

LIMITS = ZipLimits(max_files=50, max_member=5 << 20, max_total=20 << 20)


def walk(data: bytes, chunk: int = 4093, limits: ZipLimits = LIMITS) -> ZipSummary:
    check = ZipStreamCheck(limits)
    for i in range(0, len(data), chunk):
        check.feed(data[i : i + chunk])
    return check.close()


def make_zip(members: dict[str, bytes], **options: object) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", **options) as z:  # type: ignore[arg-type]
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


class _Pipe(io.RawIOBase):
    """A stream that cannot seek: zipfile then writes sizes after the data."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


FILES = {
    "scans/a.txt": b"Soundings of the harbour at low water.\n" * 500,
    "scans/": b"",
    "b.bin": os.urandom(200_000),
    "empty.txt": b"",
}


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 22])
def test_a_sound_zip_passes_whatever_its_chunks(method: int, chunk: int) -> None:
    data = make_zip(FILES, compression=method)
    summary = walk(data, chunk)
    assert summary.members == 4
    assert summary.unpacked == sum(len(v) for v in FILES.values())
    assert summary.damaged == {}


def test_sizes_after_the_data_and_zip64_are_read() -> None:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", b"x" * 1000)
        with z.open("b.bin", "w") as fh:
            fh.write(os.urandom(5000))
        with z.open("c.txt", "w", force_zip64=True) as fh:
            fh.write(b"abc" * 10_000)
    summary = walk(bytes(pipe.data), 5)
    assert (summary.members, summary.unpacked, summary.damaged) == (3, 36_000, {})
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z, z.open("d.txt", "w", force_zip64=True) as fh:
        fh.write(b"d" * 100)
    assert walk(plain.getvalue()).unpacked == 100


def test_a_bomb_is_stopped_whatever_the_size_of_its_members() -> None:
    # One big member: refused long before it is unpacked.
    big = make_zip({"bomb.txt": b"\0" * (50 << 20)}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(LibraryError, match="bomb"):
        walk(big, limits=ZipLimits(max_files=50, max_member=1 << 30, max_total=1 << 30))
    # Many small ones (each 1 MB of zeros, ~1 KB packed): the ratio is checked for each.
    small = make_zip(
        {f"m{i}.txt": b"\0" * (1 << 20) for i in range(40)}, compression=zipfile.ZIP_DEFLATED
    )
    assert len(small) < 100_000
    with pytest.raises(LibraryError, match="m0.txt expands more than 200 times"):
        walk(small)


def test_member_count_size_and_total_limits() -> None:
    many = make_zip({f"f{i}.txt": b"x" for i in range(51)})
    with pytest.raises(LibraryError, match="more than 50 files"):
        walk(many)
    with pytest.raises(LibraryError, match="one upload may be"):
        walk(make_zip({"big.bin": os.urandom(6 << 20)}))
    total = make_zip({f"r{i}.bin": os.urandom(4 << 20) for i in range(6)})
    with pytest.raises(LibraryError, match="in all"):
        walk(total, chunk=1 << 20)


def test_a_bad_checksum_is_noted_and_the_walk_goes_on() -> None:
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        data = bytearray(make_zip(FILES, compression=method))
        at = data.index(b"b.bin") + len(b"b.bin") + 1000  # inside its (random) data
        data[at] ^= 0xFF
        summary = walk(bytes(data))
        assert summary.members == 4
        assert list(summary.damaged) == ["b.bin"]
        assert "checksum" in summary.damaged["b.bin"] or "damaged" in summary.damaged["b.bin"]


def test_what_cannot_be_walked_is_refused() -> None:
    with pytest.raises(LibraryError, match="not a ZIP"):
        walk(b"hello, this is text and not a zip at all")
    with pytest.raises(LibraryError, match="incomplete"):
        walk(make_zip(FILES)[:300])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_BZIP2) as z:
        z.writestr("a.txt", b"abc" * 100)
    with pytest.raises(LibraryError, match="compressed in a way"):
        walk(out.getvalue())


def _on_disk(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "files.zip"
    path.write_bytes(data)
    return path


async def _read(reader: ZipReader, name: str) -> bytes:
    return b"".join([chunk async for chunk in reader.chunks(name)])


async def test_the_worker_reads_members_back_under_the_same_limits(tmp_path: Path) -> None:
    data = bytearray(make_zip({**FILES, "bomb.txt": b"\0" * (4 << 20)}, compression=8))
    at = data.index(b"b.bin") + len(b"b.bin") + 1000
    data[at] ^= 0xFF
    reader = ZipReader(_on_disk(tmp_path, bytes(data)), LIMITS)
    try:
        assert reader.names()["a.txt"] == "scans/a.txt"  # a unique name alone finds its path
        assert await _read(reader, "scans/a.txt") == FILES["scans/a.txt"]
        assert "damaged" in (await reader.verify("b.bin"))[0]  # bad CRC: a row's error
        assert "bomb" in (await reader.verify("bomb.txt"))[0]
        with pytest.raises(MemberUnreadable, match="not in the ZIP"):
            await _read(reader, "missing.txt")
    finally:
        reader.close()
    truncated = make_zip(FILES, compression=8)
    cut = truncated.index(b"b.bin") + 5000
    damaged = truncated[:cut] + b"\0" * 3000 + truncated[cut + 3000 :]
    reader = ZipReader(_on_disk(tmp_path, damaged), LIMITS)
    try:
        assert (await reader.verify("b.bin"))[0] != ""
        whole = hashlib.sha256(FILES["scans/a.txt"]).hexdigest()
        assert await reader.verify("scans/a.txt") == ("", whole)  # and its SHA-256
    finally:
        reader.close()
    with pytest.raises(LibraryError, match="not a ZIP"):
        ZipReader(_on_disk(tmp_path, b"not a zip"), LIMITS)
