"""The whole library under the load of many people at once.

    .venv/bin/python bench/load/run.py [--keep /tmp/apilib] [--users 200] [--minutes 10]
        [--rounds 1]

1. The library of bench/api (the ~960,000 real records of ../shared/corpus/bulk, indexed;
   with --keep, the folder bench/api and bench/typing keep) and ten real PDFs of the
   corpus uploaded through the REST API and read by the worker (their page images and
   downloads are part of the mix).
2. The app as ./run.sh starts it, joined to that library: its web process with two
   granian workers (WEB_WORKERS=2), its worker, and a second worker on the same queue.
3. locust (bench/load/locustfile.py), headless, --users people at a fixed arrival rate
   (one action every ten seconds each): each a tab with its websocket open, searching as
   it types over it (key by key, 100-200 ms apart), opening document records, browsing,
   looking at page images, downloading, and a few uploading; --minutes long.
4. Memory of every process of the app before (after a warm-up) and after; errors in the
   app's logs; locust's failures and per-action latencies.

locust runs from a virtualenv of its own, .venv-bench, made at the first run (LOCUST
below): installed in .venv, what it pulls in (brotli, websocket-client) would be imported
by the app's own libraries at run time, and tests/test_dependencies would fail there.

Rate budgets are raised for the run (every simulated person comes from this machine's
address, which would share one address's budget). locust runs on the same two cores as
the app, so the figures are the app's with a load generator beside it.
Writes bench/load/results.json (`users`, `duration_s`, `errors`, `ws_keystroke_p95_ms`,
per-action p95s, ...) and results.md.
"""

import argparse
import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.api.run import load  # noqa: E402
from bench.common import ROOT, machine, throwaway_library  # noqa: E402
from bench.typing.run import HIGH, queries, serve  # noqa: E402

HERE = Path(__file__).resolve().parent
BENCH_VENV = ROOT / ".venv-bench"
# The people's side: locust, and the same socket.io client as the app's server speaks.
LOCUST = ("locust==2.47.0", "websocket-client==1.9.2")
ADMIN = ("load@example.org", "granite swallow ember lake")
PORT = 3920


