"""The gateway in front of the web app (backend.web.gateway), through real requests to its
ASGI app with the real Redis: request ids, security headers, rate limits per address,
per credential and for uploads, 429 problem documents, the access log; and the events of
browser tabs, counted against their budgets (state.guard)."""

import time
from typing import Any

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.settings import get_settings
from backend.web.gateway import PAGE_POLICY
from tests.conftest import gateway_client


async def test_every_answer_has_a_request_id_and_the_security_headers(
    api: httpx.AsyncClient,
) -> None:
    for response in (
        await api.get("/api/v1/health/live"),
        await api.get("/api/v1/documents/1/record"),  # a 404
        await api.get("/nowhere"),
    ):
        assert len(response.headers["x-request-id"]) == 32
        assert response.headers["content-security-policy"] == PAGE_POLICY
        assert "frame-ancestors 'none'" in PAGE_POLICY and "object-src 'none'" in PAGE_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers  # the public URL is http
    ids = {(await api.get("/api/v1/health/live")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    # A caller's own id is kept when it is a plain token, replaced when it is not.
    kept = await api.get("/api/v1/health/live", headers={"X-Request-ID": "trace-0001.abc"})
    assert kept.headers["x-request-id"] == "trace-0001.abc"
    for bad in ("short", "x" * 65, "a b c d e f g h", "<script>alert(1)</script>"):
        answer = await api.get("/api/v1/health/live", headers={"X-Request-ID": bad})
        assert answer.headers["x-request-id"] != bad


async def test_hsts_when_the_library_is_served_over_https(clean: None) -> None:
    async with gateway_client(public_url="https://library.example.org") as c:
        response = await c.get("/api/v1/health/live")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_requests_past_the_address_budget_get_a_problem_document(
    api: httpx.AsyncClient, rate_limits: Any
) -> None:
    rate_limits(address="3/minute")
    answers = [await api.get("/api/v1/documents/1/record") for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["status"] == 429 and problem["title"] == "Too Many Requests"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert problem["detail"].startswith("Too many requests; try again in")
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.headers["x-request-id"]  # refused answers are answers like any other
    # Health probes are never limited; another address has its own budget.
    assert (await api.get("/api/v1/health/live")).status_code == 200
    async with gateway_client(trusted_proxy_hops=1) as proxied:
        other = {"X-Forwarded-For": "192.0.2.44"}
        assert (await proxied.get("/api/v1/documents/1/record", headers=other)).status_code == 404
        # Without a trusted proxy, the header is anyone's to write, and ignored.
    assert (await api.get("/api/v1/documents/1/record", headers=other)).status_code == 429


async def test_each_credential_and_uploads_have_budgets_of_their_own(
    api: httpx.AsyncClient, rate_limits: Any
) -> None:
    rate_limits(identity="2/minute", upload="1/minute")
    alice = {"Authorization": "Bearer alice-token"}
    bob = {"Authorization": "Bearer bob-token"}
    codes = [(await api.get("/api/v1/documents/1/record", headers=alice)).status_code]
    codes += [(await api.get("/api/v1/documents/1/record", headers=alice)).status_code]
    codes += [(await api.get("/api/v1/documents/1/record", headers=alice)).status_code]
    assert codes == [404, 404, 429]
    assert (await api.get("/api/v1/documents/1/record", headers=bob)).status_code == 404
    assert (await api.get("/api/v1/documents/1/record")).status_code == 404  # no credential
    first = await api.post("/_upload", content=b"x")
    second = await api.post("/_upload", content=b"x")
    assert first.status_code != 429 and second.status_code == 429


async def test_with_redis_away_requests_are_served(
    api: httpx.AsyncClient, rate_limits: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "redis_url", "redis://127.0.0.1:9")
    rate_limits(address="1/minute")
    for _ in range(3):
        assert (await api.get("/api/v1/health/live")).status_code == 200
        assert (await api.get("/api/v1/documents/1/record")).status_code == 404


async def test_one_access_line_per_request_with_its_id(api: httpx.AsyncClient) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logged:
        response = await api.get(
            "/api/v1/documents/7/record", headers={"X-Request-ID": "r-12345678"}
        )
    lines = [line for line in logged if line["event"] == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == response.headers["x-request-id"] == "r-12345678"
    assert (line["method"], line["path"], line["status"]) == (
        "GET",
        "/api/v1/documents/7/record",
        404,
    )
    assert line["client"] == "198.51.100.7" and line["duration_ms"] >= 0


async def test_readiness_names_what_is_missing(api: httpx.AsyncClient, db: AsyncSession) -> None:
    assert (await api.get("/api/v1/health/live")).json() == {"status": "ok"}
    answer = await api.get("/api/v1/health/ready")
    # No worker runs in this test: the process is not ready, and says why.
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["database"] == checks["redis"] == checks["search_engine"] == "ok"
    assert checks["worker"].startswith("no worker heard from")
    # A web process's probe: the silent worker is said, and the pages are served.
    web = await api.get("/api/v1/health/ready", params={"worker": "false"})
    assert web.status_code == 200 and web.json()["checks"]["worker"] == checks["worker"]
    from backend.operations import watch
    from backend.redis_client import get_redis

    now_ms = int(time.time() * 1000)
    await watch.beat(get_redis(), watch.WorkerBeat("test-worker", now_ms, now_ms, 0, 0, 0))
    ready = await api.get("/api/v1/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


async def test_a_worker_containers_liveness_command_asks_for_its_own_worker(
    clean: None,
) -> None:
    """`python -m backend.cli worker-alive` (the Kubernetes worker's liveness probe): 0
    only while a worker of this host beat within SILENT_SECONDS; another host's does not
    count."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from backend.operations import watch
    from backend.redis_client import get_redis

    def alive() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backend.cli", "worker-alive"],
            cwd=Path(__file__).resolve().parents[2],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert alive().returncode == 1
    now_ms = int(time.time() * 1000)
    other = watch.WorkerBeat("elsewhere:7", now_ms, now_ms, 0, 0, 0)
    await watch.beat(get_redis(), other)
    assert alive().returncode == 1
    here = f"{socket.gethostname()}:{os.getpid()}"
    old = now_ms - int(watch.SILENT_SECONDS * 1000) - 1000
    await watch.beat(get_redis(), watch.WorkerBeat(here, old, old, 0, 0, 0))
    assert alive().returncode == 1  # silent too long
    await watch.beat(get_redis(), watch.WorkerBeat(here, now_ms, now_ms, 0, 0, 0))
    answer = alive()
    assert answer.returncode == 0 and here in answer.stdout, answer.stdout + answer.stderr


async def test_cross_origin_calls_only_from_the_origins_configured(clean: None) -> None:
    preflight = {"Access-Control-Request-Method": "GET"}
    async with gateway_client() as closed:
        answer = await closed.get(
            "/api/v1/health/live", headers={"Origin": "https://catalogue.example.org"}
        )
        assert "access-control-allow-origin" not in answer.headers  # none by default
    async with gateway_client(cors_origins="https://catalogue.example.org") as open_to_one:
        allowed = await open_to_one.options(
            "/api/v1/health/live",
            headers={"Origin": "https://catalogue.example.org", **preflight},
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://catalogue.example.org"
        refused = await open_to_one.options(
            "/api/v1/health/live", headers={"Origin": "https://elsewhere.example", **preflight}
        )
        assert "access-control-allow-origin" not in refused.headers
        simple = await open_to_one.get(
            "/api/v1/health/live", headers={"Origin": "https://catalogue.example.org"}
        )
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
