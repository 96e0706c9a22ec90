"""Shared by the benchmarks: a throwaway library (embedded PostgreSQL + data folder)."""

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))


@contextmanager
def throwaway_library(prefix: str, keep: Path | None = None) -> Iterator[Path]:
    """An embedded PostgreSQL and Redis and a data folder in a temporary folder.

    With `keep`, that folder instead, left in place afterwards: a second run finds the
    library the first one loaded (see `loaded`)."""
    from backend.embedded import EmbeddedPostgres, EmbeddedRedis

    tmp = keep or Path(tempfile.mkdtemp(prefix=prefix))
    tmp.mkdir(parents=True, exist_ok=True)
    pg, redis = EmbeddedPostgres(tmp / "pg", database="bench"), EmbeddedRedis(tmp / "redis")
    env = {"DATA_DIR": str(tmp / "data"), "ENVIRONMENT": "development"}
    # Stopped with SIGTERM (kill, a timeout), the servers are stopped too: without this,
    # Python would end at once and leave them running.
    before = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        env["DATABASE_URL"], env["REDIS_URL"] = pg.start(), redis.start()
        os.environ.update(env)
        from backend.migrate import upgrade

        upgrade(env["DATABASE_URL"])
        yield tmp
    finally:
        redis.stop()
        pg.stop()
        signal.signal(signal.SIGTERM, before)
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def loaded(folder: Path, what: str) -> bool:
    """Whether a kept library (throwaway_library's `keep`) already holds `what`."""
    return (folder / f"loaded-{what}").exists()


