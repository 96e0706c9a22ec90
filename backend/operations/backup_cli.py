"""`./run.sh backup`, `./run.sh backups` and `./run.sh restore --to TIME`: the operator's
words around backend.operations.backup and .restore."""

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from backend.operations.backup import (
    BackupError,
    backup_store,
    copy_objects,
    list_backups,
    parse_moment,
    prune_backups,
    take_backup,
)
from backend.settings import get_settings
from backend.storage.service import get_store, human_size


def backup(kind: Literal["auto", "full", "incremental"]) -> int:
    settings = get_settings()
    started = time.monotonic()
    copied = asyncio.run(
        copy_objects(get_store(), backup_store(settings), keep_days=settings.backup_keep_days)
    )
    print(
        f"Stored files: {copied.copied} copied, {copied.moved_aside} set aside as deleted, "
        f"{copied.dropped} dropped (older than {settings.backup_keep_days} days)."
    )
    made = take_backup(kind, settings=settings)
    print(
        f"Base backup {made.name} ({made.kind}, {human_size(made.size)}) in "
        f"{settings.backups / 'base'}, checked by pg_verifybackup."
    )
    dropped = prune_backups(settings=settings)
    if dropped:
        print(f"Dropped {len(dropped)} backups older than {settings.backup_keep_days} days.")
    print(f"Done in {time.monotonic() - started:.1f} s.")
    return 0


def show_backups() -> int:
    settings = get_settings()
    root = settings.backups
    backups = list_backups(root)
    if not backups:
        print(f"No base backups in {root}. Make one with ./run.sh backup.")
        return 0
    for b in backups:
        built = f" on {b.parent}" if b.parent else ""
        print(f"{b.name}  {b.kind}{built}  {human_size(b.size)}  ended {b.finished.isoformat()}")
    wal = sorted((root / "wal").glob("*.gz")) if (root / "wal").is_dir() else []
    segments = [w for w in wal if len(w.name) == len("000000010000000000000001.gz")]
    if segments:
        newest = datetime.fromtimestamp(segments[-1].stat().st_mtime, UTC)
        print(
            f"Archived log: {len(segments)} segments, the newest archived at "
            f"{newest.isoformat(timespec='seconds')}."
        )
    print(
        f"A restore can go to any moment from {backups[0].finished.isoformat()} to the "
        "newest archived change."
    )
    return 0


def restore(to: str, into: str, storage_url: str) -> int:
    from backend.operations.restore import restore as run_restore

    settings = get_settings()
    moment = parse_moment(to, settings.library_timezone)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = (
        Path(into).resolve()
        if into
        else settings.data_dir.with_name(f"{settings.data_dir.name}-restored-{stamp}")
    )
    report = run_restore(moment, folder, settings=settings, storage_url=storage_url)
    print()
    print(f"Restored into {report.folder} from {', '.join(report.backups)}.")
    if report.replayed_to:
        print(f"The last change replayed was made at {report.replayed_to}.")
    print("Rows: " + ", ".join(f"{table} {count}" for table, count in report.rows.items()))
    print(
        f"Files: {report.files} copied; {report.originals_checked} originals' SHA-256 "
        "checked against the database."
    )
    if report.indexed is not None:
        print(f"Search index rebuilt: {report.indexed} documents.")
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
    print(f"Took: {timing}.")
    if not report.sound:
        for key in report.missing:
            print(f"MISSING: {key}")
        for key in report.damaged:
            print(f"DAMAGED (SHA-256 differs): {key}")
        raise BackupError(
            f"{len(report.missing)} files missing and {len(report.damaged)} damaged in the "
            "restored library (listed above)"
        )
    print(f"Start it with:  DATA_DIR={report.folder} ./run.sh")
    return 0
