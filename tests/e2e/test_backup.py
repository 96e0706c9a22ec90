"""The backup drill: the one-command library writes, is backed up, writes more, is
destroyed, and is restored to a moment in between; the restored library serves exactly
what it held at that moment.

Everything runs as an operator runs it: the launcher of ./run.sh with WAL archiving on,
documents sent through the REST API and processed by its worker, `backup` and `restore`
from the command line, and the restored folder started by the launcher again.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.conftest import ROOT, Launched, launch

pytestmark = pytest.mark.e2e
ADMIN = ("drill@example.org", "amber falcon meadow tide")
DEADLINE = 120.0
FILES = {
    "first": b"The first record of the drill speaks of quenbrimmel lanterns.\n" * 40,
    "second": b"The second record of the drill speaks of vostrandel harbours.\n" * 40,
    "third": b"The third record, written after the moment, speaks of pellurine.\n" * 40,
}


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside pytest's own (run as root, the embedded PostgreSQL's user must
    pass through the folders above its cluster and its archive)."""
    folder = Path(tempfile.mkdtemp(prefix="library-drill-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


METRICS_TOKEN = "drill-metrics-token"


def _start(data: Path, **env: str) -> Launched:
    launched = launch(
        data,
        DATABASE_URL="",
        REDIS_URL="",
        WAL_ARCHIVE="true",
        WAL_ARCHIVE_TIMEOUT_SECONDS="10",
        METRICS_TOKEN=METRICS_TOKEN,
        **env,
    )
    launched.wait_ready()
    return launched


def _replica_reads(launched: Launched) -> float:
    """How many reads the library's web processes sent to the replica so far."""
    answer = httpx.get(
        f"{launched.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert answer.status_code == 200, answer.text
    for line in answer.text.splitlines():
        if line.startswith('library_database_reads_total{server="replica"}'):
            return float(line.split()[-1])
    return 0.0


@contextmanager
def _client(launched: Launched) -> Iterator[httpx.Client]:
    """The REST API, logged in as the admin."""
    with httpx.Client(base_url=launched.url, timeout=60) as http:
        token = http.post("/api/v1/auth/token", json={"email": ADMIN[0], "password": ADMIN[1]})
        assert token.status_code == 200, token.text
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http


def _upload(http: httpx.Client, shelf: int, name: str) -> int:
    sent = http.post(
        f"/api/v1/collections/{shelf}/documents",
        params={"filename": f"{name}.txt", "title": f"The {name} record"},
        content=FILES[name],
        headers={"Content-Type": "text/plain"},
    )
    assert sent.status_code == 202, sent.text
    document_id = int(sent.json()["document_id"])
    deadline = time.monotonic() + DEADLINE
    while True:
        record = http.get(f"/api/v1/documents/{document_id}").json()
        status = record["versions"][0]["status"]
        if status == "ready":
            return document_id
        assert status in ("pending", "processing"), record
        assert time.monotonic() < deadline, f"{name} never became ready"
        time.sleep(0.5)


def _switch_and_archive(data: Path) -> None:
    """End the current log segment and wait until the server has archived it (what
    archive_timeout does by itself within a minute)."""
    conninfo = f"dbname=library user=postgres host={data / 'pg'}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        deadline = time.monotonic() + DEADLINE
        while True:
            done = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
            if done is not None and done[0] is not None and done[0] >= row[0]:
                return
            assert time.monotonic() < deadline, "the log segment was never archived"
            time.sleep(0.3)


def test_a_destroyed_library_is_restored_to_a_moment_between_its_backups(outside: Path) -> None:
    data = outside / "data"
    data.mkdir()
    # With a streaming replica beside the primary, as EMBEDDED_REPLICA=true ./run.sh runs.
    library = _start(data, EMBEDDED_REPLICA="true")
    assert "Replica     streaming from it" in library.output()
    env = {**library.env, "DATA_DIR": str(data)}
    try:
        made = _cli(env, "create-admin", ADMIN[0], "--password-stdin", stdin=ADMIN[1] + "\n")
        assert made.returncode == 0, made.stderr
        with _client(library) as http:
            shelf = http.post("/api/v1/collections", json={"name": "Drill shelf"}).json()["id"]
            first = _upload(http, shelf, "first")
            # Reads of the REST API and of the pages go to the replica (it answers, and
            # has this token's own changes by now).
            before = _replica_reads(library)
            assert http.get("/api/v1/search", params={"q": "quenbrimmel"}).status_code == 200
            assert _replica_reads(library) > before
            full = _cli(env, "backup", "--full")
            assert full.returncode == 0, full.stderr
            assert "(full," in full.stdout, full.stdout
            copy = outside / "data-backups" / "objects"
            assert len(list((copy / "originals").iterdir())) == 1

            second = _upload(http, shelf, "second")
            incremental = _cli(env, "backup")
            assert incremental.returncode == 0, incremental.stderr
            assert "(incremental," in incremental.stdout, incremental.stdout

            time.sleep(1.5)
            moment = datetime.now(UTC)
            time.sleep(1.5)

            third = _upload(http, shelf, "third")
            assert http.delete(f"/api/v1/documents/{first}").status_code == 204
            originals = data / "objects" / "originals"
            deadline = time.monotonic() + DEADLINE
            while len(list(originals.iterdir())) != 2:  # the first one's file deleted
                assert time.monotonic() < deadline, "the deleted document's file stayed"
                time.sleep(0.5)
            later = _cli(env, "backup")
            assert later.returncode == 0, later.stderr
            assert len(list((copy / "originals").iterdir())) == 2  # the second and third
            assert len(list((copy / "deleted-copies").glob("*/originals/*"))) == 1  # the first
        _switch_and_archive(data)
        assert (data / "pg-replica" / "standby.signal").exists()
        listed = _cli(env, "backups")
        kinds = [line.split()[1] for line in listed.stdout.splitlines() if "Z-" in line[:17]]
        assert kinds == ["full", "incremental", "incremental"], listed.stdout
    finally:
        library.stop()

    # The disk is lost: the data folder is gone, the backup folder beside it is left.
    shutil.rmtree(data)
    restored_folder = outside / "restored"
    restored = _cli(
        {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "restore",
        "--to",
        moment.isoformat(),
        "--into",
        str(restored_folder),
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    said = restored.stdout
    print("\n" + said)
    assert "documents 2" in said and "2 originals' SHA-256 checked" in said, said
    assert "Search index rebuilt: 2 documents." in said, said

    # Restoring again into the folder now holding a library is refused; nothing changes.
    again = _cli(env, "restore", "--into", str(restored_folder))
    assert again.returncode == 1 and "not empty" in again.stderr

    back = _start(restored_folder)
    try:
        with _client(back) as http:
            for document_id, name in ((first, "first"), (second, "second")):
                record = http.get(f"/api/v1/documents/{document_id}")
                assert record.status_code == 200, record.text
                assert record.json()["title"] == f"The {name} record"
                got = http.get(f"/api/v1/documents/{document_id}/download", follow_redirects=True)
                assert got.status_code == 200
                assert hashlib.sha256(got.content).digest() == hashlib.sha256(FILES[name]).digest()
            # Made after the moment: not there.
            assert http.get(f"/api/v1/documents/{third}").status_code == 404
            for word, document_id in (("quenbrimmel", first), ("vostrandel", second)):
                found = http.get("/api/v1/search", params={"q": word}).json()
                assert [h["document_id"] for h in found["hits"]] == [document_id], found
            assert http.get("/api/v1/search", params={"q": "pellurine"}).json()["hits"] == []
    finally:
        back.stop()
    assert os.path.isdir(outside / "data-backups" / "wal")
