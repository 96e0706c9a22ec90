"""Extraction, language and thumbnails of one file, in a child process under limits.

Hostile files (decompression bombs, parser crashes, endless loops) can only take down
the child: the parent maps its death to a reason a librarian can read.

Children fork from a fork server that imported every parser once (backend.ingest.preload),
so a file costs no interpreter start. Each child writes result.json (and small.webp,
large.webp) into the request's output folder.
"""

import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import shutil
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.settings import Settings, get_settings


@dataclass
class SandboxResult:
    pages: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    language: str = ""
    thumbnails: dict[str, str] = field(default_factory=dict)
    page_images: int = 0  # page-0001.webp, … (PDFs)
    boxes: list[list[float]] = field(default_factory=list)  # of words on a page (find_words)
    error: str = ""
    needs_password: bool = False  # `error` says so
    # The failure came from the moment, not the file (a reading cut short on a busy
    # machine, a child lost without an answer): sending it again may succeed.
    retryable: bool = False


def _limits(settings: Settings) -> dict[str, Any]:
    return {
        "max_pages": settings.extract_max_pages,
        "max_unpacked": settings.zip_max_unpacked_bytes,
        "max_files": settings.zip_max_files,
        "ocr_enabled": settings.ocr_enabled,
        "ocr_languages": settings.ocr_languages,
        "ocr_max_pages": settings.ocr_max_pages,
    }


def _child(request: dict[str, Any]) -> SandboxResult:
    from backend.ingest import language, thumbnails
    from backend.ingest.parsers import ParseError, parse
    from backend.ingest.parsers.base import PasswordRequired, clean_meta
    from backend.ingest.parsers.image import harden_pillow
    from backend.ingest.parsers.pdf import render_first_page, render_pages

    harden_pillow(request["max_image_pixels"])
    original, outdir = Path(request["path"]), Path(request["outdir"])
    path, mime = original, request["mime"]
    if request.get("converted"):  # an office file LibreOffice turned into this PDF
        path, mime = Path(request["converted"]), "application/pdf"
    try:
        parsed = parse(path, mime, **request["limits"])
        if path != original:
            from backend.ingest.parsers.office import office_properties

            # The PDF's own dates and producer are the conversion's, not the document's.
            parsed.meta = {"page_count": parsed.meta.get("page_count")}
            parsed.meta.update(office_properties(original))
    except PasswordRequired as exc:
        return SandboxResult(error=str(exc), needs_password=True)
    except ParseError as exc:
        return SandboxResult(error=str(exc))
    except MemoryError:
        return SandboxResult(error="Reading the file needs more memory than allowed.")
    result = SandboxResult(
        pages=parsed.pages, meta=clean_meta(parsed.meta), warnings=parsed.warnings
    )
    result.language = language.detect(parsed.pages)
    first_page = None  # a PDF's first page, drawn once: its cover and its first page image
    try:
        cover = parsed.cover
        if cover is None and mime == "application/pdf" and parsed.pages:
            cover = first_page = render_first_page(path, thumbnails.PAGE_WIDTH)
        if cover is None and any(p.strip() for p in parsed.pages):
            # No picture in the file: its first text, drawn as a page.
            first = next(p for p in parsed.pages if p.strip())
            cover = thumbnails.text_page(first[:6000], str(parsed.meta.get("title") or ""))
        if cover is not None:
            result.thumbnails = thumbnails.make(cover, outdir)
    except MemoryError:
        result.warnings.append("no thumbnail: it needs more memory than allowed")
    except (ParseError, OSError, ValueError) as exc:
        result.warnings.append(f"no thumbnail: {exc}")
    except Exception as exc:  # a preview must never cost the document
        result.warnings.append(f"no thumbnail: {type(exc).__name__}")
    if (
        mime == "application/pdf"
        and parsed.pages
        and "damaged PDF" not in " ".join(parsed.warnings)
    ):
        # The first pages as images now (the first one is the cover, drawn once); the
        # others when a reader first opens them (backend.ingest.pages, through draw()).
        try:
            start = 1
            if first_page is not None and thumbnails.same_as_large(first_page, result.thumbnails):
                # The large preview is this very page at this very size: one file for both.
                shutil.copyfile(outdir / result.thumbnails["large"], outdir / "page-0001.webp")
                start = 2
            elif first_page is not None:
                thumbnails.page_images([first_page], outdir)
                start = 2
            pages = render_pages(path, thumbnails.PAGE_WIDTH, start, thumbnails.PAGE_IMAGES)
            result.page_images = start - 1 + thumbnails.page_images(pages, outdir, start)
        except MemoryError:
            result.warnings.append("no page images: they need more memory than allowed")
        except Exception as exc:  # as above: never the document's loss
            result.warnings.append(f"no page images: {type(exc).__name__}")
    return result


