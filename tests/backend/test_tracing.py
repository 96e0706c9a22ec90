"""OpenTelemetry traces (backend.tracing), recorded by the SDK's in-memory exporter: one
trace from an HTTP request through its SQL to the jobs it queued (run by a real arq
worker) and the SQL and jobs of those; a search's engine span; a websocket event's span
from Reflex's own trace points."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import tracing
from backend.api.routes import create_api
from backend.auth import service as auth
from backend.db import get_engine
from backend.redis_client import get_redis
from backend.settings import get_settings
from backend.users.models import Role
from backend.web.gateway import wrap
from tests.factories import PASSWORD, make_collection, make_user
from tests.worker import run_burst


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    assert tracing.configure("library-test", exporter=found, engine=get_engine)
    yield found
    tracing.shutdown()


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def traced_client() -> httpx.AsyncClient:
    app = tracing.asgi(wrap(create_api(), get_settings(), upload_path="/_upload"))
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://library.test")


def by_name(found: Any, name: str) -> list[Any]:
    return [s for s in found if s.name == name]


def test_nothing_is_recorded_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    if tracing.enabled():
        pytest.skip("this module's tracing is on (the check runs first when run alone)")
    assert tracing.configure("library-test") is False and not tracing.enabled()


async def test_one_trace_from_a_request_to_the_jobs_it_queued(
    spans: InMemorySpanExporter, db: AsyncSession, clean: None
) -> None:
    librarian = await make_user(db, Role.LIBRARIAN)
    shelf = await make_collection(db, librarian, "Shelf")
    await db.commit()
    login = await auth.login(
        session=db, redis=get_redis(), email=librarian.email, password=PASSWORD
    )
    await db.commit()
    spans.clear()
    async with traced_client() as api:
        sent = await api.post(
            f"/api/v1/collections/{shelf.id}/documents",
            params={"filename": "log.txt"},
            content=b"The lighthouse keeper's log.\n",
            headers={
                "Authorization": f"Bearer {login.token}",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            },
        )
    assert sent.status_code == 202
    await run_burst()
    found = spans.get_finished_spans()
    server = [s for s in found if s.name.startswith("POST /api/v1/collections")]
    assert server, [s.name for s in found]
    trace_id = server[0].context.trace_id
    assert trace_id == 0x0AF7651916CD43DD8448EB211C80319C  # the caller's trace, continued
    in_trace = [s for s in found if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert "job ingest_version" in names
    assert "job index_outbox" in names  # queued by the ingest job, in the same trace
    job = by_name(in_trace, "job ingest_version")[0]
    # SQL of the request and of the job, each under its own span.
    sql = [s for s in in_trace if s.attributes and s.attributes.get("db.system") == "postgresql"]
    assert any(s.parent and s.parent.span_id == job.context.span_id for s in sql) or any(
        s.start_time >= job.start_time and s.end_time <= job.end_time for s in sql
    )
    assert any(s.start_time <= server[0].end_time for s in sql)


async def test_a_search_shows_its_engine_and_a_websocket_event_its_handler(
    spans: InMemorySpanExporter, clean: None
) -> None:
    async with traced_client() as api:
        assert (await api.get("/api/v1/search", params={"q": "lighthouse"})).status_code == 200
    found = spans.get_finished_spans()
    engine = by_name(found, "search.engine")
    server = [s for s in found if s.name == "GET /api/v1/search"]
    assert engine and server
    assert engine[0].context.trace_id == server[0].context.trace_id
    assert engine[0].attributes["library.search.engine"] == "tantivy"

    from state import event_timing
    from tests.state.tabs import Tabs

    spans.clear()
    event_timing.install(tracing.provider())  # as app/app.py does when tracing is on
    try:
        async with Tabs() as tabs:
            await tabs.open("/search?q=keeper+log")  # not cached: the engine is asked
    finally:
        event_timing.install(TracerProvider())  # back to timing only
    found = spans.get_finished_spans()
    events = [s for s in found if s.attributes and "reflex.event.name" in s.attributes]
    load = [s for s in events if s.attributes["reflex.event.name"].endswith("search_state.load")]
    assert load, [s.attributes.get("reflex.event.name") for s in events]
    engine = by_name(found, "search.engine")
    assert engine and engine[0].context.trace_id == load[0].context.trace_id
