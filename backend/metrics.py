"""What each process counts for Prometheus (the page that adds them up is
backend.operations.metrics).

Started by the launcher, every web and worker process writes its counts to files in
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode; the launcher empties
the folder at start), so the page adds up every process. A process started on its own (a
test, a shell) counts in memory.
"""

from collections.abc import Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

HTTP_REQUESTS = Counter(
    "library_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "library_http_request_seconds", "Time to answer an HTTP request", ["route"], buckets=FAST
)
WS_CONNECTIONS = Counter("library_websocket_connections_total", "Websocket connections opened")
WS_EVENTS = Counter(
    "library_websocket_events_total", "Websocket events received", ["handler", "outcome"]
)
WS_EVENT_SECONDS = Histogram(
    "library_websocket_event_seconds",
    "Time a websocket event's handler takes, by handler",
    ["handler"],
    buckets=FAST,
)
SEARCHES = Counter("library_searches_total", "Searches answered", ["cached", "typing"])
SEARCH_SECONDS = Histogram(
    "library_search_seconds", "Time to answer a search", ["cached"], buckets=FAST
)
INGEST_STEP_SECONDS = Histogram(
    "library_ingest_step_seconds",
    "Time a file spends in each pipeline step",
    ["step"],
    buckets=SLOW,
)
INGEST_OUTCOMES = Counter(
    "library_ingest_outcomes_total", "Files through the pipeline, by how they ended", ["status"]
)
INGEST_FAILURES = Counter(
    "library_ingest_failures_total", "Files the pipeline could not read, by step", ["step"]
)
DEPENDENCY_FAILURES = Counter(
    "library_dependency_failures_total",
    "Calls to a service that failed, timed out, or were refused by its open circuit",
    ["dependency", "reason"],
)
DATABASE_READS = Counter(
    "library_database_reads_total",
    "Units of work for reads that may be stale, by the server that answered them",
    ["server"],
)
UPLOADS = Counter("library_documents_uploaded_total", "Files received (each version counts)")


def route_of(scope: Mapping[str, Any]) -> str:
    """A label of bounded variety for a request: the API's route template, the socket or
    upload endpoint, or "page" for the pages and their static files."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    raw = str(scope.get("path", ""))
    for known in ("/_event", "/_upload", "/_health", "/ping"):
        if raw.startswith(known):
            return known
    return "page"
