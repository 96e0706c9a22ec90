"""The pipeline against the bare libraries, on the same files, in the same run.

    .venv/bin/python bench/ingest/ratios.py [--copies 2] [--runs 3]

- Text PDFs (every PDF of ../shared/corpus whose pages have a text layer): pages/s through
  the whole pipeline (one worker process, running and warm as deployed, from enqueueing
  to every document ready and indexed, with INDEX_BATCH_SECONDS=1: sniff, SHA-256, sandboxed
  extraction, the first page's image and thumbnails (the other pages are drawn
  when a reader opens them: measured below), database, index) over pages/s of bare pypdfium2
  text extraction of every page plus one thumbnail per document, run in as many processes
  as the machine has cores (the worker runs up to 4 jobs at once on them).
- OCR (every image of the corpora: photos, scans, screenshots, a HEIC page, a two-page
  TIFF): pages/s through the pipeline over pages/s of bare tesseract (English, one run
  per page, one OpenMP thread per run as the pipeline's, which is 2-5x faster here than
  tesseract's default) on the same pages, in the same number of processes.
- Pages drawn when opened: a PDF's pages beyond the first are drawn the first time a
  reader opens one (backend.ingest.pages), in the sandbox, with the next pages after it:
  the milliseconds from asking to having the images, per request (p50, p95), over pages
  2, 6, 10, … of the text PDFs, with the web process's warm fork server.
- Office: each office file of the corpora and fixtures converted to PDF by the warm
  LibreOffice converter, seconds per page of the PDF made.

Writes bench/ingest/results.json (`text_pdf_ratio`, `ocr_ratio`, the figures behind them,
the machine and the command). Each copy of a file gets bytes appended after its end, so no
copy is a duplicate of another.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # for the bare runs, as the pipeline sets it
# The indexer gathers documents for up to INDEX_BATCH_SECONDS (10 s by default) before it
# writes them; a steady stream of uploads is not slowed by that, but a run of a few seconds
# would mostly time the wait for its last batch. 1 s here, said in the results.
os.environ["INDEX_BATCH_SECONDS"] = "1"

from run import (  # noqa: E402
    embedded_library,
    enqueue_all,
    load,
    peak_rss_sampler,
    reset_versions,
    run_async,
)

IMAGES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".gif", ".heic")
OFFICE = (".doc", ".xls", ".ppt", ".xlsx", ".pptx", ".ods", ".odp", ".wpd")


def _all_files() -> list[Path]:
    folders = [SHARED / "files", SHARED / "office" / "unstructured"]
    return sorted(p for f in folders for p in f.rglob("*") if p.is_file())


def text_pdfs() -> list[Path]:
    """PDFs that open without a password and have text on at least 80 % of their pages."""
    import pypdfium2 as pdfium

    chosen = []
    for path in _all_files():
        if path.suffix.lower() != ".pdf":
            continue
        try:
            doc = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError:
            continue
        with_text = sum(1 for page in doc if page.get_textpage().get_text_range().strip())
        if len(doc) and with_text >= 0.8 * len(doc):
            chosen.append(path)
        doc.close()
    return chosen


def images() -> list[Path]:
    from backend.ingest.parsers.image import harden_pillow, open_image

    harden_pillow(80_000_000)
    chosen = []
    for path in _all_files():
        if path.suffix.lower() not in IMAGES:
            continue
        try:
            open_image(path).close()
        except Exception:  # damaged or a bomb: the pipeline refuses it, no OCR to compare
            continue
        chosen.append(path)
    return chosen


def _bare_text(path: str) -> int:
    import pypdfium2 as pdfium

    from backend.ingest import thumbnails
    from backend.ingest.parsers.pdf import render_first_page

    doc = pdfium.PdfDocument(path)
    pages = 0
    for page in doc:
        page.get_textpage().get_text_range()
        pages += 1
    doc.close()
    with tempfile.TemporaryDirectory() as out:
        thumbnails.make(render_first_page(Path(path), thumbnails.LARGE[0]), Path(out))
    return pages


def _frames(path: str) -> list[object]:
    """The pages the pipeline reads: every frame of a TIFF, the first of anything else."""
    from PIL import ImageSequence

    from backend.ingest.parsers.image import harden_pillow, open_image

    harden_pillow(80_000_000)
    image = open_image(Path(path))
    if image.format != "TIFF":
        return [image.convert("RGB")]
    return [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]


def _bare_ocr(path: str) -> int:
    import pytesseract

    frames = _frames(path)
    for frame in frames:
        pytesseract.image_to_string(frame, lang="eng")
    return len(frames)


def bare(function, paths: list[Path], copies: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    work = [str(p) for p in paths] * copies
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool:
        pages = sum(pool.map(function, work, chunksize=1))
    return time.perf_counter() - started, pages


def pipeline(files: list[Path], copies: int, env: dict[str, str]) -> dict[str, float]:
    """The files through one warm worker, as deployed: started, and its fork server warmed
    by reading the first file once, before the clock starts; the clock stops when every
    document is ready (or failed) and in the search index."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "arq", "jobs.worker.WorkerSettings"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_async(load(files[:1], 1))
        run_async(enqueue_all())
        run_async(_until_done(1))
        run_async(_forget_all())
        count = run_async(load(files, copies))
        stop, peak = threading.Event(), []
        sampler = threading.Thread(target=peak_rss_sampler, args=([worker.pid], stop, peak))
        sampler.start()
        started = time.perf_counter()
        run_async(enqueue_all())
        run_async(_until_done(count))
        took = time.perf_counter() - started
        stop.set()
        sampler.join()
    finally:
        worker.terminate()
        worker.wait(30)
    ready, failed, pages = run_async(reset_versions())
    run_async(_forget_all())
    return {
        "documents": count,
        "ready": ready,
        "failed": failed,
        "pages": pages,
        "seconds": round(took, 1),
        "pages_per_s": round(pages / took, 2),
        "peak_mb": round(peak[0] / 2**20),
    }


