"""Two checkouts of the library, served side by side on one library, in alternating
rounds: how a change moves search over HTTP on a machine whose speed drifts from minute
to minute (this one's does, by a factor of two between runs of bench/api/run.py).

    .venv/bin/python bench/api/compare.py OLD_CHECKOUT [NEW_CHECKOUT] \\
        [--rounds 5] [--seconds 10] [--uncached] [--limit N] [--keep /tmp/apilib]

Each checkout's bench/api/serve.py is served by granian (two workers) on the same
library, database and Redis (the one bench/api/run.py builds; `--keep` reuses it). Each
round runs wrk against one, then the other (the order alternating), on the same cached
search, or with `--uncached` on words of the records' titles that no round asked before
(each round and checkout its own). Prints the requests per second of every round. An old
checkout must know the library's migrations: copy the newer ones into it.
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.api.run import HIGH, LUA, load, run_wrk  # noqa: E402
from bench.common import throwaway_library  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def serve(tree: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--no-ws", "--log-level", "warning",
         "bench.api.serve:app"],
        cwd=tree, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health/live", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{tree} did not start: see {log}")
        time.sleep(0.2)


async def compare(args: argparse.Namespace, folder: Path) -> dict[str, list[int]]:
    os.environ.update(
        RATE_LIMIT_ADDRESS=HIGH, RATE_LIMIT_IDENTITY=HIGH, RATE_LIMIT_SEARCH=HIGH, LOG_LEVEL="INFO"
    )
    _, words, _, _ = await load(args.limit, folder)
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    servers = {name: serve(tree, folder / f"compare-{name}.log") for name, tree in trees.items()}
    rates: dict[str, list[int]] = {name: [] for name in trees}
    script = Path(tempfile.mkdtemp()) / "words.lua"
    script.write_text(LUA)
    try:
        for _, base in servers.values():  # both warm: the engine opened, first searches done
            for w in words[-100:]:
                await asyncio.to_thread(httpx.get, f"{base}/api/v1/search", params={"q": w})
        fresh = iter(range(10**6))
        for r in range(args.rounds):
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                base = servers[name][1]
                if not args.uncached:
                    figures = run_wrk(f"{base}/api/v1/search?q=python", args.seconds)
                else:
                    k = next(fresh)
                    listed = script.with_name(f"words-{k}.txt")
                    listed.write_text("\n".join(words[k * 6000 : (k + 1) * 6000]))
                    figures = run_wrk(
                        f"{base}/api/v1/search", args.seconds, script, {"BENCH_WORDS": str(listed)}
                    )
                rates[name].append(round(figures["rps"]))
                print(f"round {r + 1}, {name}: {rates[name][-1]} requests/s", flush=True)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(30)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=ROOT)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--uncached", action="store_true")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    with throwaway_library("bench-api-", keep=args.keep) as folder:
        rates = asyncio.run(compare(args, folder))
    for name, figures in rates.items():
        ordered = sorted(figures)
        print(f"{name}: {figures} (median {ordered[len(ordered) // 2]})")


if __name__ == "__main__":
    main()
