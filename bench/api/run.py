"""Search over HTTP: requests per second, cached and uncached, latency at half load, and
the gateway's own cost per request.

    .venv/bin/python bench/api/run.py [--limit N] [--seconds 20] [--keep /tmp/apilib]

Loads the ~960,000 real records of ../shared/corpus/bulk into a throwaway library
(embedded PostgreSQL and Redis, as bench/search does; `--limit` takes the first N of each
source), builds the index, and serves the REST API behind the gateway (rate limits,
request ids, metrics, access logs all on; the budgets set high enough not to refuse) with
granian, the server the app runs on in production, two worker processes, on this machine.
Then:

- cached: `wrk` (Debian's, installed if missing), one thread, 16 connections, the same
  search again and again (answered from the result cache in Redis);
- uncached: `wrk` with each request a word never asked before in the run (words of the
  records' titles), so every answer is searched;
- latency at half the uncached rate: a constant-arrival client (requests sent on a fixed
  schedule, latency measured from when each was due, so a slow answer delays no
  measurement), other fresh words, p50/p95/p99;
- the gateway's own cost: in this process, the same cached search through the gateway and
  without it, timing the gateway alone (its time minus the app's inside it), p50/p95.

Writes bench/api/results.json (`cached_rps`, `uncached_rps`, `p99_ms_at_half_load`,
`gateway_overhead_p95_ms`, …) and results.md.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import (  # noqa: E402
    bulk_load,
    bulk_records,
    loaded,
    machine,
    percentile,
    served_api,
    throwaway_library,
)

HERE = Path(__file__).resolve().parent
HIGH = "1000000000/second"  # budgets no bench load reaches: counted, never refused
LUA = """
local words = {}
for line in io.lines(os.getenv("BENCH_WORDS")) do words[#words + 1] = line end
local i = 0
request = function()
  i = i + 1
  local w = words[((i - 1) % #words) + 1]
  return wrk.format("GET", "/api/v1/search?q=" .. w)
end
"""


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def run_wrk(
    url: str, seconds: int, script: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, float]:
    command = [wrk_binary(), "-t1", "-c16", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "non_2xx": float(errors.group(1)) if errors else 0.0, "raw": out}  # type: ignore[dict-item]


async def constant_rate(base: str, words: list[str], rate: float, seconds: float) -> list[float]:
    """Latencies (ms) of requests sent on a fixed schedule, from when each was due.

    A bare HTTP/1.1 client over keep-alive connections (up to 64, opened as needed): a
    few tens of microseconds of this process's CPU per request, where httpx's client
    took about a millisecond, and this bench shares its two cores with the server."""
    from urllib.parse import quote, urlsplit

    where = urlsplit(base)
    host, port = where.hostname or "127.0.0.1", where.port or 80
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened = 0
    slot = asyncio.Condition()
    latencies: list[float] = []
    failures = 0

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        nonlocal opened
        async with slot:
            while not idle and opened >= 64:
                await slot.wait()
            if idle:
                return idle.pop()
            opened += 1
        return await asyncio.open_connection(host, port)

    async def get(path: str) -> int:
        reader, writer = await connection()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        async with slot:
            idle.append((reader, writer))
            slot.notify()
        return status

    start = time.perf_counter()
    total = int(rate * seconds)

    async def one(n: int) -> None:
        nonlocal failures
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if await get("/api/v1/search?q=" + quote(words[n % len(words)])) != 200:
            failures += 1
        latencies.append((time.perf_counter() - due) * 1000)

    await asyncio.gather(*(one(n) for n in range(total)))
    for _, writer in idle:
        writer.close()
    if failures:
        print(f"  {failures} answers were not 200")
    return latencies


async def gateway_cost(reps: int) -> list[float]:
    """Per request, the gateway's own milliseconds: its time minus the app's inside it."""
    import httpx

    from backend.api.routes import create_api
    from backend.settings import get_settings
    from backend.web.gateway import wrap

    inner_ms: list[float] = []
    outer_ms: list[float] = []
    api = create_api()

    async def timed_api(scope: Any, receive: Any, send: Any) -> None:
        t = time.perf_counter()
        await api(scope, receive, send)
        inner_ms.append((time.perf_counter() - t) * 1000)

    gateway = wrap(timed_api, get_settings(), upload_path="/_upload")

    async def timed_gateway(scope: Any, receive: Any, send: Any) -> None:
        t = time.perf_counter()
        await gateway(scope, receive, send)
        outer_ms.append((time.perf_counter() - t) * 1000)

    transport = httpx.ASGITransport(app=timed_gateway, client=("198.51.100.20", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(50):  # warm: the search cached, connections open
            await client.get("/api/v1/search", params={"q": "python"})
        inner_ms.clear()
        outer_ms.clear()
        for _ in range(reps):
            answer = await client.get("/api/v1/search", params={"q": "python"})
            assert answer.status_code == 200
    return [o - i for o, i in zip(outer_ms, inner_ms, strict=True)]


def vocabulary(records: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records:
        for word in re.findall(r"[a-z]{4,12}", str(r["title"]).lower()):
            seen.setdefault(word, None)
    words = list(seen)
    random.Random(7).shuffle(words)
    return words


async def load(limit: int | None, folder: Path) -> tuple[int, list[str], float, float]:
    from backend.search import indexer
    from backend.search.engines import get_search_engine

    what = f"api-{limit}"
    kept = loaded(folder, what)
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name in ("goodbooks", "debian", "pypi"):
        part = list(bulk_records((name,)))[:limit]
        records += part
        if not kept:
            await bulk_load(part, name.capitalize())
    load_s = time.perf_counter() - started
    engine = get_search_engine()
    started = time.perf_counter()
    count = await engine.count() if kept else 0
    index_s = 0.0
    if count == 0:
        count = await indexer.rebuild(engine, batch_size=20_000)
        index_s = time.perf_counter() - started
        (folder / f"loaded-{what}").write_text("1")
    return count, vocabulary(records), load_s, index_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    command = "`.venv/bin/python bench/api/run.py" + "".join(f" {a}" for a in sys.argv[1:]) + "`"
    from backend.logging_setup import configure_logging

    with (
        throwaway_library("bench-api-", keep=args.keep) as folder,
        open(folder / "bench.log", "w") as log,
    ):
        # This process logs as a production one does (JSON lines, here to a file), so the
        # gateway's cost is measured with them, not with structlog's unconfigured
        # coloured console lines (several times slower).
        with contextlib.redirect_stderr(log):  # (the level given: settings are read later)
            configure_logging("INFO")
        figures = asyncio.run(measure(args, folder, command))
    (HERE / "results.json").write_text(json.dumps(figures, indent=2) + "\n")
    write_markdown(figures, command)


async def measure(args: argparse.Namespace, folder: Path, command: str) -> dict[str, Any]:
    """Everything in one event loop (the library's Redis and database clients live in it)."""
    import httpx

    from backend.search import cache

    if True:
        os.environ.update(
            RATE_LIMIT_ADDRESS=HIGH, RATE_LIMIT_IDENTITY=HIGH, RATE_LIMIT_SEARCH=HIGH,
            LOG_LEVEL="INFO",
        )  # fmt: skip
        documents, words, load_s, index_s = await load(args.limit, folder)
        print(f"{documents:,} documents; {len(words):,} title words")
        with served_api(folder / "server.log") as base:
            for w in words[-200:]:  # both workers: the engine opened, first searches done
                await asyncio.to_thread(
                    httpx.get, f"{base}/api/v1/search", params={"q": w}, timeout=30
                )
            cached = await asyncio.to_thread(
                run_wrk, f"{base}/api/v1/search?q=python", args.seconds
            )
            print(f"cached: {cached['rps']:.0f} requests/s")
            third = len(words) // 3
            await cache.index_changed()  # nothing cached by an earlier run within 5 minutes
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
                script.write(LUA)
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listed:
                listed.write("\n".join(words[:third]))
            uncached = await asyncio.to_thread(
                run_wrk, f"{base}/api/v1/search", args.seconds, Path(script.name),
                {"BENCH_WORDS": listed.name},
            )  # fmt: skip
            print(f"uncached: {uncached['rps']:.0f} requests/s")
            half = uncached["rps"] / 2
            latencies = await constant_rate(base, words[third : 2 * third], half, args.seconds)
            p = {q: percentile(latencies, q) for q in (0.5, 0.95, 0.99)}
            print(f"at {half:.0f}/s: p50 {p[0.5]:.1f} ms, p95 {p[0.95]:.1f}, p99 {p[0.99]:.1f}")
        overhead = await gateway_cost(3000)
        g = {q: percentile(overhead, q) for q in (0.5, 0.95, 0.99)}
        print(f"gateway: p50 {g[0.5]:.2f} ms, p95 {g[0.95]:.2f} ms")
    figures = {
        "command": command.strip("`"),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "documents": documents,
        "load_s": round(load_s, 1),
        "index_s": round(index_s, 1),
        "cached_rps": round(cached["rps"]),
        "cached_non_2xx": cached["non_2xx"],
        "uncached_rps": round(uncached["rps"]),
        "uncached_non_2xx": uncached["non_2xx"],
        "half_load_rps": round(half),
        "p50_ms_at_half_load": round(p[0.5], 1),
        "p95_ms_at_half_load": round(p[0.95], 1),
        "p99_ms_at_half_load": round(p[0.99], 1),
        "gateway_overhead_p50_ms": round(g[0.5], 3),
        "gateway_overhead_p95_ms": round(g[0.95], 3),
        "goals": {
            "cached_rps": 3000, "uncached_rps": 500, "p99_ms_at_half_load": 50,
            "gateway_overhead_p95_ms": 1,
        },
    }  # fmt: skip
    return figures


def write_markdown(figures: dict[str, Any], command: str) -> None:
    documents = figures["documents"]
    lines = [
        "# Search over HTTP",
        "",
        f"Command: {command}  ",
        f"Machine: {figures['machine']}  ",
        f"Date: {figures['date']}",
        "",
        f"Library: {documents:,} documents. The REST API behind the gateway (rate limits,",
        "request ids, metrics, access logs), granian with 2 worker processes (as in",
        "production); wrk on the same 2 cores.",
        "",
        "| | figure | goal |",
        "|---|---|---|",
        f"| cached searches | {figures['cached_rps']:,} requests/s | ≥ 3,000 |",
        f"| uncached searches | {figures['uncached_rps']:,} requests/s | ≥ 500 |",
        f"| p99 at half the uncached rate ({figures['half_load_rps']}/s) | "
        f"{figures['p99_ms_at_half_load']} ms (p50 {figures['p50_ms_at_half_load']}, "
        f"p95 {figures['p95_ms_at_half_load']}) | ≤ 50 ms |",
        f"| the gateway's own cost per request, p95 | {figures['gateway_overhead_p95_ms']} ms "
        f"(p50 {figures['gateway_overhead_p50_ms']}) | ≤ 1 ms |",
    ]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
