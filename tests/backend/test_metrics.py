"""Prometheus metrics: the page behind its token, what the gateway, the event guard, the
search service and the pipeline count, and several processes adding up (multiprocess
mode, with real processes)."""

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.metrics import MULTIPROC_ENV
from backend.operations.metrics import page
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import Role
from tests.factories import make_collection, make_user, upload_bytes
from tests.worker import run_burst

ROOT = Path(__file__).resolve().parents[2]


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_page_is_only_for_the_scraper_with_the_token(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await api.get("/metrics")).status_code == 404  # no token set: no page
    monkeypatch.setattr(get_settings(), "metrics_token", "scrape-secret-0123456789")
    assert (await api.get("/metrics")).status_code == 404
    wrong = {"Authorization": "Bearer guess"}
    assert (await api.get("/metrics", headers=wrong)).status_code == 404
    route = "/api/v1/documents/{document_id}/record"
    before = _value("library_http_requests_total", route=route, method="GET", status="404")
    await api.get("/api/v1/documents/5/record")
    right = {"Authorization": "Bearer scrape-secret-0123456789"}
    answer = await api.get("/metrics", headers=right)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    after = _value("library_http_requests_total", route=route, method="GET", status="404")
    assert after == before + 1  # one label per route template, not per id
    assert f'library_http_requests_total{{method="GET",route="{route}",status="404"}}' in text
    for read in ("library_queue_jobs", "library_search_outbox_lag_seconds", "library_stored_bytes"):
        assert f"\n{read} " in text


async def test_searches_and_pipeline_steps_are_counted(db: AsyncSession, data_dir: Path) -> None:
    from backend.search import service as search

    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian)
    uploads = _value("library_documents_uploaded_total")
    ready = _value("library_ingest_outcomes_total", status="ready")
    extract = _value("library_ingest_step_seconds_count", step="extract")
    await upload_bytes(db, librarian, shelf, b"narwhal migrations\n", "narwhal.txt")
    await db.commit()
    await run_burst()
    assert _value("library_documents_uploaded_total") == uploads + 1
    assert _value("library_ingest_outcomes_total", status="ready") == ready + 1
    assert _value("library_ingest_step_seconds_count", step="extract") == extract + 1
    fresh = _value("library_searches_total", cached="no", typing="no")
    cached = _value("library_searches_total", cached="yes", typing="no")
    for _ in range(2):
        await search.search(session=db, actor=librarian, query="narwhal")
    assert _value("library_searches_total", cached="no", typing="no") == fresh + 1
    assert _value("library_searches_total", cached="yes", typing="no") == cached + 1
    text = (await page(db, get_redis())).decode()
    assert 'library_document_versions{status="ready"} 1.0' in text


COUNTING = """
import os, sys
os.environ[{env!r}] = sys.argv[1]
sys.path.insert(0, {root!r})
from backend import metrics
metrics.HTTP_REQUESTS.labels("/api/v1/things", "GET", "200").inc(int(sys.argv[2]))
metrics.SEARCH_SECONDS.labels("no").observe(0.02)
"""


async def test_several_processes_add_up(
    db: AsyncSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes count into the folder (as two web processes would); the page reads
    the sum, whichever process serves it."""
    script = COUNTING.format(env=MULTIPROC_ENV, root=str(ROOT))
    for count in ("3", "4"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path), count], check=True)
    assert len(list(tmp_path.glob("*.db"))) >= 2  # a file per process
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    text = (await page(db, get_redis())).decode()
    assert (
        'library_http_requests_total{method="GET",route="/api/v1/things",status="200"} 7.0' in text
    )
    assert 'library_search_seconds_count{cached="no"} 2.0' in text
