"""How long each websocket event's handler takes, by handler, for Prometheus
(`library_websocket_event_seconds`).

Reflex times every event itself, in its OpenTelemetry trace points (reflex_base.otel:
one span per handler run, chained events included). `install` turns them on with a span
processor that records each event span's duration in the histogram: with traces sent
over OTLP (backend.tracing) the same spans are exported too; without, a provider of our
own keeps nothing but the figures. Installed once by app/app.py, so every handler,
present and future, is timed.
"""

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from reflex_base import otel as reflex_otel
from reflex_base.registry import RegistrationContext

from backend import metrics, tracing

EVENT_NAME = "reflex.event.name"


def handler_label(event_name: str) -> str:
    """The handler's qualified name, as library_websocket_events_total names it."""
    try:
        registered = RegistrationContext.get().event_handlers.get(event_name)
    except LookupError:
        registered = None
    if registered is None:
        return event_name.rsplit(".", 1)[-1][:80]
    return str(registered.handler.fn.__qualname__)


class EventTimer(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        name = (span.attributes or {}).get(EVENT_NAME)
        if not isinstance(name, str) or span.start_time is None or span.end_time is None:
            return
        seconds = (span.end_time - span.start_time) / 1e9
        metrics.WS_EVENT_SECONDS.labels(handler_label(name)).observe(max(0.0, seconds))


def install(provider: Any = None) -> None:
    """Reflex's event trace points on, timed into the histogram; spans exported through
    `provider` (the tracing one, if tracing is on), else kept nowhere."""
    chosen = provider or tracing.provider() or TracerProvider()
    if not getattr(chosen, "_library_timed", False):
        chosen.add_span_processor(EventTimer())
        setattr(chosen, "_library_timed", True)  # noqa: B010  (a provider has no such field)
    reflex_otel.disable()
    reflex_otel.enable(tracer_provider=chosen)