def _draw(request: dict[str, Any]) -> SandboxResult:
    """Pages of a PDF read before, as page-NNNN.webp: what draw() asks of a child."""
    from backend.ingest import thumbnails
    from backend.ingest.parsers.image import harden_pillow
    from backend.ingest.parsers.pdf import render_pages

    harden_pillow(request["max_image_pixels"])
    first, last = request["draw"]
    pages = render_pages(Path(request["path"]), thumbnails.PAGE_WIDTH, first, last)
    return SandboxResult(page_images=thumbnails.page_images(pages, Path(request["outdir"]), first))


def _boxes(request: dict[str, Any]) -> SandboxResult:
    """Where words stand on a PDF's page: what find_words() asks of a child."""
    from backend.ingest.parsers.pdf import word_boxes

    page_no, words = request["boxes"]
    ocr = tuple(request.get("ocr", ()))
    return SandboxResult(boxes=word_boxes(Path(request["path"]), page_no, words, ocr))


def _child_main(request_file: str, memory_mb: int, cpu_seconds: int) -> None:
    """Entry point of a sandbox child: limits first, then the work, then the result file."""
    os.setsid()  # its own process group, so helpers it starts (tesseract) die with it
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(5)
    try:
        request = json.loads(Path(request_file).read_text())
    except FileNotFoundError:
        return  # its caller gave up (a reader left the page) and took its folder away
    out = Path(request["outdir"]) / "result.json"
    try:
        if request.get("draw"):
            result = _draw(request)
        elif request.get("boxes"):
            result = _boxes(request)
        else:
            result = _child(request)
    except MemoryError:
        result = SandboxResult(error="Reading the file needs more memory than allowed.")
    except Exception as exc:
        result = SandboxResult(
            error=f"The reader failed on this file ({type(exc).__name__}: {str(exc)[:300]})."
        )
    out.write_text(json.dumps(asdict(result), ensure_ascii=False))


_CONTEXT: Any = None
# What the fork server imports before its first child, decided by that child: a process
# that reads files (the worker) gets every parser's libraries (backend.ingest.preload,
# 200 MB); one that only draws pages (a web process) gets what drawing needs (40 MB).
# This module too: a child unpickles its target (_child_main) by importing it, which, not
# preloaded, cost each file about 100 ms of imports.
SETUP = "backend.ingest.forkserver_setup"  # first: children skip their parent's __main__
READING = [SETUP, "backend.ingest.preload", __name__]
DRAWING = [SETUP, __name__, "backend.ingest.thumbnails", "backend.ingest.parsers.pdf", "pypdfium2"]


def _context(preload: list[str]) -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(preload)
        _CONTEXT = context
    return _CONTEXT


async def run(
    path: Path,
    mime: str,
    outdir: Path,
    settings: Settings | None = None,
    *,
    converted: Path | None = None,
) -> SandboxResult:
    """Process one file in a limited child; never raises for a hostile file.

    `converted` is the PDF an office file became (backend.ingest.office_suite): its pages
    are read, and the file itself gives the record."""
    settings = settings or get_settings()
    request = {
        "path": str(path),
        "converted": str(converted) if converted else "",
        "mime": mime,
        "outdir": str(outdir),
        "limits": _limits(settings),
        "max_image_pixels": settings.max_image_pixels,
    }
    return await _run(request, outdir, settings, READING)