def second_worker(folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.run"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=(folder / "second-worker.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def prepare_files(url: str) -> dict[str, Any]:
    """An admin, a token, a collection, ten real PDFs read by the worker."""
    made = subprocess.run(
        [sys.executable, "-m", "backend.cli", "create-admin", ADMIN[0], "--password-stdin"],
        input=ADMIN[1] + "\n",
        text=True,
        capture_output=True,
        cwd=ROOT,
    )
    if made.returncode != 0:
        sys.exit(made.stderr)
    corpus = ROOT.parent / "shared" / "corpus" / "files" / "py-pdf-sample-files"
    pdfs = sorted(p for p in corpus.glob("*.pdf") if p.stat().st_size < 2_000_000)[:10]
    with httpx.Client(base_url=url, timeout=120) as http:
        token = http.post(
            "/api/v1/auth/token", json={"email": ADMIN[0], "password": ADMIN[1]}
        ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        kept = ready_pdfs()
        if kept:  # a library kept from an earlier run: its PDFs are there already
            return {"token": token, "collection": kept[0][1], "files": [d for d, _ in kept]}
        shelf = http.post("/api/v1/collections", json={"name": "Under load"}).json()["id"]
        ids = []
        for pdf in pdfs:
            sent = http.post(
                f"/api/v1/collections/{shelf}/documents",
                params={"filename": pdf.name},
                content=pdf.read_bytes(),
                headers={"Content-Type": "application/pdf"},
            )
            ids.append(sent.json()["document_id"])
        ready = []
        deadline = time.monotonic() + 600
        while len(ready) < len(ids) and time.monotonic() < deadline:
            ready = [
                i
                for i in ids
                if http.get(f"/api/v1/documents/{i}").json()["versions"][0]["status"] == "ready"
            ]
            time.sleep(2)
    if not ready:
        sys.exit("none of the PDFs became ready")
    return {"token": token, "collection": shelf, "files": ready}


def _database() -> str:
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def ready_pdfs() -> list[tuple[int, int]]:
    """(document, collection) of the PDFs an earlier run left ready in its collections."""
    import psycopg

    with psycopg.connect(_database()) as conn:
        rows = conn.execute(
            "SELECT d.id, c.id FROM documents d JOIN collections c ON c.id = d.collection_id "
            "JOIN document_versions v ON v.id = d.current_version_id "
            "WHERE c.name = 'Under load' AND v.status = 'ready' "
            "AND v.mime_type = 'application/pdf' ORDER BY d.id"
        ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def some_documents(count: int) -> list[int]:
    """Ids of documents of the library, drawn at random."""
    import psycopg

    with psycopg.connect(_database()) as conn:
        rows = conn.execute(
            "SELECT id FROM documents ORDER BY random() LIMIT %s", (count,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def memory() -> dict[str, float]:
    """Memory (MB) of the app's processes by role: resident, and of that the anonymous
    part (the heaps; the rest is mapped files, such as the search index's pages, which the
    kernel drops when it needs the room)."""
    roles: dict[str, float] = {"web": 0.0, "worker": 0.0, "web_anon": 0.0, "worker_anon": 0.0}
    for proc in psutil.process_iter(["cmdline", "memory_info"]):
        line = " ".join(proc.info["cmdline"] or [])
        if not _ours(proc):
            continue
        rss = (proc.info["memory_info"].rss if proc.info["memory_info"] else 0) / 2**20
        role = (
            "worker"
            if "jobs.run" in line
            else "web"
            if "reflex" in line or "granian" in line or "app.serve" in line
            else None
        )
        if role:
            roles[role] += rss
            roles[f"{role}_anon"] += _anonymous_kb(proc.pid) / 1024
    return {k: round(v, 1) for k, v in roles.items()}


def _anonymous_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("RssAnon:")), 0
    )


def cpu_seconds(folder: Path) -> dict[str, float]:
    """CPU time (user + system, s) used so far by each part: the web processes, the
    workers, PostgreSQL (its postmaster and every backend), Redis."""
    roles = {"web": 0.0, "worker": 0.0, "postgres": 0.0, "redis": 0.0}
    postmaster = int((folder / "pg" / "postmaster.pid").read_text().split()[0])
    postgres = [psutil.Process(postmaster), *psutil.Process(postmaster).children(recursive=True)]
    for proc in postgres:
        try:
            t = proc.cpu_times()
            roles["postgres"] += t.user + t.system
        except psutil.Error:
            continue
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        used = t.user + t.system
        if "redis-server" in line and str(folder) in line:
            roles["redis"] += used
        elif _ours(proc):
            if "jobs.run" in line:
                roles["worker"] += used
            elif "reflex" in line or "granian" in line or "app.serve" in line:
                roles["web"] += used
    return roles


def _ours(proc: psutil.Process) -> bool:
    try:
        return proc.environ().get("DATA_DIR") == os.environ["DATA_DIR"]
    except psutil.Error:
        return False


def log_errors(folder: Path) -> list[str]:
    found = []
    for log in [
        folder / "launcher.log",
        folder / "second-worker.log",
        *folder.glob("**/worker.log"),
    ]:
        if log.exists():
            found += [
                line[:300]
                for line in log.read_text(errors="replace").splitlines()
                if '"level": "error"' in line or "Traceback" in line
            ]
    return found


def served(folder: Path) -> dict[str, int]:
    """How many websocket events and HTTP requests the web processes have logged so far
    (one access line each)."""
    counts = {"events": 0, "requests": 0}
    log = folder / "launcher.log"
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if '"logger": "library.access"' in line:
            counts["events" if '"msg": "event"' in line else "requests"] += 1
    return counts


def locust_command() -> Path:
    """locust in .venv-bench, made (or completed) first when it is not there."""
    from importlib.metadata import version

    locust = BENCH_VENV / "bin" / "locust"
    if not locust.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        wanted = [*LOCUST, f"python-socketio[client]=={version('python-socketio')}"]
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "--quiet", *wanted], check=True)
    return locust


def run_locust(url: str, data: Path, users: int, minutes: float, out: Path) -> None:
    subprocess.run(
        [
            str(locust_command()),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(max(1, users // 30)),
            "--run-time",
            f"{int(minutes * 60)}s",
            "--host",
            url,
            "--csv",
            str(out),
            "--only-summary",
            "--stop-timeout",
            "30",
        ],
        cwd=ROOT,
        env={**os.environ, "LOAD_DATA": str(data)},
        check=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="the same load this many times on the same processes, memory taken after each "
        "(growth from one round to the next is a leak); the figures are the last round's",
    )
    args = parser.parse_args()
    command = ".venv/bin/python bench/load/run.py" + "".join(f" {a}" for a in sys.argv[1:])
    from reflex.state import State

    from app.pages.search import TYPING_PAUSE_MS
    from state.search import SearchState

    with throwaway_library("bench-load-", keep=args.keep) as folder:
        documents, words, _, _ = asyncio.run(load(args.limit, folder))
        url = f"http://localhost:{PORT}"
        proc = serve(
            folder,
            PORT,
            WEB_WORKERS="2",
            RATE_LIMIT_UPLOAD=HIGH,
            SCHEDULED_BACKUPS="false",
        )
        extra = second_worker(folder)
        work = Path(tempfile.mkdtemp(prefix="bench-load-"))
        try:
            files = prepare_files(url)
            ids = some_documents(5000)
            data = {
                **files,
                "words": [q for q in queries(words, 4000) if " " not in q],
                "documents": ids,
                "search_state": SearchState.get_full_name(),
                "hydrate": f"{State.get_full_name()}.hydrate_and_load",
                "typing_pause_ms": TYPING_PAUSE_MS,
            }
            (work / "data.json").write_text(json.dumps(data))
            time.sleep(20)  # the app settled after the uploads' work
            before = memory()
            rounds = []
            for _ in range(args.rounds - 1):
                run_locust(url, work / "data.json", args.users, args.minutes, work / "warm")
                time.sleep(30)  # every tab closed, the app idle
                rounds.append(memory())
            cpu_before = cpu_seconds(folder)
            started = time.monotonic()
            errors_before = len(log_errors(folder))
            served_before = served(folder)
            run_locust(url, work / "data.json", args.users, args.minutes, work / "locust")
            duration = time.monotonic() - started
            cpu_after = cpu_seconds(folder)
            served_after = served(folder)
            at_end = memory()
            time.sleep(30)  # every tab closed, the app idle
            after = memory()
            rounds.append(after)
            app_errors = log_errors(folder)[errors_before:]
            stats = list(csv.DictReader((work / "locust_stats.csv").open()))
            raised = list(csv.DictReader((work / "locust_exceptions.csv").open()))
        finally:
            extra.send_signal(signal.SIGTERM)
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(120)
            extra.wait(30)
    figures = summarize(stats, args.users, duration, documents, before, after, app_errors)
    figures["memory_mb_at_end"] = at_end
    figures["memory_mb_after_each_round"] = rounds
    # A person's script that raised (not a request that failed) is an error too.
    figures["script_exceptions"] = [f"{r['Count']}x {r['Message']}" for r in raised]
    figures["errors"] += sum(int(r["Count"]) for r in raised)
    actions = sum(a["count"] for a in figures["actions"].values())
    figures["cpu_ms_per_action"] = {
        role: round((cpu_after[role] - cpu_before[role]) * 1000 / max(actions, 1), 2)
        for role in cpu_before
    }
    handled = {k: served_after[k] - served_before[k] for k in served_before}
    figures["served"] = handled
    # Per websocket event or HTTP request the web processes served (a typed search is
    # one action but an event per key).
    figures["web_cpu_ms_per_served"] = round(
        (cpu_after["web"] - cpu_before["web"]) * 1000 / max(sum(handled.values()), 1), 2
    )
    figures["cpu_cores_busy"] = {
        role: round((cpu_after[role] - cpu_before[role]) / duration, 2) for role in cpu_before
    }
    figures.update(command=command, machine=machine(), date=time.strftime("%Y-%m-%d"))
    (HERE / "results.json").write_text(json.dumps(figures, indent=2) + "\n")
    write_markdown(figures)
    print(json.dumps(figures, indent=2))


def summarize(
    stats: list[dict[str, str]],
    users: int,
    duration: float,
    documents: int,
    before: dict[str, float],
    after: dict[str, float],
    app_errors: list[str],
) -> dict[str, Any]:
    actions = {}
    total = failures = http_requests = 0
    for row in stats:
        if row["Name"] == "Aggregated":
            continue
        count, failed = int(row["Request Count"]), int(row["Failure Count"])
        total += count
        failures += failed
        if row["Type"] != "WS":
            http_requests += count
        actions[row["Name"]] = {
            "count": count,
            "failures": failed,
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
            "p99_ms": float(row["99%"]),
        }
    keystroke = actions.get("keystroke to results", {})
    return {
        "users": users,
        "duration_s": round(duration, 1),
        "documents": documents,
        "errors": failures + len(app_errors),
        "locust_failures": failures,
        "app_log_errors": app_errors[:20],
        "ws_keystroke_p95_ms": keystroke.get("p95_ms"),
        "ws_keystroke_p50_ms": keystroke.get("p50_ms"),
        "actions": actions,
        "actions_per_s": round(total / duration, 1),
        "http_requests_per_s_per_web_process": round(http_requests / duration / 2, 1),
        "memory_mb_before": before,
        "memory_mb_after": after,
    }


def write_markdown(f: dict[str, Any]) -> None:
    rows = "\n".join(
        f"| {name} | {a['count']} | {a['failures']} | {a['p50_ms']:.0f} | {a['p95_ms']:.0f} | "
        f"{a['p99_ms']:.0f} |"
        for name, a in sorted(f["actions"].items())
    )
    text = f"""# The library under load

Command: `{f["command"]}`
Machine: {f["machine"]} (locust on the same cores)
Date: {f["date"]}

{f["users"]} people for {f["duration_s"]} s against {f["documents"]:,} documents: the app as
./run.sh starts it (one web process with two granian workers, the worker) and a second
worker. Each person is a tab with its websocket open, acting once every ten seconds on
average: typing a search key by key over the websocket, opening records, browsing, page
images, downloads, uploads.

| action | count | failures | p50 ms | p95 ms | p99 ms |
|---|---|---|---|---|---|
{rows}

- Errors: {f["errors"]} (locust failures {f["locust_failures"]}, error lines in the app's
  logs {len(f["app_log_errors"])}, exceptions in the people's scripts
  {len(f["script_exceptions"])}).
- Keystroke to results over the websocket at {f["users"]} clients: p95
  {f["ws_keystroke_p95_ms"]} ms (goal ≤ 150 ms).
- Throughput: {f["actions_per_s"]} actions/s in all;
  {f["http_requests_per_s_per_web_process"]} HTTP requests/s per web process.
- Memory (MB; resident, and `_anon` its anonymous part: the heaps, without mapped
  files such as the index's pages): before {f["memory_mb_before"]}; as the load ended
  {f["memory_mb_at_end"]}; 30 s after every tab closed {f["memory_mb_after"]}; after
  each round of the load on the same processes: {f["memory_mb_after_each_round"]}.
- CPU per action (ms, every process of each part): {f["cpu_ms_per_action"]}; cores kept
  busy on average: {f["cpu_cores_busy"]}.
- The web processes served {f["served"]["events"]:,} websocket events and
  {f["served"]["requests"]:,} HTTP requests: {f["web_cpu_ms_per_served"]} ms of web CPU each.
"""
    (HERE / "results.md").write_text(text)


if __name__ == "__main__":
    main()
