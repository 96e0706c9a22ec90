"""One served app (the launcher, in prod mode) and one Chromium for the browser tests."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

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

    def errors(self) -> list[str]:
        found = []
        for log in self.logs:
            if log.exists():
                found += [
                    m.group(0) + " in " + log.name
                    for m in ERROR_LINE.finditer(log.read_text(errors="replace"))
                ]
        return found


@pytest.fixture(scope="session")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run the tests through ./test.sh, which installs it")
    port = free_port()
    data = tmp_path_factory.mktemp("e2e-data")
    env = dict(os.environ)
    env.update(
        PORT=str(port),
        PUBLIC_URL=f"http://localhost:{port}",
        DATA_DIR=str(data),
        WEB_WORKERS="1",
    )
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
    app = ServedApp(
        url=f"http://localhost:{port}", env=env, logs=[log, data / "logs" / "worker.log"]
    )
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail("the app did not start:\n" + log.read_text(errors="replace")[-4000:])
            try:
                with urllib.request.urlopen(f"{app.url}/api/v1/health", timeout=2) as r:
                    if r.status == 200 and "library is open" in log.read_text(errors="replace"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the app did not answer within 10 minutes")
            time.sleep(1)
        yield app
    finally:
        os.killpg(proc.pid, 2)  # Ctrl-C, as a person would
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


class PageErrors:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.messages.append(f"page error: {exc}"))

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.messages.append(f"console error: {msg.text} at {msg.location.get('url')}")

        page.on("console", on_console)
        return page


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()
