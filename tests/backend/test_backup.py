"""The parts of backups and restores (tests/e2e/test_backup.py runs the whole drill):
the copy of the stored files on folders and on S3, which backups a restore combines,
what pruning keeps, the log archive's commands, and the moments an operator may write."""

import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy.engine import make_url

from backend.embedded import WalArchive
from backend.operations import backup
from backend.operations.backup import BackupError, BaseBackup, chain_for, copy_objects
from backend.operations.restore import _copy_back
from backend.settings import Settings
from backend.storage.local import LocalObjectStore
from backend.storage.s3 import S3ObjectStore

DAY = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def _put(store: object, key: str, data: bytes) -> None:
    writer = store.writer(key)  # type: ignore[attr-defined]
    await writer.write(data)
    await writer.commit()


async def _get(store: object, key: str) -> bytes:
    return b"".join([c async for c in store.read(key)])  # type: ignore[attr-defined]


async def test_the_copy_of_stored_files_adds_sets_deleted_ones_aside_and_drops_them_late(
    tmp_path: Path,
) -> None:
    source = LocalObjectStore(tmp_path / "objects")
    copy = LocalObjectStore(tmp_path / "backup")
    await _put(source, "originals/aaa", b"first file")
    await _put(source, "pages/7/1.webp", b"a page")
    (tmp_path / "objects" / "originals" / ".bbb.123.part").write_bytes(b"half written")

    made = await copy_objects(source, copy, keep_days=30, today=DAY)
    assert (made.copied, made.moved_aside, made.dropped) == (2, 0, 0)
    assert await copy.keys() == {"originals/aaa", "pages/7/1.webp"}  # never the .part
    # One disk: the copy is a second name of the same file (stored files never change).
    assert (tmp_path / "backup/originals/aaa").stat().st_ino == (
        tmp_path / "objects/originals/aaa"
    ).stat().st_ino
    again = await copy_objects(source, copy, keep_days=30, today=DAY)
    assert (again.copied, again.moved_aside) == (0, 0)

    await source.delete("originals/aaa")
    later = await copy_objects(source, copy, keep_days=30, today=DAY + timedelta(days=1))
    assert (later.copied, later.moved_aside) == (0, 1)
    aside = "deleted-copies/2026-12-07/originals/aaa"
    assert await copy.keys() == {"pages/7/1.webp", aside}
    assert await _get(copy, aside) == b"first file"

    # A restore puts a set-aside file back under its own key.
    restored = LocalObjectStore(tmp_path / "restored")
    assert await _copy_back(copy, restored) == 2
    assert await restored.keys() == {"originals/aaa", "pages/7/1.webp"}

    kept = await copy_objects(source, copy, keep_days=30, today=DAY + timedelta(days=30))
    assert kept.dropped == 0
    gone = await copy_objects(source, copy, keep_days=30, today=DAY + timedelta(days=32))
    assert gone.dropped == 1 and await copy.keys() == {"pages/7/1.webp"}


async def test_the_copy_goes_to_another_bucket_on_s3(tmp_path: Path, s3_url: str) -> None:
    source = LocalObjectStore(tmp_path / "objects")
    prefix = f"backup-{uuid.uuid4().hex[:8]}"
    copy = S3ObjectStore(s3_url.replace("/objects?", f"/{prefix}?"))
    await _put(source, "originals/ccc", b"to the bucket")
    await _put(source, "covers/3/x.webp", b"a cover")
    made = await copy_objects(source, copy, keep_days=30, today=DAY)
    assert made.copied == 2
    assert await copy.keys() == {"originals/ccc", "covers/3/x.webp"}
    await source.delete("covers/3/x.webp")
    later = await copy_objects(source, copy, keep_days=30, today=DAY)
    assert later.moved_aside == 1
    assert await copy.keys() == {"originals/ccc", "deleted-copies/2026-12-06/covers/3/x.webp"}
    restored = LocalObjectStore(tmp_path / "restored")
    assert await _copy_back(copy, restored) == 2
    assert await _get(restored, "covers/3/x.webp") == b"a cover"
    for key in await copy.keys():
        await copy.delete(key)


def _backup(root: Path, finished: datetime, kind: str, parent: str | None = None) -> str:
    name = f"{finished.strftime('%Y%m%dT%H%M%SZ')}-{kind}"
    folder = root / "base" / name
    folder.mkdir(parents=True)
    made = BaseBackup(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        parent=parent,
        started=finished - timedelta(minutes=1),
        finished=finished,
        timeline=1,
        start_lsn=f"0/{(finished.day * 0x1000000):X}",
        end_lsn="0/0",
        size=1,
    )
    (folder / "backup.json").write_text(made.to_json())
    return name


