"""OpenTelemetry traces, from a request or a websocket event to the jobs it queued and
the SQL, Redis, search server and object store calls they made.

Each web and worker process calls `configure` once at start. With
OTEL_EXPORTER_OTLP_ENDPOINT set (and the other standard OTEL_* variables: headers,
service name, sampler), spans are batched and sent over OTLP/HTTP; without it nothing is
recorded (the API's no-op tracer: no cost). Tests pass an exporter of their own (the
SDK's in-memory one).

- HTTP requests: the ASGI middleware (`asgi`), outermost in app/app.py; a caller's W3C
  `traceparent` is continued.
- Websocket events: Reflex's own trace points (reflex_base.otel), enabled here by the
  composition root with the same provider (`enable_reflex`).
- SQL (SQLAlchemy), Redis, httpx (Meilisearch) and botocore (S3): their instrumentations.
- Jobs: the enqueuing context is kept beside the job in Redis (backend.queue) and
  continued by the worker, whose span covers the job (`job_span`).
- Search: a span around the engine's query (`span`).
"""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import propagate, trace

log = logging.getLogger(__name__)
TRACER = "library"
_provider: Any = None  # the SDK's TracerProvider once configured


def enabled() -> bool:
    return _provider is not None


def configure(service: str, exporter: Any = None, engine: Any = None) -> bool:
    """Record traces in this process: to `exporter` if given (each span at once), else
    over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (in batches). `engine`: the
    process's SQLAlchemy engine, or what makes it (called only when tracing is on).
    True when on."""
    global _provider
    if _provider is not None:
        return True
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    _instrument_clients(engine)
    log.info("tracing on: %s", name)
    return True


def _instrument_clients(engine: Any) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    if callable(engine) and not hasattr(engine, "sync_engine"):
        engine = engine()
    # Its declared range stops before SQLAlchemy 2.1, whose engine events it uses are
    # unchanged (tests/backend/test_tracing.py sees the statements' spans).
    if engine is not None:
        SQLAlchemyInstrumentor().instrument(
            engine=getattr(engine, "sync_engine", engine), skip_dep_check=True
        )
    else:
        SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    RedisInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    BotocoreInstrumentor().instrument()


def shutdown() -> None:
    """Send what is buffered and stop recording (a test, or a process ending)."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    for instrumentor in (
        SQLAlchemyInstrumentor(),
        RedisInstrumentor(),
        HTTPXClientInstrumentor(),
        BotocoreInstrumentor(),
    ):
        instrumentor.uninstrument()
    _provider.force_flush()
    _provider = None


def asgi(app: Any) -> Any:
    """The app with a server span per HTTP request and websocket connection (when on)."""
    if not enabled():
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(app, tracer_provider=_provider)


def provider() -> Any:
    return _provider


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    with trace.get_tracer(TRACER).start_as_current_span(name, attributes=attributes) as s:
        yield s


def carrier() -> dict[str, str]:
    """The current trace context, to carry in a job."""
    found: dict[str, str] = {}
    propagate.inject(found)
    return found


def job_span(ctx: dict[str, Any], function: str, carried: dict[str, str]) -> None:
    """Start the job's span as a child of the context that queued it and make it current
    for the job (ended by `end_job_span`)."""
    parent = propagate.extract(carried) if carried else None
    s = trace.get_tracer(TRACER).start_span(
        f"job {function}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "arq", "messaging.message.id": str(ctx["job_id"])},
    )
    ctx["trace_token"] = context_api.attach(trace.set_span_in_context(s))
    ctx["trace_span"] = s


def end_job_span(ctx: dict[str, Any]) -> None:
    s, token = ctx.pop("trace_span", None), ctx.pop("trace_token", None)
    if s is not None:
        s.end()
    if token is not None:
        try:
            context_api.detach(token)
        except ValueError:  # ended in another context than it began: nothing to restore
            pass
