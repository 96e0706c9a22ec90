"""The LibreOffice converter's limits, against the real LibreOffice: a conversion past the
time limit is stopped and the next file converts in a new LibreOffice; LibreOffice runs
under the memory limit, and when it dies the file is told so and the next one converts;
a decompression bomb and a locked file never reach it."""

import asyncio
import os
import signal
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.ingest import office_suite
from backend.ingest.parsers import DOC, WPD, XLSX
from backend.ingest.parsers.base import ParseError, PasswordRequired
from backend.settings import get_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "office"


@pytest.fixture
def suite() -> Iterator[office_suite.OfficeSuite]:
    converter = office_suite.OfficeSuite()
    yield converter
    converter.stop()


def _long_wordperfect(path: Path, paragraphs: int) -> Path:
    """A WordPerfect 5 file of thousands of pages (the format's 16-byte prefix, then text):
    LibreOffice needs far longer than a few seconds to lay it out."""
    head = b"\xffWPC" + struct.pack("<I", 16) + bytes([1, 0x0A, 0, 0, 0, 0, 0, 0])
    paragraph = b"The survey counted hippopotamus herds along the river at dawn. " * 12
    path.write_bytes(head + (paragraph + b"\x0a") * paragraphs)
    return path


def _office_processes(suite: office_suite.OfficeSuite) -> list[int]:
    """The LibreOffice processes of the converter (its process group, without the driver)."""
    assert suite._proc is not None
    group = os.getpgid(suite._proc.pid)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == suite._proc.pid:
            continue
        try:
            if os.getpgid(int(entry.name)) == group:
                found.append(int(entry.name))
        except ProcessLookupError:
            continue
    return found


async def test_a_conversion_past_the_time_limit_is_stopped_and_the_next_starts_afresh(
    suite: office_suite.OfficeSuite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTRACT_WALL_SECONDS", "5")
    get_settings.cache_clear()
    try:
        long = _long_wordperfect(tmp_path / "long.wpd", 20_000)
        await suite.convert(FIXTURES / "report.doc", DOC, tmp_path)  # started before the clock
        first = suite._proc
        assert first is not None and suite._profile is not None
        pipe = office_suite.ipc_pipe(suite._profile / "profile")
        assert pipe.is_socket()  # (LibreOffice's, named as ipc_pipe says)
        with pytest.raises(office_suite.ConversionFailed, match=r"took longer than 5 s"):
            await suite.convert(long, WPD, tmp_path)
        assert first.poll() is not None and suite._proc is None  # the group was killed
        assert not pipe.exists()  # and nothing of it left in /tmp
        pdf = await suite.convert(FIXTURES / "report.doc", DOC, tmp_path)
        assert pdf.read_bytes().startswith(b"%PDF") and suite._proc is not first
    finally:
        get_settings.cache_clear()


async def test_libreoffice_runs_under_the_memory_limit_and_its_death_is_said(
    suite: office_suite.OfficeSuite, tmp_path: Path
) -> None:
    await suite.convert(FIXTURES / "report.doc", DOC, tmp_path)
    office = _office_processes(suite)
    assert office  # soffice.bin
    limit = get_settings().office_memory_mb << 20
    for pid in office:
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert line.split()[3] == str(limit), line

    # LibreOffice dies in the middle of a long conversion (as when it passes the limit).
    long = _long_wordperfect(tmp_path / "long.wpd", 20_000)
    converting = asyncio.create_task(suite.convert(long, WPD, tmp_path))
    await asyncio.sleep(3)
    assert not converting.done()
    for pid in _office_processes(suite):
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(office_suite.ConversionFailed) as failed:
        await converting
    assert str(failed.value) == (
        "LibreOffice stopped while converting the file: it needed more memory than the "
        f"{get_settings().office_memory_mb} MB allowed, or the file crashed it."
    )
    pdf = await suite.convert(FIXTURES / "report.doc", DOC, tmp_path)  # a new LibreOffice
    assert pdf.read_bytes().startswith(b"%PDF")


async def test_a_decompression_bomb_in_an_xlsx_never_reaches_libreoffice(
    suite: office_suite.OfficeSuite, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with (
        zipfile.ZipFile(FIXTURES / "ledger.xlsx") as source,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for item in source.infolist():
            out.writestr(item, source.read(item))
        # 600 MB of spaces in a sheet, packed into about 600 KB.
        with out.open("xl/worksheets/sheet3.xml", "w", force_zip64=True) as member:
            chunk = b" " * (1 << 20)
            for _ in range(600):
                member.write(chunk)
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(ParseError, match="unpack"):
        await suite.convert(bomb, XLSX, tmp_path)
    assert suite._proc is None  # LibreOffice was never started for it


@pytest.mark.parametrize("name", ["locked.doc", "locked.xls", "locked.ods", "locked.odp"])
async def test_a_locked_file_is_said_to_need_its_password_before_libreoffice(
    suite: office_suite.OfficeSuite, tmp_path: Path, name: str
) -> None:
    from backend.ingest import sniff

    path = FIXTURES / name
    mime = sniff.sniff_file(path, name).mime_type
    with pytest.raises(PasswordRequired, match="is protected by a password"):
        await suite.convert(path, mime, tmp_path)
    assert suite._proc is None
