"""What the one-command library does when a part of it dies.

Each part is killed with SIGKILL, as a crash would kill it, on the embedded default that
./run.sh starts. The launcher starts it again; nothing is lost or duplicated; the time
until the library serves again is printed (it goes into the issue notes, not into an
assertion: the tests only wait up to a deadline).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import ROOT, Launched, PageErrors, free_port, goto, launch

pytestmark = pytest.mark.e2e
ADMIN = ("keeper@example.org", "violet heron lantern quartz")
DEADLINE = 120.0


def _health(launched: Launched) -> int:
    try:
        with urllib.request.urlopen(f"{launched.url}/api/v1/health", timeout=3) as response:
            return int(response.status)
    except OSError:
        return 0


def _serves_again(launched: Launched, since: float, what: str) -> float:
    """Seconds from `since` until the library answers its health check again."""
    while time.monotonic() - since < DEADLINE:
        if _health(launched) == 200:
            took = time.monotonic() - since
            print(f"\n{what}: the library served again after {took:.1f} s")
            return took
        time.sleep(0.2)
    pytest.fail(f"{what}: the library did not serve again within {DEADLINE:.0f} s")


def _said(launched: Launched, words: str, after: int) -> None:
    """Wait until the launcher's output, past position `after`, says `words`."""
    deadline = time.monotonic() + DEADLINE
    while words not in launched.output()[after:]:
        if time.monotonic() > deadline:
            pytest.fail(f"the launcher never said {words!r}:\n{launched.output()[-2000:]}")
        time.sleep(0.2)


def _group_of(data: Path, marker: str) -> int:
    """The process group of this library's child (its DATA_DIR is `data`) whose command
    line has `marker`."""
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker not in cmdline or proc.info["pid"] != os.getpgid(proc.info["pid"]):
            continue
        try:
            if proc.environ().get("DATA_DIR") == str(data):
                return int(proc.info["pid"])
        except psutil.Error:
            continue
    pytest.fail(f"no process of the library in {data} runs {marker}")


@pytest.fixture(scope="module")
def library() -> Iterator[Launched]:
    """The embedded default, as ./run.sh starts it, in a folder outside pytest's own (run
    as root, the embedded PostgreSQL's user must pass through the folders above it)."""
    outside = Path(tempfile.mkdtemp(prefix="library-faults-"))
    outside.chmod(0o755)
    data = outside / "data"
    data.mkdir()
    # Each ingest waits a few seconds before extracting (a test-only setting): a job to kill.
    # With a streaming replica beside the embedded PostgreSQL: a part to kill too.
    launched = launch(
        data,
        DATABASE_URL="",
        REDIS_URL="",
        INGEST_TEST_DELAY_SECONDS="4",
        EMBEDDED_REPLICA="true",
    )
    try:
        launched.wait_ready()
        created = subprocess.run(
            [sys.executable, "-m", "backend.cli", "create-admin", ADMIN[0], "--password-stdin"],
            input=ADMIN[1] + "\n",
            text=True,
            capture_output=True,
            cwd=ROOT,
            env={**launched.env, "DATA_DIR": str(data)},
            timeout=120,
        )
        assert created.returncode == 0, created.stderr
        yield launched
    finally:
        launched.stop()
        shutil.rmtree(outside, ignore_errors=True)
    assert launched.proc.returncode == 0, launched.output()[-3000:]


def _data(launched: Launched) -> Path:
    return Path(launched.env["DATA_DIR"])


