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
    """The process group of the launcher's child whose command line has `marker`."""
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and proc.info["pid"] == os.getpgid(proc.info["pid"]):
            return int(proc.info["pid"])
    pytest.fail(f"no process of the library runs {marker}")


@pytest.fixture(scope="module")
def library() -> Iterator[Launched]:
    """The embedded default, as ./run.sh starts it, in a folder outside pytest's own (run
    as root, the embedded PostgreSQL's user must pass through the folders above it)."""
    outside = Path(tempfile.mkdtemp(prefix="library-faults-"))
    outside.chmod(0o755)
    data = outside / "data"
    data.mkdir()
    launched = launch(data, DATABASE_URL="", REDIS_URL="")
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