def test_a_restore_combines_the_newest_backup_before_the_moment_with_its_parents(
    tmp_path: Path,
) -> None:
    full = _backup(tmp_path, DAY, "full")
    one = _backup(tmp_path, DAY + timedelta(hours=1), "incremental", full)
    two = _backup(tmp_path, DAY + timedelta(hours=2), "incremental", one)
    next_full = _backup(tmp_path, DAY + timedelta(days=1), "full")
    (tmp_path / "base" / ".20261208T000000Z-full.part").mkdir()  # unfinished: not listed
    found = backup.list_backups(tmp_path)
    assert [b.name for b in found] == [full, one, two, next_full]

    def names(moment: datetime | None) -> list[str]:
        return [b.name for b in chain_for(found, moment)]

    assert names(DAY + timedelta(hours=1, minutes=30)) == [full, one]
    assert names(DAY + timedelta(hours=5)) == [full, one, two]
    assert names(None) == [next_full]
    with pytest.raises(BackupError, match="no base backup was finished before that moment"):
        chain_for(found, DAY - timedelta(minutes=1))
    shutil.rmtree(tmp_path / "base" / one)
    with pytest.raises(BackupError, match=f"built on {one}, missing"):
        chain_for(backup.list_backups(tmp_path), DAY + timedelta(hours=5))


def test_pruning_keeps_the_days_asked_and_what_they_are_built_on(tmp_path: Path) -> None:
    old_full = _backup(tmp_path, DAY - timedelta(days=40), "full")
    _backup(tmp_path, DAY - timedelta(days=39, hours=23), "incremental", old_full)
    kept_full = _backup(tmp_path, DAY - timedelta(days=31), "full")
    kept_incremental = _backup(tmp_path, DAY - timedelta(days=29), "incremental", kept_full)
    wal = tmp_path / "wal"
    wal.mkdir()
    segments = [f"00000001000000000000{n:04X}.gz" for n in range(0x30)]
    for name in [*segments, "00000002.history.gz"]:
        (wal / name).write_bytes(b"x")
    settings = Settings(backup_dir=tmp_path, backup_keep_days=30)

    dropped = backup.prune_backups(settings=settings, now=DAY)
    assert len(dropped) == 2 and old_full in dropped
    assert [b.name for b in backup.list_backups(tmp_path)] == [kept_full, kept_incremental]
    # The log from the oldest kept backup's start on stays (segment 5: _backup puts its
    # start in the segment numbered by its day of the month), the older log is dropped.
    oldest = BaseBackup.read(tmp_path / "base" / kept_full)
    first_kept = backup._segment(1, oldest.start_lsn) + ".gz"
    left = sorted(p.name for p in wal.iterdir())
    assert "00000002.history.gz" in left
    assert first_kept == "000000010000000000000005.gz"
    assert min(n for n in left if "history" not in n) == first_kept
    assert len(left) == 1 + 0x30 - 5

    # Everything older than the days asked: the newest full backup and its followers stay.
    alone = backup.prune_backups(settings=settings, now=DAY + timedelta(days=400))
    assert alone == []
    assert [b.name for b in backup.list_backups(tmp_path)] == [kept_full, kept_incremental]


def test_segment_names_are_the_servers_own() -> None:
    url = make_url(__import__("os").environ["DATABASE_URL"])
    conninfo = f"dbname={url.database} user=postgres host={url.query['host']}"
    with psycopg.connect(conninfo) as conn:
        timeline = conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()
        assert timeline is not None
        for lsn in ("0/1000028", "1/A2000028", "2A/FF000000", "0/FFFFFF"):
            row = conn.execute("SELECT pg_walfile_name(%s::pg_lsn)", (lsn,)).fetchone()
            assert row is not None and backup._segment(timeline[0], lsn) == row[0], lsn


def test_the_archive_commands_write_once_and_read_back(tmp_path: Path) -> None:
    archive = WalArchive(tmp_path / "wal")
    (tmp_path / "wal").mkdir()
    segment = tmp_path / "000000010000000000000003"
    segment.write_bytes(b"\x00log" * 4096)

    def run(command: str, path: Path, name: str) -> int:
        filled = command.replace("%p", str(path)).replace("%f", name)
        return subprocess.run(["sh", "-c", filled], check=False).returncode

    assert run(archive.archive_command(), segment, segment.name) == 0
    stored = tmp_path / "wal" / f"{segment.name}.gz"
    first = stored.stat().st_mtime_ns
    # Asked again for the same segment (the server stopped before noting it): no rewrite.
    assert run(archive.archive_command(), segment, segment.name) == 0
    assert stored.stat().st_mtime_ns == first
    assert list((tmp_path / "wal").iterdir()) == [stored]  # no .part left

    back = tmp_path / "RECOVERYXLOG"
    assert run(WalArchive.restore_command(tmp_path / "wal"), back, segment.name) == 0
    assert back.read_bytes() == segment.read_bytes()
    # A segment not archived: the server is told so (and ends recovery there).
    assert run(WalArchive.restore_command(tmp_path / "wal"), back, "000000010000000000000009") != 0


def test_the_moments_an_operator_writes() -> None:
    assert backup.parse_moment("latest", "UTC") is None
    assert backup.parse_moment("2026-12-06T14:30:00+00:00", "Europe/Paris") == datetime(
        2026, 12, 6, 14, 30, tzinfo=UTC
    )
    assert backup.parse_moment("2026-12-06 14:30", "Europe/Paris") == datetime(
        2026, 12, 6, 14, 30, tzinfo=ZoneInfo("Europe/Paris")
    )
    with pytest.raises(BackupError, match="give a moment like"):
        backup.parse_moment("yesterday at noon", "UTC")


def test_a_backup_json_round_trips(tmp_path: Path) -> None:
    name = _backup(tmp_path, DAY, "full")
    read = BaseBackup.read(tmp_path / "base" / name)
    assert read.finished == DAY and json.loads(read.to_json())["kind"] == "full"
