"""Backups of the whole library, and a restore to any moment of the last 30 days.

What is kept, in the backup folder (`Settings.backups`; on another disk in production):
- `wal/`: PostgreSQL's write-ahead log, archived continuously by the server itself
  (`backend.embedded.WalArchive`): at most `wal_archive_timeout_seconds` of changes are
  lost with the data folder's disk.
- `base/<time>-full`, `base/<time>-incremental`: base backups made with the server's own
  tools (`pg_basebackup`, `--incremental` against the previous backup's manifest), each
  checked by `pg_verifybackup` before it counts, and described by its `backup.json`
  (written last: a folder without it is unfinished and ignored). A full one daily, an
  incremental one hourly (the worker's `take_backup`).
- `objects/` (or the bucket `backup_storage_url` names): a copy of every stored file, made
  every few minutes (`copy_objects`). Stored files never change (new keys each time), so
  the copy only adds; a file deleted from the library is moved to
  `deleted-copies/<day>/` in the copy and dropped once older than the backups kept, so a
  restore to a moment before the deletion finds it.

A restore (`restore`) never touches the running library: it builds a new data folder
(the base backups combined by `pg_combinebackup`, then the archived log replayed up to
the moment asked for), copies the files its database names from the copy, checks every
original's SHA-256 against the database, rebuilds the search index, and says how to
start it.
"""

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from backend.embedded import WalArchive, pg_binary
from backend.errors import LibraryError
from backend.settings import Settings, get_settings
from backend.storage.base import ObjectStore
from backend.storage.local import LocalObjectStore

log = logging.getLogger(__name__)
DELETED = "deleted-copies"
_NAME = re.compile(r"^\d{8}T\d{6}Z-(full|incremental)$")


class BackupError(LibraryError):
    """A backup or restore that cannot go on: the message says why and what to do."""


@dataclass(frozen=True)
class BaseBackup:
    name: str
    kind: Literal["full", "incremental"]
    parent: str | None
    started: datetime
    finished: datetime
    timeline: int
    start_lsn: str
    end_lsn: str
    size: int

    def folder(self, root: Path) -> Path:
        return root / "base" / self.name

    def to_json(self) -> str:
        data = asdict(self)
        data["started"] = self.started.isoformat()
        data["finished"] = self.finished.isoformat()
        return json.dumps(data, indent=2)

    @classmethod
    def read(cls, folder: Path) -> "BaseBackup":
        data = json.loads((folder / "backup.json").read_text())
        data["started"] = datetime.fromisoformat(data["started"])
        data["finished"] = datetime.fromisoformat(data["finished"])
        return cls(**data)


def wal_archive(settings: Settings | None = None) -> WalArchive:
    """How the embedded cluster archives its log, from the settings."""
    settings = settings or get_settings()
    folder = settings.backups / "wal" if settings.wal_archive else None
    return WalArchive(folder, settings.wal_archive_timeout_seconds)


def list_backups(root: Path) -> list[BaseBackup]:
    """The finished base backups in `root`, oldest first."""
    found = []
    for folder in sorted((root / "base").glob("*")) if (root / "base").is_dir() else []:
        if _NAME.match(folder.name) and (folder / "backup.json").is_file():
            found.append(BaseBackup.read(folder))
    return sorted(found, key=lambda b: b.finished)


