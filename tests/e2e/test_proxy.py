"""The library behind nginx, with deploy/nginx/library.conf as it is shipped: Debian's
nginx in front of the served app, and Chromium and an API client going through it (the
websocket upgraded, an upload past nginx's default 1 MB limit, compressed and cached
scripts, a process away answered by the next one)."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth import personal_tokens
from backend.storage.local import LocalObjectStore
from backend.users.models import Role
from tests.e2e.conftest import (
    Launched,
    PageErrors,
    _fresh_database,
    _redis_db,
    free_port,
    goto,
    launch,
)
from tests.factories import PASSWORD, make_collection, make_user

ROOT = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"


def _config(folder: Path, upstreams: list[str], port: int) -> Path:
    """nginx.conf for a prefix folder: the shipped server block, its port and cache folder
    set for this run, after an upstream of `upstreams`."""
    shipped = (ROOT / "deploy" / "nginx" / "library.conf").read_text()
    assert "listen 8080;" in shipped and "/var/cache/nginx/library" in shipped
    server = shipped.replace("listen 8080;", f"listen 127.0.0.1:{port};").replace(
        "/var/cache/nginx/library", str(folder / "cache")
    )
    servers = "".join(
        f"    server {u.split()[0]} max_fails=1 fail_timeout=5s {' '.join(u.split()[1:])};\n"
        for u in upstreams
    )
    conf = folder / "nginx.conf"
    # (Its workers write the cache in this test's private folder: as the test's user.)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(
        user + "worker_processes 1;\n"
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {folder / 'access.log'};\n"
        "  include /etc/nginx/mime.types;\n"
        f"  upstream library_web {{\n{servers}    keepalive 8;\n  }}\n"
        f"{server}\n"
        "}\n"
    )
    return conf


def _start(folder: Path, conf: Path, port: int) -> subprocess.Popen[bytes]:
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(folder), "-c", str(conf)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health/live", timeout=2)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("nginx did not start: " + (folder / "error.log").read_text())
            time.sleep(0.1)


@dataclass
class Proxied:
    url: str  # nginx's address: the library's PUBLIC_URL
    app: Launched
    folder: Path  # nginx's: its configuration, logs and cache
    second: subprocess.Popen[bytes]  # nginx's first choice; the launcher's web is the backup


def _child_settings(launched: Launched) -> dict[str, str]:
    """What the launcher gives its web process beyond its own environment: Reflex's state
    in the same Redis."""
    return {"REFLEX_REDIS_URL": launched.env["REDIS_URL"], "GRANIAN_WORKERS": "1"}


def _answers(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the second web process did not answer at {url}")
        time.sleep(0.3)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Proxied]:
    """The library as ./run.sh starts it, its public address nginx's (its pages connect
    their websocket there), nginx passing requests to a process that is not there first
    (a port nobody listens on: a web process that died), then to the app."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: run the tests through ./test.sh, which installs it")
    port, dead = free_port(), free_port()
    data = tmp_path / "data"
    data.mkdir()
    launched = launch(
        data,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=_fresh_database(os.environ["DATABASE_URL"], "library_proxy"),
        REDIS_URL=_redis_db(os.environ["REDIS_URL"], 2),
        INDEX_BATCH_SECONDS="0",
        TRUSTED_PROXY_HOPS="1",
    )
    proc = second = None
    try:
        launched.wait_ready()
        # A second web process on the same database, Redis and build (as the launcher
        # starts one again: app.serve), nginx's first choice; the launcher's is the backup.
        other = free_port()
        second = subprocess.Popen(
            [sys.executable, "-m", "app.serve", "127.0.0.1", str(other)],
            cwd=ROOT,
            env={**launched.env, **_child_settings(launched)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _answers(f"http://127.0.0.1:{other}/api/v1/health/live", second)
        app = launched.url.split("//", 1)[1]
        upstreams = [f"127.0.0.1:{dead}", f"127.0.0.1:{other}", f"{app} backup"]
        proc = _start(tmp_path, _config(tmp_path, upstreams, port), port)
        yield Proxied(f"http://127.0.0.1:{port}", launched, tmp_path, second)
    finally:
        if second is not None and second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait()
        if proc is not None:
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        launched.stop()
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)


async def test_the_library_through_nginx(
    proxied: Proxied, browser: Browser, page_errors: PageErrors
) -> None:
    engine = create_async_engine(proxied.app.env["DATABASE_URL"])
    async with AsyncSession(engine, expire_on_commit=False) as session:
        librarian = await make_user(session, Role.LIBRARIAN)
        shelf = await make_collection(session, librarian, "Behind the proxy")
        made = await personal_tokens.create(
            session=session, actor=librarian, name="proxy", scopes=("read", "write")
        )
        await session.commit()
    await engine.dispose()
    token = {"Authorization": f"Bearer {made.secret}"}

    async with httpx.AsyncClient(base_url=proxied.url, timeout=60) as client:
        # Pages, with the compiled scripts compressed, and cached by nginx after the
        # first request (the web process serves each file once).
        home = await client.get("/")
        assert home.status_code == 200 and "<html" in home.text.lower()
        script = next(
            part.split('"', 1)[0]
            for part in home.text.split('="')[1:]
            if part.startswith("/assets/") and part.split('"', 1)[0].endswith(".js")
        )
        first = await client.get(script, headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200 and first.headers["content-encoding"] == "gzip"
        assert first.headers["x-cache-status"] in ("MISS", "HIT")
        second = await client.get(script, headers={"Accept-Encoding": "gzip"})
        assert second.headers["x-cache-status"] == "HIT" and second.content == first.content
        # An upload three times nginx's default body limit, streamed through it.
        lines = [f"Line {n} of the proxied atlas, {'and so on ' * 30}" for n in range(12_000)]
        text = "\n".join(lines).encode()
        assert len(text) > 3_000_000
        sent = await client.post(
            f"/api/v1/collections/{shelf.id}/documents",
            params={"filename": "atlas.txt"},
            content=text,
            headers={**token, "Content-Type": "text/plain"},
        )
        assert sent.status_code == 202, sent.text
        # The request id nginx made reaches the app and comes back.
        assert len(sent.headers["x-request-id"]) == 32
        for _ in range(120):  # read and indexed by the app's worker: found by the API
            found = (await client.get("/api/v1/search", params={"q": "proxied atlas"})).json()
            if found["total"]:
                break
            await asyncio.sleep(0.5)
        assert found["total"] == 1, found

    # A tab through nginx: its websocket upgraded and kept, search as you type answering.
    page = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(page, f"{proxied.url}/search")
    box = page.get_by_label("Search the library")
    await box.press_sequentially("proxied atl", delay=60)
    await expect(page.locator(".search-hit").first).to_contain_text("atlas", timeout=60_000)
    assert page_errors.messages == []
    assert '"level": "error"' not in proxied.app.output()
    await page.context.close()

    # A librarian's tab, logged in and searching, served by the second web process; that
    # process is killed: the tab carries on through the other one (its websocket
    # reconnects, its state is read from Redis), still logged in, its search still there.
    tab = page_errors.watch(await (await browser.new_context()).new_page())
    await goto(tab, f"{proxied.url}/login")
    await tab.fill("input[name=email]", librarian.email)
    await tab.fill("input[name=password]", PASSWORD)
    await tab.click("#login-submit")
    await tab.wait_for_url(f"{proxied.url}/")
    await goto(tab, f"{proxied.url}/search?q=proxied+atlas")
    await expect(tab.locator(".search-hit")).to_have_count(1)
    # An upload streaming slowly through nginx to that process when it is killed.
    originals = Path(proxied.app.env["DATA_DIR"]) / "objects" / "originals"
    before = {p.name for p in originals.iterdir()}
    cut_off: list[object] = []

    def slow_body() -> Iterator[bytes]:
        for _ in range(200):
            yield b"a slowly sent page of text\n" * 2000
            time.sleep(0.1)

    def upload() -> None:
        try:
            answer = httpx.post(
                f"{proxied.url}/api/v1/collections/{shelf.id}/documents",
                params={"filename": "cut-off.txt"},
                content=slow_body(),
                headers={**token, "Content-Type": "text/plain"},
                timeout=60,
            )
            cut_off.append(answer.status_code)
        except httpx.HTTPError as exc:
            cut_off.append(exc)

    sending = threading.Thread(target=upload)
    sending.start()
    deadline = time.monotonic() + 30
    while not any(p.name.endswith(".part") for p in originals.iterdir()):
        assert time.monotonic() < deadline, "the upload never reached the store"
        await asyncio.sleep(0.05)
    os.killpg(proxied.second.pid, signal.SIGKILL)
    proxied.second.wait()
    sending.join(60)
    # The client is told (nginx's 502, or the connection cut), never a 202.
    assert cut_off and cut_off[0] != 202, cut_off
    # Nothing of it is a document, and what it half wrote goes at the next sweep.
    assert {p.name for p in originals.iterdir() if not p.name.startswith(".")} == {
        n for n in before if not n.startswith(".")
    }
    assert await LocalObjectStore(originals.parent).sweep_partial(12 * 3600) == 1
    assert not any(p.name.endswith(".part") for p in originals.iterdir())
    # The next thing the person does goes over the reconnected websocket.
    await tab.get_by_role("navigation", name="Main").get_by_role("link", name="Collections").click()
    await expect(tab.get_by_role("link", name="Behind the proxy").first).to_be_visible(
        timeout=60_000
    )
    await expect(tab.get_by_role("button", name="Log out")).to_be_visible()
    await tab.go_back()
    await expect(tab.locator(".search-hit")).to_have_count(1)
    box = tab.get_by_label("Search the library")
    await expect(box).to_have_value("proxied atlas")
    await box.click()
    await box.press("Control+a")
    await box.press_sequentially("atlas proxied", delay=80)
    try:
        await tab.wait_for_url("**/search?q=atlas+proxied", timeout=30_000)
    except PlaywrightTimeoutError:  # (once in many runs: what the serving process saw)
        events = [
            line
            for line in proxied.app.log.read_text(errors="replace").splitlines()
            if "search_state" in line.lower() or "rror" in line or "xception" in line
        ]
        pytest.fail(
            f"the last keystroke went unanswered: the address is {tab.url}\n"
            + "\n".join(events[-40:])
            + "\nbrowser: "
            + "\n".join(page_errors.messages[-20:])
            + "\nnginx: "
            + (proxied.folder / "error.log").read_text()[-3000:]
        )
    await expect(tab.locator(".search-hit")).to_have_count(1)
    await tab.go_back()  # the collections page, then its collection: still its curator
    await tab.get_by_role("link", name="Behind the proxy").first.click()
    await expect(tab.get_by_text("Drop files here")).to_be_visible()
    lost = [m for m in page_errors.messages if "WebSocket" not in m and "_event" not in m]
    assert lost == [], page_errors.messages
    await tab.context.close()
    # The websocket went through nginx (logged when it closes): upgraded, 101.
    for _ in range(50):
        upgraded = [
            line
            for line in (proxied.folder / "access.log").read_text().splitlines()
            if '"GET /_event/' in line and '" 101 ' in line
        ]
        if upgraded:
            break
        await asyncio.sleep(0.1)
    assert upgraded
