"""Recovery point and recovery time of the backups, at a million documents.

    .venv/bin/python bench/restore/run.py [--keep /tmp/apilib] [--limit N] [--write-seconds 150]

1. The library of bench/api (the ~960,000 real records of ../shared/corpus/bulk, indexed;
   with --keep, the folder bench/api and bench/typing keep, loaded once).
2. Its PostgreSQL restarted with WAL archiving on (the launcher's default settings:
   `archive_timeout` 60 s) into a new backup folder; a full base backup, timed.
3. A writer commits a row every 100 ms (a person's edits, at a steady pace) into a table
   of its own; after a third of --write-seconds an incremental base backup is made, timed.
4. At --write-seconds the PostgreSQL server is killed with SIGKILL and, from then on, is
   treated as lost with its disk: only the backup folder is used.
5. `restore` to the latest moment into a new data folder, as `./run.sh restore` runs it:
   combine, replay, files, checks, search index rebuilt. RTO = its whole time (the
   library can be started from the folder when it ends).
6. RPO = the time of the last row the writer saw committed before the kill, less the time
   of the last row in the restored database.
7. The kept library's PostgreSQL is started again as it was (archiving off), the restored
   folder and the backups removed.

The bench records carry no files (bench/api loads records straight into PostgreSQL), so
the file copy and the SHA-256 checks have nothing to do here: tests/e2e/test_backup.py
covers them. Writes bench/restore/results.json and results.md.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.api.run import load  # noqa: E402
from bench.common import machine, throwaway_library  # noqa: E402

HERE = Path(__file__).resolve().parent


class Writer(threading.Thread):
    """Commits a row every 100 ms until stopped or the server is gone; keeps the client's
    time of the last commit it saw succeed."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.last_ack = 0.0
        self.rows = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                while not self.stopping.is_set():
                    conn.execute("INSERT INTO bench_rpo (at) VALUES (clock_timestamp())")
                    self.last_ack = time.time()
                    self.rows += 1
                    time.sleep(0.1)
        except psycopg.Error:
            return  # the server was killed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--write-seconds", type=int, default=150)
    args = parser.parse_args()
    os.environ["WAL_ARCHIVE"] = "true"

    with throwaway_library("bench-restore-", keep=args.keep) as folder:
        count, _words, _load_s, _index_s = asyncio.run(load(args.limit, folder))
        print(f"{count} documents in the library", flush=True)
        work = Path(tempfile.mkdtemp(prefix="bench-restore-work-"))
        work.chmod(0o755)
        os.environ["BACKUP_DIR"] = str(work / "backups")
        try:
            result = measure(folder, work, count, args.write_seconds)
        finally:
            restart_plain(folder)
            shutil.rmtree(work, ignore_errors=True)
    result["command"] = "python bench/restore/run.py " + " ".join(sys.argv[1:])
    result["machine"] = machine()
    (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(result)
    print(json.dumps(result, indent=2))


def measure(folder: Path, work: Path, documents: int, write_seconds: int) -> dict[str, Any]:
    import psycopg

    from backend.embedded import EmbeddedPostgres
    from backend.operations import backup
    from backend.operations.restore import restore
    from backend.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    pg = EmbeddedPostgres(folder / "pg", database="bench", archive=backup.wal_archive(settings))
    # The library's server, started by throwaway_library without archiving: restarted
    # with it (what the launcher does at its first start with these settings).
    _stop(folder / "pg")
    pg.start()
    conninfo = f"dbname=bench user=postgres host={folder / 'pg'}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_rpo")
        conn.execute("CREATE TABLE bench_rpo (n bigserial PRIMARY KEY, at timestamptz)")
        size = conn.execute("SELECT pg_database_size('bench')").fetchone()

    started = time.monotonic()
    full = backup.take_backup("full", settings=settings)
    full_s = time.monotonic() - started
    print(f"full base backup: {full_s:.1f} s, {full.size / 2**30:.2f} GB", flush=True)

    writer = Writer(conninfo)
    writer.start()
    time.sleep(write_seconds / 3)
    started = time.monotonic()
    incremental = backup.take_backup("incremental", settings=settings)
    incremental_s = time.monotonic() - started
    print(f"incremental base backup: {incremental_s:.1f} s", flush=True)
    time.sleep(max(0.0, write_seconds * 2 / 3 - incremental_s))

    pid = int((folder / "pg" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    writer.join(10)
    print(f"server killed; {writer.rows} rows written", flush=True)

    into = work / "restored"
    started = time.monotonic()
    report = restore(None, into, settings=settings, say=lambda line: print(line, flush=True))
    rto_s = time.monotonic() - started

    restored = EmbeddedPostgres(into / "pg", database="bench")
    restored.start()
    try:
        with psycopg.connect(f"dbname=bench user=postgres host={into / 'pg'}") as conn:
            row = conn.execute("SELECT extract(epoch FROM max(at)), count(*) FROM bench_rpo")
            last, kept_rows = row.fetchone() or (0, 0)
    finally:
        restored.stop()
    rpo_s = writer.last_ack - float(last or 0)
    return {
        "documents": documents,
        "database_bytes": int(size[0]) if size else 0,
        "rto_s": round(rto_s, 1),
        "rpo_s": round(rpo_s, 1),
        "rto_steps_s": {k: round(v, 1) for k, v in report.seconds.items()},
        "indexed": report.indexed,
        "full_backup_s": round(full_s, 1),
        "full_backup_bytes": full.size,
        "incremental_backup_s": round(incremental_s, 1),
        "incremental_backup_bytes": incremental.size,
        "archive_timeout_s": settings.wal_archive_timeout_seconds,
        "write_seconds": write_seconds,
        "rows_written": writer.rows,
        "rows_restored": int(kept_rows),
        "killed_after_last_commit_s": round(killed_at - writer.last_ack, 2),
        "restored_rows": report.rows.get("documents", 0),
        # bench/api loads records straight into PostgreSQL: their versions name files
        # that were never stored, and the restore's check says so (tests/e2e/test_backup.py
        # restores real files and checks their SHA-256).
        "files_named_but_never_stored": len(report.missing),
    }


def _stop(pgdata: Path) -> None:
    import subprocess

    from backend.embedded import pg_binary, pg_system_user

    subprocess.run(
        [pg_binary("pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
        check=False,
        capture_output=True,
        user=pg_system_user(),
    )


def restart_plain(folder: Path) -> None:
    """The kept library's server as it was: archiving off (a crash recovery first)."""
    from backend.embedded import EmbeddedPostgres, WalArchive

    _stop(folder / "pg")
    pg = EmbeddedPostgres(folder / "pg", database="bench", archive=WalArchive(None))
    pg.start()


def write_markdown(r: dict[str, Any]) -> None:
    steps = ", ".join(f"{k} {v} s" for k, v in r["rto_steps_s"].items())
    incremental_mb = r["incremental_backup_bytes"] / 2**20
    text = f"""# Backup and restore at {r["documents"]:,} documents

Command: `{r["command"]}` on {r["machine"]}.

| | |
|---|---|
| Database | {r["database_bytes"] / 2**30:.2f} GB |
| Full base backup | {r["full_backup_s"]} s ({r["full_backup_bytes"] / 2**30:.2f} GB) |
| Incremental base backup | {r["incremental_backup_s"]} s ({incremental_mb:.0f} MB) |
| **RTO** (restore to the latest moment, as `./run.sh restore`) | **{r["rto_s"]} s** |
| RTO by step | {steps} |
| **RPO** (last commit seen before the kill − last row restored) | **{r["rpo_s"]} s** |
| Archive timeout | {r["archive_timeout_s"]} s |
| Rows written / restored | {r["rows_written"]} / {r["rows_restored"]} |

The server was killed with SIGKILL while a writer committed a row every 100 ms, and only
the backup folder was used from then on. The records of bench/api are loaded straight
into PostgreSQL without files: the restore's check finds every file its database names
missing, as it should (the drill, tests/e2e/test_backup.py, restores real files and
checks their SHA-256); the file copy's time is not in this RTO. RPO is bounded by the
archive timeout: the log segment being written when the disk is lost is what is lost, at most
{r["archive_timeout_s"]} s of changes; one run measures one point in that window.
"""
    (HERE / "results.md").write_text(text)


if __name__ == "__main__":
    main()
