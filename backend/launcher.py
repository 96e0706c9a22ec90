"""Starts the whole platform on one machine and stops all of it on Ctrl-C.

With no DATABASE_URL / REDIS_URL it starts an embedded PostgreSQL and Redis inside the
data folder; then it applies migrations and runs the arq worker and the Reflex app in
prod mode (frontend, websocket and REST API on one port), listening on HOST (this
machine only, unless told otherwise). Everything it and its children write is private to
the user running it (backend.files).
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from backend.embedded import EmbeddedPostgres, EmbeddedRedis
from backend.files import DIR_MODE, keep_private, open_private, private_dirs
from backend.settings import PROJECT_ROOT, get_settings

# Listening on one of these means every interface: the launcher itself asks on loopback.
EVERY_INTERFACE = ("0.0.0.0", "::", "")


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.setdefault("REFLEX_USE_NPM", "1")
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _stop(proc: subprocess.Popen[bytes], name: str, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"  {name} did not stop in {timeout:.0f} s; killing it", flush=True)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def _local_address(host: str) -> str:
    """Where this machine reaches a server listening on `host`, for a URL."""
    if host in EVERY_INTERFACE:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _private_data_folder(data: Path) -> None:
    """The data folder, 0700, made so by this version even where an older one left it
    open; its own folders too (what lies deeper is out of reach once they are closed)."""
    private_dirs(data)
    for folder in [data, *(p for p in data.iterdir() if p.is_dir())]:
        if folder.stat().st_uid == os.geteuid():  # not the cluster of PostgreSQL's own user
            folder.chmod(DIR_MODE)


def main() -> int:
    keep_private()  # before anything is written: the children inherit it
    settings = get_settings()
    data = settings.data_dir
    _private_data_folder(data)
    started = time.monotonic()
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    extra: dict[str, str] = {}
    try:
        if settings.database_url:
            db_url = settings.database_url
        else:
            pg = EmbeddedPostgres(data / "pg")
            db_url = pg.start()
            print(f"  PostgreSQL  embedded in {pg.root}", flush=True)
        if settings.redis_url:
            redis_url = settings.redis_url
        else:
            redis = EmbeddedRedis(data / "redis")
            redis_url = redis.start()
            print(f"  Redis       embedded in {redis.root}", flush=True)
        extra = {
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "REFLEX_REDIS_URL": redis_url,
            "GRANIAN_WORKERS": str(settings.web_workers),
        }

        from backend.migrate import upgrade

        upgrade(db_url)
        print("  Migrations  applied", flush=True)
        from backend.search.engines import get_search_engine

        engine = get_search_engine()
        import asyncio

        from backend.db import dispose_engine
        from backend.search import indexer

        os.environ["DATABASE_URL"] = db_url
        get_settings.cache_clear()

        async def prepare() -> int:
            # Before the worker (the writer) and the web processes (readers) start.
            try:
                return await indexer.prepare_engine(engine)
            finally:
                await dispose_engine()

        queued = asyncio.run(prepare())
        note = f" (new index: {queued} documents queued for indexing)" if queued else ""
        print(f"  Search      {engine.name}{note}", flush=True)

        env = _child_env(extra)
        private_dirs(data / "logs")
        worker_log = open(  # noqa: SIM115
            open_private(data / "logs" / "worker.log", os.O_WRONLY | os.O_APPEND), "ab"
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "arq", "jobs.worker.WorkerSettings"],
            cwd=PROJECT_ROOT,
            env=env,
            start_new_session=True,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        children.append(("worker", worker))
        print(f"  Worker      started (log: {data / 'logs' / 'worker.log'})", flush=True)
        if not settings.smtp_host:
            print(f"  Mail        to files in {data / 'mail'} (no SMTP_HOST)", flush=True)

        port = str(settings.port)
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reflex",
                "run",
                "--env",
                "prod",
                "--single-port",
                "--backend-host",
                settings.host,
                "--backend-port",
                port,
                "--loglevel",
                "warning",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            start_new_session=True,
        )
        children.append(("web", web))
        print(
            "  Web         building the frontend and starting (first start takes longer)...",
            flush=True,
        )
        address = _local_address(settings.host)
        health = f"http://{address}:{port}/api/v1/health"
        while not stopping and not _wait_http(health, web, 5):
            if web.poll() is not None:
                print("The web app exited; see the messages above.", file=sys.stderr)
                return 1
        if not stopping:
            took = time.monotonic() - started
            where = "localhost" if address == "127.0.0.1" else address
            print(
                f"\n  The library is open at http://{where}:{port}  (ready in {took:.0f} s)\n"
                "  Create the first admin in another terminal:\n"
                "      ./run.sh create-admin you@example.org\n"
                "  Press Ctrl-C to stop everything.\n",
                flush=True,
            )
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None:
                    print(
                        f"The {name} process exited ({proc.returncode}); stopping.", file=sys.stderr
                    )
                    stopping = True
            time.sleep(0.5)
        return 0
    finally:
        print("\n  Stopping...", flush=True)
        for name, proc in reversed(children):
            _stop(proc, name)
        if redis is not None:
            redis.stop()
        if pg is not None:
            pg.stop()
        print("  Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