def test_a_second_launcher_leaves_the_running_one_alone(library: Launched) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "backend.launcher"],
        cwd=ROOT,
        env={**library.env, "PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    said = second.stdout + second.stderr
    assert "A library is already running from" in said and library.url in said
    # It started nothing and stopped nothing: the first one serves on, its servers alive.
    assert _health(library) == 200
    assert "Stopping" not in said
    assert redis.Redis(unix_socket_path=str(_data(library) / "redis" / "redis.sock")).ping()


async def _logged_in_tab(library: Launched, browser: Browser) -> Page:
    page = await (await browser.new_context()).new_page()
    await goto(page, f"{library.url}/login")
    await page.fill("input[name=email]", ADMIN[0])
    await page.fill("input[name=password]", ADMIN[1])
    await page.click("#login-submit")
    await page.wait_for_url(f"{library.url}/")
    await expect(page.locator("#logout")).to_be_visible()
    return page


async def test_a_killed_web_app_is_started_again_and_an_open_tab_carries_on(
    library: Launched, browser: Browser
) -> None:
    page = await _logged_in_tab(library, browser)
    group = _group_of(_data(library), "reflex run")
    before = len(library.output())
    os.killpg(group, signal.SIGKILL)
    since = time.monotonic()
    _said(library, "The web app stopped (killed by SIGKILL)", before)
    _serves_again(library, since, "web app killed")
    # The tab was not reloaded: it reconnects by itself and is still logged in.
    await page.get_by_role("link", name="Collections", exact=True).click()
    await expect(page.locator("input[name=name]")).to_be_visible(timeout=30_000)  # staff's form
    await page.locator('[data-ready="true"]').wait_for()  # its loads have run
    await page.fill("input[name=name]", "After the crash")
    await page.click("text=Create collection")
    await expect(page.get_by_role("heading", name="After the crash")).to_be_visible(timeout=30_000)


def test_a_killed_database_comes_back(library: Launched) -> None:
    pid_file = _data(library) / "pg" / "postmaster.pid"
    postmaster = int(pid_file.read_text().split()[0])
    before = len(library.output())
    os.kill(postmaster, signal.SIGKILL)
    since = time.monotonic()
    _said(library, "The database (PostgreSQL) is running again", before)
    _serves_again(library, since, "PostgreSQL killed")
    assert int(pid_file.read_text().split()[0]) != postmaster


def test_a_killed_replica_is_started_again_and_reads_go_on_meanwhile(library: Launched) -> None:
    pid_file = _data(library) / "pg-replica" / "postmaster.pid"
    standby = int(pid_file.read_text().split()[0])
    before = len(library.output())
    os.kill(standby, signal.SIGKILL)
    since = time.monotonic()
    # Reads meanwhile: the pages and the API answer (from the primary).
    for _ in range(5):
        with urllib.request.urlopen(f"{library.url}/api/v1/search?q=anything", timeout=10) as r:
            assert r.status == 200
    _said(library, "The database replica (PostgreSQL standby) is running again", before)
    print(f"\nreplica killed: running again after {time.monotonic() - since:.1f} s")
    assert int(pid_file.read_text().split()[0]) != standby


async def test_redis_comes_back_with_its_queue_and_a_tab_stays_logged_in(
    library: Launched, browser: Browser, page_errors: PageErrors
) -> None:
    page = await _logged_in_tab(library, browser)
    socket_path = str(_data(library) / "redis" / "redis.sock")
    queued = redis.Redis(unix_socket_path=socket_path)
    # A job waiting for later, as a queue holds them; the append-only file keeps it.
    queued.zadd("library:queue", {"fault-test-marker": time.time() * 1000 + 3_600_000})
    queued.close()
    time.sleep(1.5)  # appendfsync everysec: at most a second of writes is not yet on disk
    server = next(
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if "redis-server" in " ".join(p.info["cmdline"] or [])
        and socket_path in " ".join(p.info["cmdline"] or [])
    )
    before = len(library.output())
    server.kill()
    since = time.monotonic()
    while time.monotonic() - since < DEADLINE:
        try:
            back = redis.Redis(unix_socket_path=socket_path)
            if back.ping():
                break
        except redis.RedisError:
            time.sleep(0.2)
    print(f"\nRedis killed: it answered again after {time.monotonic() - since:.1f} s")
    assert back.zscore("library:queue", "fault-test-marker") is not None
    back.zrem("library:queue", "fault-test-marker")
    back.close()
    _said(library, "The queue and cache (Redis) is running again", before)

    # The open tab carries on, still logged in: its next page is the account page.
    await goto(page, f"{library.url}/account")
    await expect(page.get_by_text(ADMIN[0])).to_be_visible(timeout=30_000)
    await goto(page, f"{library.url}/search?q=anything")
    await expect(page.locator("#logout")).to_be_visible()


UPLOAD = """
import asyncio, sys
from backend.cli import _ensure_database_url, _ensure_redis_url
_ensure_database_url(), _ensure_redis_url()  # the running library's (joined, not started)
from backend.db import session_scope
from backend.users import repository as users
from backend.collections import service as collections
from backend.documents import service as documents
from backend.storage.service import get_store, store_stream
from tests.jobs.files import text_pdf

async def once(data: bytes):
    yield data

async def main(count: int, email: str) -> None:
    async with session_scope() as session:
        admin = await users.by_email(session, email)
        shelf = await collections.create(session=session, actor=admin, name="Crash shelf")
        for n in range(count):
            pages = [f"Report {n} page {p} on river gauges" for p in range(1, 4)]
            stored = await store_stream(get_store(), once(text_pdf(pages)))
            await documents.add_document(
                session=session, actor=admin, collection_id=shelf.id, stored=stored,
                filename=f"report-{n}.pdf",
            )
        await session.commit()  # sends the ingest jobs

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""


def _count(launched: Launched, sql: str) -> int:
    import psycopg

    with psycopg.connect(f"dbname=library user=postgres host={_data(launched) / 'pg'}") as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_a_worker_killed_mid_pipeline_is_started_again_and_the_documents_finish(
    library: Launched,
) -> None:
    count = 4
    uploaded = subprocess.run(
        [sys.executable, "-c", UPLOAD, str(count), ADMIN[0]],
        cwd=ROOT,
        env={**library.env, "DATA_DIR": str(_data(library))},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert uploaded.returncode == 0, uploaded.stderr[-3000:]
    since = time.monotonic()
    extracting = "SELECT count(*) FROM document_versions WHERE step = 'extract'"
    while _count(library, extracting) == 0:
        assert time.monotonic() - since < DEADLINE, "no document ever reached extraction"
        time.sleep(0.1)
    before = len(library.output())
    os.killpg(_group_of(_data(library), "jobs.run"), signal.SIGKILL)
    killed = time.monotonic()
    _said(library, "The worker stopped (killed by SIGKILL)", before)
    ready = "SELECT count(*) FROM document_versions WHERE status = 'ready'"
    while _count(library, ready) < count:
        assert time.monotonic() - killed < 3 * DEADLINE, "the documents never finished"
        time.sleep(0.5)
    took = time.monotonic() - killed
    print(f"\nworker killed mid-ingest: every document ready {took:.1f} s later")
    # Nothing lost, nothing twice: one version and three pages each, each file stored once.
    shelf = "(SELECT id FROM collections WHERE name = 'Crash shelf')"
    assert _count(library, f"SELECT count(*) FROM documents WHERE collection_id = {shelf}") == count
    versions = (
        "FROM document_versions v JOIN documents d ON d.id = v.document_id "
        f"WHERE d.collection_id = {shelf}"
    )
    assert _count(library, f"SELECT count(*) {versions}") == count
    assert _count(library, f"SELECT count(DISTINCT v.file_key) {versions}") == count
    assert _count(library, f"SELECT count(*) {versions} AND v.status <> 'ready'") == 0
    pages = (
        "SELECT count(*) FROM document_pages p JOIN document_versions v ON v.id = p.version_id "
        f"JOIN documents d ON d.id = v.document_id WHERE d.collection_id = {shelf}"
    )
    assert _count(library, pages) == 3 * count