def _conninfo(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string (and the environment holding its password) for the
    server DATABASE_URL names: the replication connection pg_basebackup opens."""
    parsed = make_url(url)
    parts = {
        "host": parsed.query.get("host") or parsed.host or "",
        "port": str(parsed.port or ""),
        "user": parsed.username or "",
        "dbname": parsed.database or "",
    }
    info = " ".join(f"{k}={_quote(v)}" for k, v in parts.items() if v and not isinstance(v, tuple))
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return info, env


def _summarizing(info: str, env: dict[str, str]) -> bool:
    import psycopg

    if "PGPASSWORD" in env:
        info += f" password={_quote(env['PGPASSWORD'])}"
    with psycopg.connect(info, autocommit=True) as conn:
        row = conn.execute("SHOW summarize_wal").fetchone()
    return bool(row and row[0] == "on")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_tool(args: list[str], *, env: dict[str, str] | None = None, what: str) -> str:
    """Run one of PostgreSQL's programs; its last words become the error when it fails."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BackupError(f"{what} failed: {' / '.join(detail) or f'exit {done.returncode}'}")
    return done.stdout


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def take_backup(
    kind: Literal["auto", "full", "incremental"] = "auto",
    *,
    settings: Settings | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BaseBackup:
    """One base backup of the database DATABASE_URL names (blocking: run it in a thread).

    "auto" makes a full backup when none was made in the last day, else an incremental
    one on the newest backup. An incremental backup needs the server to summarize its
    log (`summarize_wal`, set with archiving); without it, a full one is made."""
    settings = settings or get_settings()
    root = settings.backups
    (root / "base").mkdir(parents=True, exist_ok=True)
    with _only_one(root / "base" / ".lock"):
        return _take(kind, settings, root, now)


@contextlib.contextmanager
def _only_one(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BackupError("another base backup is being made; try again later") from exc
        yield


def _take(
    kind: Literal["auto", "full", "incremental"],
    settings: Settings,
    root: Path,
    now: Callable[[], datetime],
) -> BaseBackup:
    existing = list_backups(root)
    latest = existing[-1] if existing else None
    last_full = next((b for b in reversed(existing) if b.kind == "full"), None)
    started = now()
    automatic = kind == "auto"
    if kind == "auto":
        due = last_full is None or started - last_full.finished >= timedelta(days=1)
        kind = "full" if due else "incremental"
    if kind == "incremental" and latest is None:
        raise BackupError("an incremental backup needs a full one first: run backup --full")
    # A replication connection, to the server itself (never through PgBouncer).
    info, env = _conninfo(settings.database_direct_url or settings.database_url)
    if kind == "incremental" and not _summarizing(info, env):
        if not automatic:
            raise BackupError(
                "an incremental backup needs the server to summarize its log "
                "(summarize_wal = on, set with WAL archiving): run backup --full"
            )
        kind = "full"
    name = f"{_stamp(started)}-{kind}"
    part = root / "base" / f".{name}.part"
    shutil.rmtree(part, ignore_errors=True)
    args = [
        pg_binary("pg_basebackup"),
        "-d",
        info,
        "-D",
        str(part),
        "-Fp",
        "-X",
        "stream",
        "-c",
        "fast",
        "--label",
        name,
    ]
    if kind == "incremental":
        assert latest is not None
        args.append(f"--incremental={latest.folder(root) / 'backup_manifest'}")
    try:
        run_tool(args, env=env, what="pg_basebackup")
        run_tool([pg_binary("pg_verifybackup"), "-q", str(part)], what="pg_verifybackup")
        manifest = json.loads((part / "backup_manifest").read_text())
        ranges = manifest["WAL-Ranges"]
        backup = BaseBackup(
            name=name,
            kind=kind,
            parent=latest.name if kind == "incremental" and latest else None,
            started=started,
            finished=now(),
            timeline=int(ranges[-1]["Timeline"]),
            start_lsn=ranges[0]["Start-LSN"],
            end_lsn=ranges[-1]["End-LSN"],
            size=_size(part),
        )
        (part / "backup.json").write_text(backup.to_json())
        part.rename(root / "base" / name)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    log.info("base backup %s made (%d bytes)", name, backup.size)
    return backup


def prune_backups(*, settings: Settings | None = None, now: datetime | None = None) -> list[str]:
    """Drop base backups older than `backup_keep_days` (a backup stays while a kept one
    is built on it) and the archived log older than the oldest backup kept; returns the
    names dropped. The newest full backup and what follows it are always kept."""
    settings = settings or get_settings()
    root = settings.backups
    backups = list_backups(root)
    if not backups:
        return []
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.backup_keep_days)
    by_name = {b.name: b for b in backups}
    newest_full = (
        next(b for b in reversed(backups) if b.kind == "full")
        if any(b.kind == "full" for b in backups)
        else None
    )
    keep: set[str] = set()
    for backup in backups:
        recent = backup.finished >= cutoff
        if recent or (newest_full is not None and backup.finished >= newest_full.finished):
            current: BaseBackup | None = backup
            while current is not None and current.name not in keep:
                keep.add(current.name)
                current = by_name.get(current.parent) if current.parent else None
    dropped = [b.name for b in backups if b.name not in keep]
    for name in dropped:
        shutil.rmtree(root / "base" / name, ignore_errors=True)
    oldest = min((by_name[n] for n in keep), key=lambda b: b.finished)
    _drop_old_wal(root / "wal", oldest)
    for stale in (root / "base").glob(".*.part"):
        if time.time() - stale.stat().st_mtime > 86400:
            shutil.rmtree(stale, ignore_errors=True)
    return dropped


def _segment(timeline: int, lsn: str) -> str:
    """The name of the 16 MB log segment holding `lsn` (the default segment size)."""
    high, low = (int(x, 16) for x in lsn.split("/"))
    position = (high << 32) | low
    number = position // (16 * 1024 * 1024)
    return f"{timeline:08X}{number >> 8:08X}{number & 0xFF:08X}"


def _drop_old_wal(folder: Path, oldest: BaseBackup) -> None:
    if not folder.is_dir():
        return
    first = _segment(oldest.timeline, oldest.start_lsn)
    # pg_archivecleanup knows which names are log segments (history files stay).
    run_tool(
        [pg_binary("pg_archivecleanup"), "-x", ".gz", str(folder), first],
        what="pg_archivecleanup",
    )


# -- the copy of the stored files ----------------------------------------------------------


def backup_store(settings: Settings | None = None) -> ObjectStore:
    settings = settings or get_settings()
    if settings.backup_storage_url:
        from backend.storage.s3 import S3ObjectStore

        return S3ObjectStore(settings.backup_storage_url)
    return LocalObjectStore(settings.backups / "objects")


@dataclass
class CopyReport:
    copied: int = 0
    moved_aside: int = 0
    dropped: int = 0


async def copy_objects(
    source: ObjectStore,
    target: ObjectStore,
    *,
    keep_days: int,
    today: datetime | None = None,
) -> CopyReport:
    """Bring the copy up to date: every object of `source` not yet in `target` is copied
    (hard-linked when both are folders on one disk: the files never change); an object
    gone from `source` is moved under deleted-copies/<day>/; days older than `keep_days`
    are dropped."""
    report = CopyReport()
    day = (today or datetime.now(UTC)).strftime("%Y-%m-%d")
    have = await source.keys()
    copied = await target.keys()
    kept = {k for k in copied if not k.startswith(DELETED + "/")}
    for key in sorted(have - kept):
        try:
            await copy_one(source, target, key, key)
        except FileNotFoundError:
            continue  # deleted since the listing
        report.copied += 1
    for key in sorted(kept - have):
        aside = f"{DELETED}/{day}/{key}"
        if aside not in copied:
            await copy_one(target, target, key, aside)
        await target.delete(key)
        report.moved_aside += 1
    cutoff = ((today or datetime.now(UTC)) - timedelta(days=keep_days)).strftime("%Y-%m-%d")
    for key in copied:
        if key.startswith(DELETED + "/") and key.split("/")[1] < cutoff:
            await target.delete(key)
            report.dropped += 1
    return report


async def copy_one(source: ObjectStore, target: ObjectStore, key: str, as_key: str) -> None:
    if isinstance(source, LocalObjectStore) and isinstance(target, LocalObjectStore):
        src, dst = source.local_path(key), target.local_path(as_key)
        with contextlib.suppress(OSError):
            dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.link(src, dst)
            return
        if dst.exists():
            return
    writer = target.writer(as_key)
    try:
        async for chunk in source.read(key):
            await writer.write(chunk)
    except BaseException:
        await writer.abort()
        raise
    await writer.commit()


async def find_copy(target: ObjectStore, key: str, names: set[str]) -> str | None:
    """The key under which the copy holds `key`: itself, or its newest set-aside copy."""
    if key in names:
        return key
    aside = sorted(
        (n for n in names if n.startswith(DELETED + "/") and n.split("/", 2)[2] == key),
        reverse=True,
    )
    return aside[0] if aside else None


# -- restore ------------------------------------------------------------------------------


def parse_moment(text: str, timezone: str) -> datetime | None:
    """`latest` (None), or an ISO 8601 moment; one without an offset is in the library's
    time zone."""
    if text.strip().lower() in ("", "latest", "now"):
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise BackupError(
            f"--to {text!r}: give a moment like 2026-12-06T14:30:00 (library time) or "
            "2026-12-06T14:30:00+00:00, or 'latest'"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def chain_for(backups: list[BaseBackup], moment: datetime | None) -> list[BaseBackup]:
    """The backups to combine for a restore to `moment` (None: the newest): the newest
    finished before it, and the ones it is built on, full first."""
    usable = [b for b in backups if moment is None or b.finished <= moment]
    if not usable:
        first = backups[0].finished.isoformat() if backups else None
        raise BackupError(
            "no base backup was finished before that moment"
            + (f" (the oldest kept ended at {first})" if first else " (there are none yet)")
        )
    by_name = {b.name: b for b in backups}
    chain = [usable[-1]]
    while chain[0].parent:
        parent = by_name.get(chain[0].parent)
        if parent is None:
            raise BackupError(f"backup {chain[0].name} is built on {chain[0].parent}, missing")
        chain.insert(0, parent)
    return chain
