"""Upload benchmark: one 1 GB file from Chromium into a collection, then a bulk import's
CSV and 400 MB ZIP, with the web process's peak memory while each streams.

    .venv/bin/python bench/upload/run.py [--mb 1000] [--zip-mb 400]

Starts the whole app with ./run.sh's launcher (embedded PostgreSQL and Redis in a
temporary folder), logs in as a librarian in headless Chromium, drops the file on the
collection page, then the CSV and the ZIP on its import card (the ZIP is checked member by
member as it streams; the dry run then runs in the worker), and samples the resident
memory of the web process tree (Reflex and its granian workers) every 50 ms. Writes
bench/upload/results.md.
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
import zipfile
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


async def drive(url: str, big: Path, csv: Path, archive: Path, phase: list[str]) -> list[float]:
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
        phase[0] = "document"
        started = time.perf_counter()
        await page.locator("#documents input[type=file]").set_input_files(str(big))
        await page.get_by_text("Received 1 file(s)").wait_for(timeout=600_000)
        took = [time.perf_counter() - started]
        phase[0] = "idle"
        await asyncio.sleep(2)
        phase[0] = "import"
        started = time.perf_counter()
        await page.locator("#bulk-import input[type=file]").set_input_files(
            [str(csv), str(archive)]
        )
        await page.get_by_text("Checking every row").wait_for(timeout=600_000)
        took.append(time.perf_counter() - started)
        phase[0] = "dry run"
        await page.locator("#import-summary").wait_for(timeout=600_000)
        took.append(time.perf_counter() - started)
        phase[0] = "idle"
        await browser.close()
        return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1000)
    parser.add_argument("--zip-mb", type=int, default=400)
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
    # The import: 40 text files in a ZIP stored without compression (so the ZIP weighs what
    # it unpacks to), and a CSV naming them.
    archive, csv = tmp / "files.zip", tmp / "records.csv"
    members = 40
    per_member = args.zip_mb * 1_000_000 // members
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as z:
        for i in range(members):
            with z.open(f"scans/part{i:02}.txt", "w", force_zip64=True) as member:
                left = per_member
                while left > 0:
                    member.write(block[: min(left, len(block))])
                    left -= len(block)
    csv.write_text(
        "filename,title\n" + "".join(f"part{i:02}.txt,Part {i}\n" for i in range(members))
    )
    zip_size = archive.stat().st_size
    port = 3900
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATA_DIR=str(tmp / "data"),
        PORT=str(port),
        PUBLIC_URL=f"http://localhost:{port}",
        WEB_WORKERS="1",
        MAX_UPLOAD_BYTES=str(max(size, 1 << 30)),
        ZIP_MAX_UNPACKED_BYTES=str(max(zip_size * 2, 1 << 30)),
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
        stop, phase = threading.Event(), ["idle"]
        peak: dict[str, int] = {}

        def sample() -> None:
            while not stop.is_set():
                rss = web_tree_rss(launcher)
                peak[phase[0]] = max(peak.get(phase[0], 0), rss)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        took = asyncio.run(drive(f"http://localhost:{port}", big, csv, archive, phase))
        stop.set()
        sampler.join()
        originals = tmp / "data" / "objects" / "originals"
        stored = sum(p.stat().st_size for p in originals.rglob("*") if p.is_file())
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(120)
        shutil.rmtree(tmp, ignore_errors=True)

    def grew(name: str) -> str:
        high = peak.get(name, idle)
        grown = (high - idle) / 2**20
        return f"{idle / 2**20:.0f} MB idle, {high / 2**20:.0f} MB peak (+{grown:.0f} MB)"

    lines = [
        "# Upload benchmark",
        "",
        f"Command: `.venv/bin/python bench/upload/run.py --mb {args.mb} --zip-mb {args.zip_mb}`  ",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, headless Chromium on the same machine  ",
        "",
        f"- file: {size:,} bytes, streamed in chunks to the local object store "
        f"({stored:,} bytes stored)",
        f'- time from drop to "Received": {took[0]:.1f} s ({size / took[0] / 1e6:.0f} MB/s)',
        f"- web process tree resident memory during the upload: {grew('document')}",
        "",
        f"Bulk import: a CSV of {members} rows and a ZIP of {zip_size:,} bytes ({members} "
        "stored members), streamed to the object store and checked member by member on the way",
        "",
        f"- time from drop to stored and recorded: {took[1]:.1f} s "
        f"({zip_size / took[1] / 1e6:.0f} MB/s); the worker's dry run done after {took[2]:.1f} s",
        f"- web process tree resident memory during the import's upload: {grew('import')}; "
        f"while the worker runs the dry run: {grew('dry run')}",
        "",
    ]
    (ROOT / "bench" / "upload" / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
