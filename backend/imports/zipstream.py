"""A ZIP checked while it streams in, member by member, before it is kept.

The archive is walked by its local file headers as the bytes arrive: each member is
decompressed to count its real size (the bytes are dropped at once, never kept) and its
checksum; the walk stops with `ZipRefused` as soon as a limit is passed: the number of
members, one member's size, one member's compression ratio, or the total unpacked size.
A member whose checksum does not match is only noted (`damaged`): the walk goes on, and
the dry run reports that row. What follows the members (the central directory) is counted,
not trusted: the worker reads the archive again through its directory, with the same
limits (`backend.imports.reader`), because a ZIP's two views of its members may differ.

Read (only): stored and deflated members, ZIP64 sizes, data descriptors after deflated
data. Refused: encryption, other compression methods, and stored data whose size comes
only after it (it cannot be delimited while streaming).
"""

import struct
import zlib
from dataclasses import dataclass, field

from backend.errors import InvalidInput, UploadTooLarge
from backend.storage.service import human_size

# A member that expands more than this many times is a decompression bomb. The ratio is
# measured against at least RATIO_FLOOR compressed bytes, so that a small, repetitive file
# (a short text of the same line) is not taken for one; every member is measured, and the
# total unpacked size bounds what small members can add up to.
MAX_RATIO = 200
RATIO_FLOOR = 1024
STEP = 1 << 20  # at most this much output from one decompression step
# The central directory needs ~100 bytes per member; more than this is not a directory.
TAIL_PER_MEMBER = 4096
TAIL_BASE = 256 * 1024

LOCAL = b"PK\x03\x04"
DESCRIPTOR = b"PK\x07\x08"
TAIL_SIGNATURES = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x06\x08")
END = b"PK\x05\x06"
STORED, DEFLATED = 0, 8
_U32 = 0xFFFFFFFF


class ZipRefused(InvalidInput):
    """The ZIP breaks a limit or cannot be read; nothing of it is kept."""


@dataclass(frozen=True)
class ZipLimits:
    max_files: int
    max_member: int
    max_total: int
    max_ratio: int = MAX_RATIO


@dataclass
class _Member:
    name: str
    method: int
    crc: int
    csize: int | None  # None: given by a data descriptor after the data
    zip64: bool
    compressed: int = 0
    unpacked: int = 0
    running_crc: int = 0
    inflater: "zlib._Decompress | None" = None
    problem: str = ""


@dataclass
class ZipSummary:
    members: int
    unpacked: int
    damaged: dict[str, str] = field(default_factory=dict)  # member name -> why