async def draw(
    pdf: Path, first: int, last: int, outdir: Path, settings: Settings | None = None
) -> SandboxResult:
    """Pages `first` to `last` of a PDF drawn as page-NNNN.webp in `outdir`, in a limited
    child as any reading; `page_images` says how many (the PDF may have fewer pages)."""
    settings = settings or get_settings()
    request = {
        "path": str(pdf),
        "draw": [first, last],
        "outdir": str(outdir),
        "max_image_pixels": settings.max_image_pixels,
    }
    return await _run(request, outdir, settings, DRAWING)


async def find_words(
    pdf: Path,
    page_no: int,
    words: list[str],
    outdir: Path,
    settings: Settings | None = None,
    ocr: tuple[str, ...] = (),
) -> SandboxResult:
    """Where `words` stand on page `page_no` of a PDF (`boxes`), read in a limited child as
    any reading of a file; a page without a text layer read by OCR in the `ocr` languages."""
    request = {
        "path": str(pdf),
        "boxes": [page_no, words],
        "outdir": str(outdir),
        "ocr": list(ocr),
    }
    return await _run(request, outdir, settings or get_settings(), DRAWING)


async def _run(
    request: dict[str, Any], outdir: Path, settings: Settings, preload: list[str]
) -> SandboxResult:
    result = await _run_once(request, outdir, settings, preload)
    if result.error.startswith(NO_ANSWER):
        # Seen under heavy load: the fork server lost the child's exit status. Once more.
        result = await _run_once(request, outdir, settings, preload)
    return result


NO_ANSWER = "The reader stopped without an answer"


async def _run_once(
    request: dict[str, Any], outdir: Path, settings: Settings, preload: list[str]
) -> SandboxResult:
    request_file = outdir / "request.json"
    request_file.write_text(json.dumps(request))
    (outdir / "result.json").unlink(missing_ok=True)
    proc = _context(preload).Process(
        target=_child_main,
        args=(str(request_file), settings.extract_memory_mb, settings.extract_cpu_seconds),
        daemon=True,
    )
    # Starting waits for the fork server to fork (5 ms idle, 30 ms on a busy machine): in a
    # thread, so the worker's other jobs go on meanwhile.
    starting = asyncio.ensure_future(asyncio.to_thread(proc.start))
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await starting  # it finishes in its thread either way: then the child is ended
        _kill(proc.pid)
        raise
    try:
        await asyncio.wait_for(asyncio.to_thread(proc.join), settings.extract_wall_seconds)
    except TimeoutError:
        _kill(proc.pid)
        await asyncio.to_thread(proc.join)
        return SandboxResult(
            error=f"Reading the file took longer than {settings.extract_wall_seconds} s.",
            retryable=True,  # on a busy machine: another time it may not
        )
    except asyncio.CancelledError:
        _kill(proc.pid)
        raise
    result_file = outdir / "result.json"
    if result_file.exists():
        # Written last, so a complete file is a complete answer, whatever the exit status.
        try:
            return SandboxResult(**json.loads(result_file.read_text()))
        except (ValueError, TypeError):
            pass
    reason = _death_reason(proc.exitcode)
    return SandboxResult(error=reason, retryable=reason.startswith(NO_ANSWER))


def _kill(pid: int | None) -> None:
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        # Not its own group yet (killed before its first line ran): the process itself.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _death_reason(code: int | None) -> str:
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return "Reading the file used more processor time than allowed."
    if code == -signal.SIGABRT:
        # C++ parsers abort on std::bad_alloc when the memory limit is reached.
        return "Reading the file needs more memory than allowed."
    if code is not None and code < 0:
        return f"The reader crashed on this file (signal {signal.Signals(-code).name})."
    return f"{NO_ANSWER} (exit code {code})."
