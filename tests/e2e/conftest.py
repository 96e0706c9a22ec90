"""One served app (the launcher, in prod mode) and one Chromium for the browser tests."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright
from psycopg.errors import DeadlockDetected
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import metadata

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ERROR_LINE = re.compile(
    r'"level": "(error|critical)"|Traceback \(most recent call last\)|^ERROR', re.M
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServedApp:
    url: str
    env: dict[str, str]
    logs: list[Path] = field(default_factory=list)
    # Log lines holding one of these are errors a test provoked on purpose (a job made to
    # fail): later tests' checks of the shared logs pass over them, and only them.
    provoked: set[str] = field(default_factory=set)

    def errors(self) -> list[str]:
        found = []
        for log in self.logs:
            if log.exists():
                for line in log.read_text(errors="replace").splitlines():
                    m = ERROR_LINE.search(line)
                    if m and not any(mark in line for mark in self.provoked):
                        found.append(m.group(0) + " in " + log.name)
        return found


@dataclass
class Launched:
    """The launcher of ./run.sh running in the background, as a person would start it."""

    proc: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while "library is open" not in self.output():
            if self.proc.poll() is not None:
                pytest.fail("the app did not start:\n" + self.output()[-4000:])
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not start within {timeout:.0f} s")
            time.sleep(1)

    def stop(self) -> None:
        """Ctrl-C, then wait as long as a person would."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def launch(data: Path, **overrides: str) -> Launched:
    """Start `python -m backend.launcher` with its data in `data`; env overrides as given."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in overrides or overrides[k]}
    env.update(
        PORT=str(port), PUBLIC_URL=f"http://localhost:{port}", DATA_DIR=str(data), WEB_WORKERS="1"
    )
    env.update({k: v for k, v in overrides.items() if v})
    log = data / "launcher.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.launcher"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Launched(proc=proc, url=f"http://localhost:{port}", env=env, log=log)


def _redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def _fresh_database(url: str, name: str) -> str:
    """A new empty database beside the test database (the served app has its own)."""
    target = make_url(url).set(database=name)
    admin = make_url(url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return target.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The app on its own database and Redis database, so its worker never takes the
    jobs of other tests."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run the tests through ./test.sh, which installs it")
    data = tmp_path_factory.mktemp("e2e-data")
    launched = launch(
        data,
        DATABASE_URL=_fresh_database(os.environ["DATABASE_URL"], "library_e2e"),
        REDIS_URL=_redis_db(os.environ["REDIS_URL"], 1),
        INDEX_BATCH_SECONDS="0",  # index each change at once
    )
    try:
        launched.wait_ready()
        yield ServedApp(
            url=launched.url, env=launched.env, logs=[launched.log, data / "logs" / "worker.log"]
        )
    finally:
        launched.stop()


@pytest.fixture
async def app_db(served_app: ServedApp) -> AsyncIterator[AsyncSession]:
    """A session on the served app's database; its tables are emptied after the test."""
    engine = create_async_engine(served_app.env["DATABASE_URL"])
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session
    # The app's search index must forget the documents before their ids are reused.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE documents SET current_version_id = NULL"))
        await conn.execute(
            text(
                "INSERT INTO search_outbox (document_id, created_at) "
                "SELECT id, now() FROM documents"
            )
        )
    await index_now(served_app, engine)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    for attempt in range(5):
        # TRUNCATE locks the tables one by one while the served app may still be reading
        # some of them in another order (a job the test queued, a page's last event):
        # PostgreSQL then ends one side as a deadlock, and the emptying is tried again.
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            break
        except DBAPIError as exc:
            if not isinstance(exc.orig, DeadlockDetected) or attempt == 4:
                raise
            await asyncio.sleep(0.5)
    redis = Redis.from_url(served_app.env["REDIS_URL"])
    await redis.flushdb()
    await redis.aclose()
    await engine.dispose()


async def index_now(app: ServedApp, engine: AsyncEngine, timeout: float = 60) -> None:
    """Ask the app's worker to drain the search outbox, and wait until it has."""
    from arq.connections import RedisSettings, create_pool

    from backend import queue

    pool = await create_pool(
        RedisSettings.from_dsn(app.env["REDIS_URL"]),
        default_queue_name=queue.QUEUE_NAME,
        job_serializer=queue.serialize,
        job_deserializer=queue.deserialize,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            async with engine.connect() as conn:
                left = (await conn.execute(text("SELECT count(*) FROM search_outbox"))).scalar()
            if not left:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{left} documents still wait for the search index")
            await pool.enqueue_job("index_outbox", _job_id=f"test-index-{time.monotonic()}")
            await asyncio.sleep(0.5)
    finally:
        await pool.aclose()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


def _missing_page(text: str, url: str) -> bool:
    """Chromium's note that a page it navigated to answered 404: a missing record's page
    says so in its status (backend.web.heads), which is no error of the page's. A script,
    style or API call answering 404 still counts."""
    path = urlsplit(url).path
    return "status of 404" in text and not path.startswith(("/assets/", "/api/", "/_"))


class PageErrors:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.messages.append(f"page error: {exc}"))

        def on_console(msg: ConsoleMessage) -> None:
            url = str(msg.location.get("url") or "")
            if msg.type == "error" and not _missing_page(msg.text, url):
                self.messages.append(f"console error: {msg.text} at {url}")

        page.on("console", on_console)
        return page


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


async def goto(page: Page, url: str) -> None:
    """Open a page and wait until its load events have run (so typing is not lost)."""
    await page.goto(url)
    await page.locator('[data-ready="true"]').wait_for()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The launcher tests build the frontend into the project's one .web folder, which the
    served app (started once for the other browser tests) serves from: they run before the
    served app starts, so they never rebuild the frontend under it."""
    browser = [i for i, item in enumerate(items) if "/e2e/" in item.nodeid.replace("\\", "/")]
    if not browser:
        return
    chosen = [items[i] for i in browser]
    # Each starts a launcher of its own.
    launches = ("test_launcher.py", "test_faults.py", "test_proxy.py", "test_backup.py")
    first = [t for t in chosen if any(name in t.nodeid for name in launches)]
    rest = [t for t in chosen if not any(name in t.nodeid for name in launches)]
    for i, item in zip(browser, first + rest, strict=True):
        items[i] = item


async def log_in(
    browser: Browser, app: ServedApp, email: str, errors: PageErrors, password: str = ""
) -> Page:
    """A new browser context logged in as `email` (the factories' password by default),
    its console watched by `errors`; downloads accepted."""
    from tests.factories import PASSWORD

    page = errors.watch(await (await browser.new_context(accept_downloads=True)).new_page())
    await goto(page, f"{app.url}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password or PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"{app.url}/")
    return page