class ZipStreamCheck:
    """Feed it the archive's bytes in order; it raises `ZipRefused` (or `UploadTooLarge`)
    as soon as the archive breaks a limit, and keeps no more than one header's bytes."""

    def __init__(self, limits: ZipLimits) -> None:
        self.limits = limits
        self.members = 0
        self.unpacked = 0
        self.damaged: dict[str, str] = {}
        self._buf = bytearray()
        self._state = "header"  # header | data | skip | descriptor | tail
        self._member: _Member | None = None
        self._last = ""
        self._tail = 0
        self._saw_end = False

    def feed(self, data: bytes) -> None:
        self._buf += data
        while self._step():
            pass

    def close(self) -> ZipSummary:
        """The archive ended: it must have ended where a ZIP ends."""
        while self._step():
            pass
        if self._state != "tail" or not (self._saw_end or END in self._buf):
            where = f" after {self._last}" if self._last else ""
            raise ZipRefused(f"The ZIP file is incomplete{where}, or not a ZIP file.")
        return ZipSummary(self.members, self.unpacked, dict(self.damaged))

    # --- the walk; each step returns whether it made progress ---------------------------

    def _step(self) -> bool:
        if self._state == "header":
            return self._header()
        if self._state == "data":
            return self._data()
        if self._state == "skip":
            return self._skip()
        if self._state == "descriptor":
            return self._descriptor()
        return self._consume_tail()

    def _header(self) -> bool:
        if len(self._buf) < 4:
            return False
        signature = bytes(self._buf[:4])
        if signature in TAIL_SIGNATURES:
            self._state = "tail"
            return True
        if signature != LOCAL:
            if self.members == 0:
                raise ZipRefused("This is not a ZIP file.")
            raise ZipRefused(f"The ZIP file is damaged after {self._last}.")
        if len(self._buf) < 30:
            return False
        (_, _, flags, method, _, _, crc, csize, usize, name_len, extra_len) = struct.unpack(
            "<IHHHHHIIIHH", self._buf[:30]
        )
        if len(self._buf) < 30 + name_len + extra_len:
            return False
        raw_name = bytes(self._buf[30 : 30 + name_len])
        extra = bytes(self._buf[30 + name_len : 30 + name_len + extra_len])
        del self._buf[: 30 + name_len + extra_len]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        self.members += 1
        self._last = name
        if self.members > self.limits.max_files:
            raise ZipRefused(f"The ZIP holds more than {self.limits.max_files:,} files.")
        if flags & 0x1:
            raise ZipRefused(f"{name} is encrypted; make the ZIP without a password.")
        if method not in (STORED, DEFLATED):
            raise ZipRefused(
                f"{name} is compressed in a way the import does not read; make the ZIP with "
                "the usual (deflate) compression."
            )
        zip64 = csize == _U32 or usize == _U32
        if zip64:
            sizes = _zip64_sizes(extra, usize == _U32, csize == _U32)
            usize = sizes.get("usize", usize)
            csize = sizes.get("csize", csize)
        described_later = bool(flags & 0x8)
        if described_later and method == STORED:
            raise ZipRefused(
                f"{name} is stored with its size after its data, which cannot be checked as "
                "it arrives; make the ZIP with the usual (deflate) compression."
            )
        self._member = _Member(
            name=name,
            method=method,
            crc=crc,
            csize=None if described_later else csize,
            zip64=zip64 or _has_zip64(extra),
            inflater=zlib.decompressobj(-15) if method == DEFLATED else None,
        )
        self._state = "data"
        return True

    def _data(self) -> bool:
        m = self._member
        assert m is not None
        if m.csize is not None and m.compressed >= m.csize:
            return self._end_of_data()
        if not self._buf:
            return False
        take = len(self._buf) if m.csize is None else min(len(self._buf), m.csize - m.compressed)
        piece = bytes(self._buf[:take])
        del self._buf[:take]
        if m.inflater is None:
            m.compressed += take
            self._count(m, piece, m.compressed)
            return True
        before = m.compressed
        try:
            self._inflate(m, piece)
        except zlib.error:
            if m.csize is None:  # nothing says where the next member begins
                raise ZipRefused(f"The ZIP file is damaged at {m.name}.") from None
            m.problem = f"{m.name} is damaged (its compressed data cannot be read)."
            m.compressed = before + len(piece)
            self._state = "skip"
        return True

    def _inflate(self, m: _Member, piece: bytes) -> None:
        inflater = m.inflater
        assert inflater is not None
        before = m.compressed
        pending = piece
        while True:
            out = inflater.decompress(pending, STEP)
            pending = inflater.unconsumed_tail
            consumed = before + len(piece) - len(pending) - len(inflater.unused_data)
            self._count(m, out, consumed)
            # zlib stops when it has no more input or no more room for output: only in the
            # second case does it hold more to give.
            if inflater.eof or (not pending and len(out) < STEP):
                break
        leftover = inflater.unused_data
        m.compressed = before + len(piece) - len(leftover)
        if not inflater.eof:
            return
        if m.csize is None:
            self._buf[:0] = leftover  # the data descriptor, and what follows it
            self._state = "descriptor"
        elif leftover or m.compressed < m.csize:
            m.problem = f"{m.name} is damaged (its sizes do not agree)."
            m.compressed = before + len(piece)
            self._state = "skip"

    def _count(self, m: _Member, out: bytes, consumed: int) -> None:
        m.unpacked += len(out)
        self.unpacked += len(out)
        m.running_crc = zlib.crc32(out, m.running_crc)
        limits = self.limits
        if m.unpacked > limits.max_member:
            raise UploadTooLarge(
                f"{m.name} unpacks to more than one upload may be "
                f"({human_size(limits.max_member)})."
            )
        if m.unpacked > limits.max_ratio * max(consumed, RATIO_FLOOR):
            raise ZipRefused(
                f"{m.name} expands more than {limits.max_ratio} times: a decompression bomb?"
            )
        if self.unpacked > limits.max_total:
            raise UploadTooLarge(
                f"The ZIP unpacks to more than {human_size(limits.max_total)} in all; split it."
            )

    def _end_of_data(self) -> bool:
        m = self._member
        assert m is not None
        if m.inflater is not None and not m.inflater.eof and not m.problem:
            m.problem = f"{m.name} is damaged (its compressed data ends too soon)."
        self._finish_member(m.crc)
        return True

    def _skip(self) -> bool:
        m = self._member
        assert m is not None and m.csize is not None
        if m.compressed >= m.csize:
            self._finish_member(m.crc)
            return True
        if not self._buf:
            return False
        take = min(len(self._buf), m.csize - m.compressed)
        del self._buf[:take]
        m.compressed += take
        return True

    def _descriptor(self) -> bool:
        m = self._member
        assert m is not None
        if len(self._buf) < 4:
            return False
        signed = self._buf[:4] == DESCRIPTOR
        start = 4 if signed else 0
        size = start + 4 + (16 if m.zip64 else 8)
        if len(self._buf) < size:
            return False
        crc = struct.unpack("<I", self._buf[start : start + 4])[0]
        sizes = self._buf[start + 4 : size]
        csize = struct.unpack("<Q", sizes[:8])[0] if m.zip64 else struct.unpack("<I", sizes[:4])[0]
        del self._buf[:size]
        if csize != m.compressed and not m.problem:
            m.problem = f"{m.name} is damaged (its sizes do not agree)."
        self._finish_member(crc)
        return True

    def _finish_member(self, crc: int) -> None:
        m = self._member
        assert m is not None
        if not m.problem and (m.running_crc & _U32) != crc:
            m.problem = f"{m.name} is damaged (its checksum does not match)."
        if m.problem:
            self.damaged[m.name] = m.problem
        self._member = None
        self._state = "header"

    def _consume_tail(self) -> bool:
        if not self._buf:
            return False
        if END in self._buf:
            self._saw_end = True
        self._tail += len(self._buf)
        # Keep the last bytes: a signature may straddle two chunks.
        keep = bytes(self._buf[-3:])
        self._buf.clear()
        self._buf += keep
        self._tail -= len(keep)
        if self._tail > TAIL_BASE + TAIL_PER_MEMBER * self.members:
            raise ZipRefused("The ZIP's directory is far larger than its files need.")
        return False


def _has_zip64(extra: bytes) -> bool:
    at = 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack("<HH", extra[at : at + 4])
        if kind == 0x0001:
            return True
        at += 4 + size
    return False


def _zip64_sizes(extra: bytes, want_usize: bool, want_csize: bool) -> dict[str, int]:
    """The sizes a ZIP64 extra field gives, in its fixed order (original, compressed)."""
    at = 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack("<HH", extra[at : at + 4])
        body = extra[at + 4 : at + 4 + size]
        at += 4 + size
        if kind != 0x0001:
            continue
        out: dict[str, int] = {}
        pos = 0
        for key, wanted in (("usize", want_usize), ("csize", want_csize)):
            if wanted and pos + 8 <= len(body):
                out[key] = struct.unpack("<Q", body[pos : pos + 8])[0]
                pos += 8
        return out
    return {}