def percentile(values: list[float], p: float) -> float:
    """The p-quantile (0..1) of the values, interpolated between the two nearest."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = subprocess.run(
            ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        cpu = model or cpu
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GB RAM, Python {platform.python_version()}"


async def bulk_load(
    records: list[dict],  # type: ignore[type-arg]
    collection_name: str = "Bench",
    engine: "AsyncEngine | None" = None,
    public: bool = True,
    catalogue: bool = False,
) -> list[int]:
    """Insert ready documents straight into PostgreSQL (no files, no pipeline), fast.

    Each record: title, text, and optionally pages (the text page by page), authors,
    subjects, description, year, language, mime. Returns the new document ids in the order
    of `records`. With
    `catalogue`, each document also gets its catalogue record (as the pipeline would give
    it: creators, subjects in the tree, year, language, type) and its browse entries.
    """
    import json

    from sqlalchemy import text

    from backend.db import get_engine

    engine = engine or get_engine()
    async with engine.begin() as conn:
        cid = (
            await conn.execute(
                text(
                    "INSERT INTO collections (name, slug, description, is_public, created_at) "
                    "VALUES (:n, :s, '', :p, now()) RETURNING id"
                ).bindparams(
                    n=collection_name, s=collection_name.lower().replace(" ", "-"), p=public
                )
            )
        ).scalar_one()
        raw = await conn.get_raw_connection()
        pg = raw.driver_connection
        async with pg.cursor() as cur:
            await cur.execute(
                "SELECT nextval('documents_id_seq') FROM generate_series(1, %s)", (len(records),)
            )
            doc_ids = [r[0] for r in await cur.fetchall()]
            await cur.execute(
                "SELECT nextval('document_versions_id_seq') FROM generate_series(1, %s)",
                (len(records),),
            )
            version_ids = [r[0] for r in await cur.fetchall()]
            async with cur.copy(
                "COPY documents (id, collection_id, title, created_at, updated_at) FROM STDIN"
            ) as copy:
                for did, r in zip(doc_ids, records, strict=True):
                    await copy.write_row((did, cid, r["title"][:500] or "(untitled)", "now", "now"))
            async with cur.copy(
                "COPY document_versions (id, document_id, version_no, file_key, filename, sha256,"
                " size, declared_mime, mime_type, created_at, status, step, error, meta,"
                " language, thumbnail_key, preview_key, warnings, attempts, duplicate_accepted)"
                " FROM STDIN"
            ) as copy:
                for did, vid, r in zip(doc_ids, version_ids, records, strict=True):
                    meta = {
                        k: r[k] for k in ("authors", "subjects", "description", "year") if r.get(k)
                    }
                    await copy.write_row(
                        (
                            vid,
                            did,
                            1,
                            f"bench/{vid}",
                            f"{vid}.txt",
                            f"{vid:064d}",
                            len(r["text"]),
                            "text/plain",
                            r.get("mime", "text/plain"),
                            "now",
                            "ready",
                            "done",
                            "",
                            json.dumps(meta),
                            r.get("language", ""),
                            "",
                            "",
                            "",
                            0,
                            False,
                        )
                    )
            async with cur.copy(
                "COPY document_pages (version_id, page_no, text) FROM STDIN"
            ) as copy:
                for vid, r in zip(version_ids, records, strict=True):
                    for no, page in enumerate(r.get("pages") or [r["text"]], start=1):
                        await copy.write_row((vid, no, page))
            await cur.execute(
                "UPDATE documents d SET current_version_id = v.id, listed = true"
                " FROM document_versions v WHERE v.document_id = d.id AND d.collection_id = %s",
                (cid,),
            )
            if catalogue:
                await _catalogue(cur, cid, doc_ids, records)
            # As every change does, tell the search indexer.
            await cur.execute(
                "INSERT INTO search_outbox (document_id, created_at)"
                " SELECT id, now() FROM documents WHERE collection_id = %s",
                (cid,),
            )
    return doc_ids


async def _catalogue(cur, collection_id: int, doc_ids: list[int], records: list[dict]) -> None:  # type: ignore[no-untyped-def, type-arg]
    """What `backend.documents.metadata.adopt_version` writes, in bulk: COPY instead of a
    statement per row, the browse entries by one INSERT with the count trigger off, then
    the counts made once from the entries."""
    from functools import lru_cache

    from backend.browse.service import ENTRIES_SQL
    from backend.documents.metadata import clean_names, person_key, sort_name, subject_path
    from backend.search.engine import fold, sort_title

    named = lru_cache(maxsize=None)(lambda n: (sort_name(n)[:200], person_key(n)))
    subject_ids: dict[tuple[str, ...], int] = {}

    async def subject(path: tuple[str, ...]) -> int:
        if path in subject_ids:
            return subject_ids[path]
        parent = await subject(path[:-1]) if len(path) > 1 else None
        await cur.execute(
            "INSERT INTO subjects (parent_id, name, sort_key, path) VALUES (%s, %s, %s, '')"
            " ON CONFLICT (parent_id, sort_key) DO UPDATE SET name = EXCLUDED.name"
            " RETURNING id",
            (parent, path[-1][:200], fold(path[-1])[:200]),
        )
        sid = (await cur.fetchone())[0]
        await cur.execute(
            "UPDATE subjects SET path = coalesce((SELECT path FROM subjects WHERE id = %s), '/')"
            " || id || '/' WHERE id = %s",
            (parent, sid),
        )
        subject_ids[path] = sid
        return sid

    rows_people, rows_subjects = [], []
    for did, r in zip(doc_ids, records, strict=True):
        for i, name in enumerate(clean_names(r.get("authors"))):
            rows_people.append((did, "creator", i, name, *named(name)))
        seen: set[int] = set()
        for value in clean_names(r.get("subjects")):
            path = tuple(subject_path(value))
            if path:
                sid = await subject(path)
                if sid not in seen:
                    rows_subjects.append((did, sid, len(seen)))
                    seen.add(sid)
    await cur.execute(
        "CREATE TEMP TABLE bulk_record (id int, title_sort text, year int, language text)"
        " ON COMMIT DROP"
    )
    async with cur.copy("COPY bulk_record FROM STDIN") as copy:
        for did, r in zip(doc_ids, records, strict=True):
            year = r.get("year") if isinstance(r.get("year"), int) else None
            title = r["title"][:500] or "(untitled)"
            await copy.write_row((did, sort_title(title)[:300], year, r.get("language", "")))
    await cur.execute(
        "UPDATE documents d SET title_sort = b.title_sort, year = b.year,"
        " language = b.language, kind = 'text', listed = true, metadata_source = 'extracted',"
        " date_issued = coalesce(b.year::text, '') FROM bulk_record b WHERE b.id = d.id"
    )
    async with cur.copy(
        "COPY document_people (document_id, role, position, name, sort_name, sort_key) FROM STDIN"
    ) as copy:
        for row in rows_people:
            await copy.write_row(row)
    async with cur.copy(
        "COPY document_subjects (document_id, subject_id, position) FROM STDIN"
    ) as copy:
        for row in rows_subjects:
            await copy.write_row(row)
    await cur.execute("SET LOCAL session_replication_role = replica")  # no count trigger
    await cur.execute(ENTRIES_SQL.replace(":ids", "%(ids)s"), {"ids": doc_ids})
    await cur.execute("SET LOCAL session_replication_role = origin")
    await cur.execute("SELECT browse_recount()")


BULK = CORPUS / "bulk"
_LANGS = {
    "eng": "en",
    "en-us": "en",
    "en-gb": "en",
    "en-ca": "en",
    "spa": "es",
    "fre": "fr",
    "ger": "de",
    "ita": "it",
    "por": "pt",
    "jpn": "ja",
    "ara": "ar",
    "nl": "nl",
    "rus": "ru",
    "pol": "pl",
    "swe": "sv",
    "dan": "da",
    "tur": "tr",
    "ind": "id",
}


def bulk_records(which: tuple[str, ...] = ("goodbooks", "debian", "pypi")) -> Iterator[dict]:  # type: ignore[type-arg]
    """The ~960,000 real records of ../shared/corpus/bulk as documents for bulk_load."""
    import gzip
    import json

    if "goodbooks" in which:
        with gzip.open(BULK / "goodbooks_10k.jsonl.gz", "rt") as fh:
            for line in fh:
                r = json.loads(line)
                lang = str(r.get("language") or "").lower()
                yield {
                    "title": r["title"],
                    "text": r.get("original_title") or r.get("text") or "",
                    "authors": r.get("authors") or [],
                    "year": r.get("year"),
                    "language": _LANGS.get(lang, lang[:2] if lang else ""),
                }
    if "debian" in which:
        with gzip.open(BULK / "debian_bookworm_packages.jsonl.gz", "rt") as fh:
            for line in fh:
                r = json.loads(line)
                yield {
                    "title": f"{r['package']}: {r['title']}",
                    "text": r.get("text") or "",
                    "authors": [r["author"]] if r.get("author") else [],
                    # "game::strategy": a branch of the subject tree
                    "subjects": [r["section"], *r.get("tags", [])] if r.get("section") else [],
                    "language": "en",
                }
    if "pypi" in which:
        with gzip.open(BULK / "pypi_projects.jsonl.gz", "rt") as fh:
            for line in fh:
                r = json.loads(line)
                yield {
                    "title": r["title"],
                    "text": r.get("text") or "",
                    "year": r.get("year"),
                    "language": "",
                }


def write_section(md: Path, heading: str, lines: list[str], title: str = "# Results") -> None:
    """Put `lines` (starting with the blank line before "## heading") in place of the
    section of results.md with that heading, keeping every other section; appended when
    the file has none yet."""
    text = md.read_text() if md.exists() else f"{title}\n"
    marker = f"\n## {heading}"
    before, found, rest = text.partition(marker)
    after = ""
    if found and "\n## " in rest:
        after = "\n## " + rest.split("\n## ", 1)[1]
    md.write_text(before.rstrip("\n") + "\n" + "\n".join(lines).rstrip("\n") + "\n" + after)


@contextmanager
def served_api(log_path: Path, workers: int = 2) -> Iterator[str]:
    """The REST API behind the gateway (bench/api/serve.py) served by granian, the server
    the app runs on in production, on a free port: its base URL once it answers. Stopped
    on leaving; its output goes to `log_path`."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers), "--no-ws",
             "--log-level", "warning", "bench.api.serve:app"],
            cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/v1/health/live", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not start: see {log_path}")
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            server.wait(30)
