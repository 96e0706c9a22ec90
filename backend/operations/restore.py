"""A restore of the library, as it was at a given moment, into a new data folder.

The steps (each says what it does, and the run stops with a clear reason at the first
that fails; the running library and the backups are only read):
1. the base backups up to that moment combined into a new cluster (`pg_combinebackup`);
2. the cluster started in archive recovery, replaying the archived log up to the moment
   (`recovery_target_time`), then promoted;
3. the stored files copied from the backup copy (hard links when on one disk), those set
   aside after a deletion included;
4. every object key the database names checked present, and every original's SHA-256
   checked against the database;
5. the search index rebuilt from the restored database (in the new data folder);
6. the cluster stopped; the folder is ready for `DATA_DIR=<folder> ./run.sh`.
"""

import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from backend.embedded import (
    PgCluster,
    WalArchive,
    drop_copied_leftovers,
    give_to_server,
    pg_binary,
    pg_system_user,
)
from backend.files import private_dirs
from backend.operations.backup import (
    DELETED,
    BackupError,
    backup_store,
    chain_for,
    copy_one,
    list_backups,
    run_tool,
)
from backend.settings import PROJECT_ROOT, Settings, get_settings
from backend.storage.base import ObjectStore
from backend.storage.local import LocalObjectStore


@dataclass
class RestoreReport:
    folder: Path
    moment: datetime | None
    backups: list[str]
    replayed_to: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    originals_checked: int = 0
    missing: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    indexed: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def sound(self) -> bool:
        return not self.missing and not self.damaged


def restore(
    moment: datetime | None,
    into: Path,
    *,
    settings: Settings | None = None,
    storage_url: str = "",
    say: Callable[[str], None] = print,
) -> RestoreReport:
    """Restore the library as it was at `moment` (None: as late as the archive goes) into
    the new folder `into` (blocking)."""
    settings = settings or get_settings()
    root = settings.backups
    if into.exists() and any(into.iterdir()):
        raise BackupError(f"{into} is not empty: a restore goes into a new folder")
    if into.resolve() == settings.data_dir.resolve():
        raise BackupError("a restore never writes over the library's own data folder")
    chain = chain_for(list_backups(root), moment)
    report = RestoreReport(folder=into, moment=moment, backups=[b.name for b in chain])
    database = (
        make_url(settings.database_url).database if settings.database_url else None
    ) or "library"
    private_dirs(into)
    pgdata = into / "pg"

    started = time.monotonic()
    say(f"Combining {len(chain)} base backup(s): {', '.join(report.backups)}")
    _combine(root, [b.name for b in chain], pgdata)
    _recovery_settings(pgdata, root / "wal", moment)
    report.seconds["combine"] = time.monotonic() - started

    cluster = PgCluster(pgdata, database)
    step = time.monotonic()
    try:
        say(
            "Replaying the archived log "
            + (f"up to {moment.isoformat()}" if moment else "to its end")
        )
        cluster.start()
        report.replayed_to = _wait_promoted(cluster, say)
        report.seconds["replay"] = time.monotonic() - step
        with psycopg.connect(cluster.conninfo, autocommit=True) as conn:
            for name in ("restore_command", "recovery_target_time", "recovery_target_action"):
                conn.execute(f"ALTER SYSTEM RESET {name}")
            report.rows = _row_counts(conn)
            keys = _named_keys(conn)
            originals = conn.execute("SELECT file_key, sha256 FROM document_versions").fetchall()

        step = time.monotonic()
        target: ObjectStore
        if storage_url:
            from backend.storage.s3 import S3ObjectStore

            target = S3ObjectStore(storage_url)
        else:
            target = LocalObjectStore(into / "objects")
        say("Copying the stored files from the backup copy")
        report.files = asyncio.run(_copy_back(backup_store(settings), target))
        report.seconds["files"] = time.monotonic() - step

        step = time.monotonic()
        say(f"Checking {len(keys)} named files and {len(originals)} originals' SHA-256")
        report.missing, report.damaged = asyncio.run(_check(target, keys, originals))
        report.originals_checked = len(originals)
        report.seconds["check"] = time.monotonic() - step

        step = time.monotonic()
        if settings.meili_url:
            say(
                "Search index: Meilisearch is shared; rebuild it with ./run.sh reindex once "
                "the restored library replaces the old one"
            )
        else:
            say("Rebuilding the search index")
            report.indexed = _reindex(into, cluster.url, storage_url)
        report.seconds["index"] = time.monotonic() - step
    except BaseException:
        if cluster.alive():
            cluster.stop()
        raise
    cluster.stop()
    report.seconds["total"] = time.monotonic() - started
    return report


def _combine(root: Path, names: list[str], pgdata: Path) -> None:
    folders = [str(root / "base" / name) for name in names]
    try:
        run_tool(
            [pg_binary("pg_combinebackup"), "-o", str(pgdata), *folders], what="pg_combinebackup"
        )
    except BackupError:
        shutil.rmtree(pgdata, ignore_errors=True)
        raise
    (pgdata / "backup.json").unlink(missing_ok=True)
    drop_copied_leftovers(pgdata)
    give_to_server(pgdata)