async def _until_done(count: int) -> None:
    from sqlalchemy import text

    from backend.db import session_scope

    while True:
        async with session_scope() as session:
            done, waiting = (
                await session.exec(
                    text(
                        "SELECT (SELECT count(*) FROM document_versions "
                        "WHERE status NOT IN ('pending', 'processing')), "
                        "(SELECT count(*) FROM search_outbox)"
                    )
                )
            ).one()
        if done >= count and waiting == 0:
            return
        await asyncio.sleep(0.05)


async def _forget_all() -> None:
    from sqlalchemy import text

    from backend.db import session_scope

    async with session_scope() as session:
        await session.exec(text("TRUNCATE documents, collections, users CASCADE"))
        await session.commit()


async def drawing(paths: list[Path]) -> dict[str, float]:
    """The sandboxed drawing of pages on demand, as a web process does it."""
    import pypdfium2 as pdfium

    from backend.ingest import sandbox
    from backend.ingest.pages import WINDOW

    took, pages = [], 0
    with tempfile.TemporaryDirectory() as out:
        await sandbox.draw(paths[0], 1, 1, Path(out))  # the fork server starts once
        for path in paths:
            count = len(pdfium.PdfDocument(str(path)))
            for first in range(2, min(count, 40) + 1, WINDOW):
                started = time.perf_counter()
                result = await sandbox.draw(path, first, first + WINDOW - 1, Path(out))
                took.append(time.perf_counter() - started)
                pages += result.page_images
    took.sort()
    return {
        "requests": len(took),
        "pages": pages,
        "p50_ms": round(1000 * took[len(took) // 2]),
        "p95_ms": round(1000 * took[int(len(took) * 0.95)]),
        "ms_per_page": round(1000 * sum(took) / max(1, pages)),
    }


async def office(paths: list[Path]) -> list[dict[str, object]]:
    import pypdfium2 as pdfium

    from backend.ingest import sniff
    from backend.ingest.office_suite import OfficeSuite

    suite = OfficeSuite()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as out:
            warm = ROOT / "tests" / "fixtures" / "office" / "report.doc"
            await suite.convert(warm, sniff.sniff_file(warm, warm.name).mime_type, Path(out))
            for path in paths:
                found = sniff.sniff_file(path, path.name)
                if found.error:
                    continue
                started = time.perf_counter()
                try:
                    pdf = await suite.convert(path, found.mime_type, Path(out))
                except Exception as exc:
                    rows.append({"file": path.name, "error": str(exc)[:80]})
                    continue
                took = time.perf_counter() - started
                pages = len(pdfium.PdfDocument(str(pdf)))
                rows.append(
                    {
                        "file": path.name,
                        "pages": pages,
                        "seconds": round(took, 2),
                        "seconds_per_page": round(took / pages, 3),
                    }
                )
    finally:
        suite.stop()
    return rows


def paired(
    files: list[Path], bare_function: Any, copies: int, runs: int, env: dict[str, str]
) -> tuple[dict[str, float], float, int, list[float]]:
    """`runs` pairs of a pipeline run and a bare run, one after the other on the same files
    (this machine's speed drifts by 10-20 % from one minute to the next, so a ratio is only
    fair between neighbours): the pair whose ratio is the median, and every pair's ratio."""
    pairs = []
    for _ in range(runs):
        run = pipeline(files, copies, env)
        seconds, pages = bare(bare_function, files, copies)
        pairs.append((run["pages_per_s"] / (pages / seconds), run, seconds, pages))
    ratios = [round(p[0], 3) for p in pairs]
    _, run, seconds, pages = sorted(pairs, key=lambda p: p[0])[len(pairs) // 2]
    return run, seconds, pages, ratios


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"the corpus is not at {SHARED}")
    pdfs, pictures = text_pdfs(), images()
    office_files = [p for p in _all_files() if p.suffix.lower() in OFFICE]
    fixtures = (ROOT / "tests" / "fixtures" / "office").iterdir()
    office_files += sorted(
        p for p in fixtures if p.suffix in OFFICE and not p.name.startswith("locked")
    )
    with embedded_library("bench-ratios-") as env:
        text_run, text_s, text_pages, text_ratios = paired(
            pdfs, _bare_text, args.copies, args.runs, env
        )
        ocr_run, ocr_s, ocr_pages, ocr_ratios = paired(
            pictures, _bare_ocr, args.copies, args.runs, env
        )
        office_rows = asyncio.run(office(office_files))
        drawn = asyncio.run(drawing(pdfs))

    bare_text = text_pages / text_s
    bare_ocr = ocr_pages / ocr_s
    converted = [r for r in office_rows if "pages" in r]
    total_pages = sum(int(r["pages"]) for r in converted)  # type: ignore[call-overload]
    total_s = sum(float(r["seconds"]) for r in converted)  # type: ignore[arg-type]
    results = {
        "text_pdf_ratio": round(text_run["pages_per_s"] / bare_text, 3),
        "ocr_ratio": round(ocr_run["pages_per_s"] / bare_ocr, 3),
        "runs": args.runs,
        "text_pdf_ratios": text_ratios,
        "ocr_ratios": ocr_ratios,
        "text_pdfs": {
            "files": len(pdfs),
            "copies": args.copies,
            "pipeline": text_run,
            "bare_pages": text_pages,
            "bare_seconds": round(text_s, 1),
            "bare_pages_per_s": round(bare_text, 2),
        },
        "ocr": {
            "files": len(pictures),
            "copies": args.copies,
            "pipeline": ocr_run,
            "bare_pages": ocr_pages,
            "bare_seconds": round(ocr_s, 1),
            "bare_pages_per_s": round(bare_ocr, 2),
        },
        "pages_drawn_when_opened": drawn,
        "office": {
            "files": len(converted),
            "pages": total_pages,
            "seconds_per_page": round(total_s / max(1, total_pages), 3),
            "each": office_rows,
        },
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30),
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
        },
        "pipeline_setup": "one arq worker (4 jobs at once), started and warmed by one "
        "document before the clock; INDEX_BATCH_SECONDS=1",
        "command": f".venv/bin/python bench/ingest/ratios.py --copies {args.copies} "
        f"--runs {args.runs}",
    }
    out = ROOT / "bench" / "ingest" / "results.json"
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "office"}, indent=1))
    print("office:", results["office"]["seconds_per_page"], "s per page")  # type: ignore[index]


if __name__ == "__main__":
    main()
