"""Ingest benchmark: documents/s and pages/s through the real pipeline with 1 and 2 workers.

    .venv/bin/python bench/ingest/run.py [--copies 3]

Uses the real PDFs and images of ../shared/corpus/files (each copy made unique by bytes
appended after the end of the file, so no copy is a duplicate), an embedded PostgreSQL and
Redis in a temporary folder, and real arq worker processes in burst mode. Also times the
bare extraction libraries on the same files in the same run, thumbnails per file, and the
peak memory of the worker process tree (worker + its sandboxed children).
Writes bench/ingest/results.md.
"""

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "files"
sys.path.insert(0, str(ROOT))
PDF_AND_IMAGES = (".pdf", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".gif")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*/*") if p.suffix.lower() in PDF_AND_IMAGES)


def peak_rss_sampler(pids: list[int], stop: threading.Event, out: list[int]) -> None:
    peak = 0
    while not stop.is_set():
        total = 0
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                family = [proc, *proc.children(recursive=True)]
                total += sum(p.memory_info().rss for p in family if p.is_running())
            except psutil.Error:
                pass
        peak = max(peak, total)
        time.sleep(0.05)
    out.append(peak)


async def load(files: list[Path], copies: int) -> int:
    from backend.collections import service as collections
    from backend.db import session_scope
    from backend.documents import service as documents
    from backend.storage.service import get_store, store_stream
    from backend.users import service as users
    from backend.users.models import Role

    async with session_scope() as session:
        user = await users.register(
            session=session, email="bench@example.org", password="benchmark passphrase"
        )
        user.role = Role.LIBRARIAN.value
        collection = await collections.create(session=session, actor=user, name="Bench")
        await session.commit()
        count = 0
        for copy in range(copies):
            for path in files:
                data = path.read_bytes() + f"\n%bench-copy-{copy}\n".encode()

                async def chunks(data: bytes = data):  # type: ignore[no-untyped-def]
                    yield data

                stored = await store_stream(get_store(), chunks())
                assert collection.id is not None
                await documents.add_document(
                    session=session,
                    actor=user,
                    collection_id=collection.id,
                    stored=stored,
                    filename=f"{copy}-{path.name}",
                )
                count += 1
        session.info["deferred_jobs"] = []  # the benchmark enqueues when the workers wait
        await session.commit()
    return count


async def enqueue_all() -> int:
    from sqlmodel import select

    from backend import queue
    from backend.db import session_scope
    from backend.documents.models import DocumentVersion

    async with session_scope() as session:
        ids = list((await session.exec(select(DocumentVersion.id))).all())
    run = time.time_ns()
    for version_id in ids:
        await queue.enqueue(queue.Job("ingest_version", (version_id,), f"bench:{run}:{version_id}"))
    return len(ids)


async def failure_reasons() -> list[str]:
    from sqlalchemy import text

    from backend.db import session_scope

    async with session_scope() as session:
        rows = await session.exec(
            text(
                "SELECT filename, error FROM document_versions "
                "WHERE status = 'failed' ORDER BY filename"
            )
        )
        return [f"{r.filename}: {r.error[:90]}" for r in rows.all()]


async def reset_versions() -> tuple[int, int, int]:
    from sqlalchemy import text

    from backend.db import session_scope

    async with session_scope() as session:
        row = (
            await session.exec(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'ready'), "
                    "count(*) FILTER (WHERE status = 'failed'), "
                    "coalesce(sum(page_count) FILTER (WHERE status = 'ready'), 0) "
                    "FROM document_versions"
                )
            )
        ).one()
        await session.exec(
            text("UPDATE document_versions SET status = 'pending', step = '', error = ''")
        )
        await session.exec(text("DELETE FROM document_pages"))
        await session.commit()
    return int(row[0]), int(row[1]), int(row[2])


def run_async(coro):  # type: ignore[no-untyped-def]
    """asyncio.run, closing the pooled clients so the next loop starts clean."""
    from backend import queue
    from backend.analytics import events
    from backend.db import dispose_engine
    from backend.redis_client import close_redis

    async def wrapped():  # type: ignore[no-untyped-def]
        try:
            return await coro
        finally:
            await events.sent()  # what load() recorded leaves before its loop ends
            await close_redis()
            await queue.close_pool()
            await dispose_engine()

    return asyncio.run(wrapped())


def run_workers(n: int, env: dict[str, str]) -> tuple[float, int]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "arq", "--burst", "jobs.worker.WorkerSettings"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]
    stop, peak = threading.Event(), []
    sampler = threading.Thread(target=peak_rss_sampler, args=([p.pid for p in procs], stop, peak))
    started = time.perf_counter()
    sampler.start()
    for p in procs:
        p.wait()
    took = time.perf_counter() - started
    stop.set()
    sampler.join()
    return took, peak[0]


def bare_libraries(files: list[Path]) -> dict[str, float]:
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    from backend.ingest import thumbnails
    from backend.ingest.parsers.image import harden_pillow, open_image
    from backend.ingest.parsers.pdf import render_first_page

    harden_pillow(80_000_000)
    pdfs = [p for p in files if p.suffix == ".pdf"]
    pages = 0
    t = time.perf_counter()
    for p in pdfs:
        try:
            doc = pdfium.PdfDocument(str(p))
        except pdfium.PdfiumError:
            continue
        for page in doc:
            page.get_textpage().get_text_bounded()
            pages += 1
        doc.close()
    pdfium_s = time.perf_counter() - t
    pypdf_pages = 0
    t = time.perf_counter()
    for p in pdfs:
        try:
            for page in PdfReader(str(p)).pages:
                page.extract_text()
                pypdf_pages += 1
        except Exception:
            continue
    pypdf_s = time.perf_counter() - t
    thumbs, t = 0, time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for p in files:
            try:
                cover = render_first_page(p, 900) if p.suffix == ".pdf" else open_image(p)
                thumbnails.make(cover, Path(out))
                thumbs += 1
            except Exception:
                continue
    thumb_s = time.perf_counter() - t
    return {
        "pdfium_pages_per_s": pages / pdfium_s,
        "pypdf_pages_per_s": pypdf_pages / pypdf_s,
        "thumbnail_ms_per_file": 1000 * thumb_s / max(1, thumbs),
        "pdf_pages": pages,
    }


@contextlib.contextmanager
def embedded_library(prefix: str) -> Iterator[dict[str, str]]:
    """A throwaway library: embedded PostgreSQL (migrated) and Redis in a temporary
    folder, this process's environment pointed at them; yields that environment (for the
    worker processes), and removes it all at the end."""
    from backend.embedded import EmbeddedPostgres, EmbeddedRedis
    from backend.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    pg, redis = EmbeddedPostgres(tmp / "pg", database="bench"), EmbeddedRedis(tmp / "redis")
    env = dict(os.environ, DATA_DIR=str(tmp / "data"), ENVIRONMENT="development")
    try:
        env["DATABASE_URL"], env["REDIS_URL"] = pg.start(), redis.start()
        os.environ.update(env)
        upgrade(env["DATABASE_URL"])
        yield env
    finally:
        redis.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=3)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"the corpus is not at {CORPUS}")
    with embedded_library("bench-ingest-") as env:
        files = corpus_files()
        count = run_async(load(files, args.copies))
        rows = []
        for workers in (1, 2):
            run_async(enqueue_all())
            took, peak = run_workers(workers, env)
            reasons = run_async(failure_reasons())
            print(f"{workers} worker(s), failed:", *reasons, sep="\n  ")
            ready, failed, pages = run_async(reset_versions())
            rows.append((workers, count, ready, failed, pages, took, peak))
        bare = bare_libraries(files)

    cpu = platform.processor() or platform.machine()
    lines = [
        "# Ingest benchmark",
        "",
        f"Command: `.venv/bin/python bench/ingest/run.py --copies {args.copies}`  ",
        f"Machine: {os.cpu_count()} cores ({cpu}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}  ",
        f"Files: {len(files)} PDFs and images of the shared corpus x {args.copies} copies "
        f"= {count} documents (each worker runs up to 4 jobs at once; every file is sniffed, "
        "checked for duplicates, extracted and thumbnailed in its own limited child process, "
        "OCR on for scans and images, then indexed).",
        "",
        "| worker processes | documents | ready | failed | pages | seconds | documents/s "
        "| pages/s | peak memory of workers + children |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for workers, n, ready, failed, pages, took, peak in rows:
        lines.append(
            f"| {workers} | {n} | {ready} | {failed} | {pages} | {took:.1f} | {n / took:.1f} "
            f"| {pages / took:.1f} | {peak / 2**20:.0f} MB |"
        )
    lines += [
        "",
        "Bare libraries on the same files, in this process, no sandbox, no OCR:",
        "",
        f"- pypdfium2 text: {bare['pdfium_pages_per_s']:.0f} pages/s ({bare['pdf_pages']} pages)",
        f"- pypdf text: {bare['pypdf_pages_per_s']:.0f} pages/s",
        f"- thumbnails (first page render or image decode, two WebP sizes): "
        f"{bare['thumbnail_ms_per_file']:.0f} ms per file",
        "",
    ]
    out = ROOT / "bench" / "ingest" / "results.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
