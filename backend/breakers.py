"""Timeouts and circuit breakers around the services a request waits on.

A search, a thumbnail or an upload must not hang because the search server, the object
store or clamd stopped answering. Each of them is called through its `Dependency`:

- every call gets a deadline (settings: search_timeout_seconds, storage_timeout_seconds);
- after `breaker_failures` failures in a row (no connection, a timeout, a 5xx), the
  circuit opens: for `breaker_recovery_seconds` the service is not asked at all, and
  callers get `Unavailable` ("... is not answering; try again in N s") at once;
- then one call is let through again (half-open); its success closes the circuit.

The circuit is per process (each web and worker process judges for itself, as a load
balancer's health check does). Failures are counted in Prometheus
(`library_dependency_failures_total`). The circuits are fabfuel's `circuitbreaker`.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from circuitbreaker import CircuitBreaker

from backend import metrics
from backend.errors import Unavailable
from backend.settings import get_settings

T = TypeVar("T")


class Failure(Exception):
    """Raised inside a call to say "the service failed" where the client library's own
    error is not an OSError (httpx's and botocore's, an HTTP 5xx answer): the circuit
    counts it."""


@dataclass
class Dependency:
    name: str  # the metric's label
    label: str  # what a person is told: "The search engine"
    timeout: Callable[[], float]
    _breaker: CircuitBreaker | None = field(default=None, repr=False)

    @property
    def breaker(self) -> CircuitBreaker:
        if self._breaker is None:
            settings = get_settings()
            self._breaker = CircuitBreaker(
                failure_threshold=settings.breaker_failures,
                recovery_timeout=settings.breaker_recovery_seconds,
                expected_exception=self._counts,
                name=self.name,
            )
        return self._breaker

    @staticmethod
    def _counts(kind: type[BaseException], exc: BaseException) -> bool:
        """What means "the service failed": no connection (OSError), a deadline passed,
        or what the caller calls a failure."""
        return issubclass(kind, (OSError, TimeoutError, Failure))

    def reset(self) -> None:
        """Forget past failures (tests, and settings changed)."""
        self._breaker = None

    @property
    def is_open(self) -> bool:
        return self.breaker.opened

    def _refusal(self) -> Unavailable:
        wait = max(1, int(self.breaker.open_remaining))
        return Unavailable(f"{self.label} is not answering; try again in {wait} s.", wait)

    async def call(self, make: Callable[[], Awaitable[T]], seconds: float | None = None) -> T:
        """Await `make()` within the deadline, through the circuit. Failures of the
        service become `Unavailable`; any other error (a missing object, a bad query)
        passes through unchanged and does not count against the service."""
        if self.breaker.opened:
            metrics.DEPENDENCY_FAILURES.labels(self.name, "circuit_open").inc()
            raise self._refusal()
        if seconds is None:
            seconds = self.timeout()
        try:
            with self.breaker:
                return await asyncio.wait_for(make(), seconds)
        except TimeoutError as exc:
            metrics.DEPENDENCY_FAILURES.labels(self.name, "timeout").inc()
            raise Unavailable(
                f"{self.label} did not answer within {seconds:g} s; try again shortly.",
                max(1, round(seconds)),
            ) from exc
        except Exception as exc:
            if not self._counts(type(exc), exc):
                raise
            metrics.DEPENDENCY_FAILURES.labels(self.name, "error").inc()
            raise Unavailable(
                f"{self.label} cannot be reached; try again shortly.",
                get_settings().breaker_recovery_seconds,
            ) from exc


SEARCH_ENGINE = Dependency(
    "search_engine",
    "The search engine",
    timeout=lambda: get_settings().search_timeout_seconds,
)
OBJECT_STORE = Dependency(
    "object_store",
    "The file store",
    timeout=lambda: get_settings().storage_timeout_seconds,
)
VIRUS_SCANNER = Dependency(
    "virus_scanner",
    "The virus scanner",
    timeout=lambda: 120.0,  # a large file takes a while to scan; connecting has its own
)
# Reads that may be a moment stale go to the replica while it answers (backend.db).
DATABASE_REPLICA = Dependency(
    "database_replica",
    "The database replica",
    timeout=lambda: get_settings().connect_timeout_seconds,
)
ALL = (SEARCH_ENGINE, OBJECT_STORE, VIRUS_SCANNER, DATABASE_REPLICA)