def _recovery_settings(pgdata: Path, wal: Path, moment: datetime | None) -> None:
    lines = [
        f"restore_command = {_literal(WalArchive.restore_command(wal))}",
        "recovery_target_action = 'promote'",
        # The restored library archives into its own backup folder once started by
        # the launcher; until then it writes nowhere (never into the old archive).
        "archive_mode = 'off'",
    ]
    if moment is not None:
        lines.append(f"recovery_target_time = {_literal(moment.isoformat())}")
    with open(pgdata / "postgresql.auto.conf", "a") as conf:
        conf.write("\n# restore (backend.operations.restore)\n" + "\n".join(lines) + "\n")
    (pgdata / "recovery.signal").touch()
    user = pg_system_user()
    if user is not None and os.geteuid() == 0:
        import pwd

        for name in ("postgresql.auto.conf", "recovery.signal"):
            os.chown(pgdata / name, pwd.getpwnam(user).pw_uid, -1)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_TARGET_MISSED = "recovery ended before configured recovery target was reached"
_LAST = re.compile(r"last completed transaction was at log time (.+)$", re.M)


def _wait_promoted(cluster: PgCluster, say: Callable[[str], None]) -> str:
    """Wait until recovery has ended and the cluster accepts writes; returns the time of
    the last transaction replayed (from the server's log)."""
    told = time.monotonic()
    while True:
        if not cluster.alive():
            time.sleep(0.5)
            if cluster.alive():
                continue
            tail = cluster.log_tail()
            if _TARGET_MISSED in tail:
                raise BackupError(
                    "the archived log ends before that moment: nothing after it was "
                    "archived. Restore to an earlier moment, or to 'latest'."
                )
            raise BackupError(f"the restored database did not start:\n{tail}")
        try:
            with psycopg.connect(cluster.conninfo, autocommit=True, connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and not row[0]:
                    found = _LAST.findall(cluster.log.read_text(errors="replace"))
                    return found[-1].strip() if found else ""
        except psycopg.OperationalError:
            pass  # still starting, or recovering before consistency
        if time.monotonic() - told > 15:
            say("  ...still replaying")
            told = time.monotonic()
        time.sleep(0.3)


def _row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows in every table of the restored database (the non-empty ones)."""
    tables = conn.execute(  # a partitioned table counts its partitions' rows once
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "AND c.relname <> 'alembic_version' ORDER BY c.relname"
    ).fetchall()
    counts = {}
    for (table,) in tables:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        if row and row[0]:
            counts[table] = int(row[0])
    return counts


def _named_keys(conn: psycopg.Connection) -> set[str]:
    """Every object key the database names: the values of every text column called
    *_key (sort keys aside), in any table; a new kind of stored file is covered without
    this list knowing it."""
    columns = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name LIKE '%\\_key' "
        "AND column_name <> 'sort_key' AND data_type IN ('character varying', 'text')"
    ).fetchall()
    keys: set[str] = set()
    for table, column in columns:
        rows = conn.execute(
            f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" <> \'\''
        ).fetchall()
        keys.update(r[0] for r in rows if "/" in r[0])
    return keys


async def _copy_back(source: ObjectStore, target: ObjectStore) -> int:
    """Every file of the backup copy into the restored store; a file set aside after its
    deletion goes back under its own key (the newest copy when set aside twice)."""
    names = await source.keys()
    plan: dict[str, str] = {}
    for name in sorted(names):  # deleted-copies/<day>/... in day order: the newest wins
        if name.startswith(DELETED + "/"):
            plan[name.split("/", 2)[2]] = name
    for name in names:
        if not name.startswith(DELETED + "/"):
            plan[name] = name
    done = 0
    for key, held in plan.items():
        await copy_one(source, target, held, key)
        done += 1
    return done


async def _check(
    store: ObjectStore, keys: set[str], originals: list[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    present = await store.keys()
    missing = sorted(k for k in keys | {k for k, _ in originals} if k not in present)
    damaged = []
    for key, sha256 in originals:
        if key not in present:
            continue
        digest = hashlib.sha256()
        async for chunk in store.read(key):
            digest.update(chunk)
        if digest.hexdigest() != sha256:
            damaged.append(key)
    return missing, damaged


_INDEXED = re.compile(r"Indexed (\d+) documents")


def _reindex(into: Path, database_url: str, storage_url: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATA_DIR=str(into), DATABASE_URL=database_url, STORAGE_URL=storage_url)
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", "reindex"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = _INDEXED.search(done.stdout)
    if done.returncode != 0 or not found:
        raise BackupError(f"rebuilding the search index failed: {done.stderr.strip()[-500:]}")
    return int(found.group(1))
