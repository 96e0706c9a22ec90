"""Upload benchmark: one 1 GB file from Chromium into a collection, with the web process's
peak memory while it streams.

    .venv/bin/python bench/upload/run.py [--mb 1000]

Starts the whole app with ./run.sh's launcher (embedded PostgreSQL and Redis in a
temporary folder), logs in as a librarian in headless Chromium, drops the file on the
collection page, and samples the resident memory of the web process tree (Reflex and its
granian workers) every 50 ms. Writes bench/upload/results.md.
"""

import argparse
import asyncio
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def web_tree_rss(launcher: psutil.Process) -> int:
    total = 0
    for child in launcher.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
            if "reflex" in cmd or "granian" in cmd or child.name().startswith("granian"):
                total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


async def drive(url: str, big: Path) -> float:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = await browser.new_page()
        await page.goto(f"{url}/login")
        await page.locator('[data-ready="true"]').wait_for()
        await page.fill("input[name=email]", "bench@example.org")
        await page.fill("input[name=password]", "benchmark passphrase")
        await page.click("#login-submit")
        await page.wait_for_url(f"{url}/")
        await page.goto(f"{url}/collections")
        await page.locator('[data-ready="true"]').wait_for()
        await page.fill("input[name=name]", "Big files")
        await page.click("text=Create collection")
        await page.wait_for_url("**/collections/big-files")
        await page.locator('[data-ready="true"]').wait_for()
        started = time.perf_counter()
        await page.locator("#documents input[type=file]").set_input_files(str(big))
        await page.get_by_text("Received 1 file(s)").wait_for(timeout=600_000)
        took = time.perf_counter() - started
        await browser.close()
        return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    big = tmp / "big.txt"
    with big.open("wb") as fh:  # text, so the pipeline accepts it afterwards
        line = b"the quick brown fox jumps over the lazy dog " * 20 + b"\n"
        block = line * ((1 << 20) // len(line) + 1)
        block = block[: 1 << 20]
        for _ in range(args.mb * 1_000_000 // (1 << 20)):
            fh.write(block)
        fh.write(block[: args.mb * 1_000_000 % (1 << 20)])
    size = big.stat().st_size
    port = 3900
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATA_DIR=str(tmp / "data"),
        PORT=str(port),
        PUBLIC_URL=f"http://localhost:{port}",
        WEB_WORKERS="1",
        MAX_UPLOAD_BYTES=str(max(size, 1 << 30)),
    )
    log = open(tmp / "launcher.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.launcher"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while "library is open" not in (tmp / "launcher.log").read_text(errors="replace"):
            if proc.poll() is not None:
                sys.exit((tmp / "launcher.log").read_text())
            time.sleep(1)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "create-admin",
                "bench@example.org",
                "--password-stdin",
            ],
            input="benchmark passphrase\n",
            text=True,
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
        )
        launcher = psutil.Process(proc.pid)
        idle = web_tree_rss(launcher)
        stop, peak = threading.Event(), [0]

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], web_tree_rss(launcher))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        took = asyncio.run(drive(f"http://localhost:{port}", big))
        stop.set()
        sampler.join()
        stored = sum(p.stat().st_size for p in (tmp / "data" / "objects").rglob("*") if p.is_file())
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(120)
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# Upload benchmark",
        "",
        f"Command: `.venv/bin/python bench/upload/run.py --mb {args.mb}`  ",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, headless Chromium on the same machine  ",
        "",
        f"- file: {size:,} bytes, streamed in chunks to the local object store "
        f"({stored:,} bytes stored)",
        f'- time from drop to "Received": {took:.1f} s ({size / took / 1e6:.0f} MB/s)',
        f"- web process tree resident memory: {idle / 2**20:.0f} MB idle, "
        f"{peak[0] / 2**20:.0f} MB peak during the upload "
        f"(+{(peak[0] - idle) / 2**20:.0f} MB)",
        "",
    ]
    (ROOT / "bench" / "upload" / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
