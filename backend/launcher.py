"""Starts the whole platform on one machine, keeps it running, and stops all of it on
Ctrl-C.

With no DATABASE_URL / REDIS_URL it starts an embedded PostgreSQL and Redis inside the
data folder; then it applies migrations and runs the arq worker and the Reflex app in
prod mode (frontend, websocket and REST API on one port), listening on HOST (this
machine only, unless told otherwise). Everything it and its children write is private to
the user running it (backend.files).

It supervises what it started (backend.supervisor): a part that dies is started again,
with a pause that grows while it keeps dying. The data folder is locked while it runs: a
second launcher on the same folder says where the first one is and leaves it alone. It
never stops a server it did not start (one it found running, it only joins).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from backend.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedReplica
from backend.files import DIR_MODE, keep_private, open_private, private_dirs
from backend.lock import DataFolderLock
from backend.metrics import MULTIPROC_ENV
from backend.operations.backup import wal_archive
from backend.settings import PROJECT_ROOT, get_settings
from backend.supervisor import Part, Supervisor, end_group, exit_reason

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


def _say(line: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')}  {line}", file=sys.stderr, flush=True)


def _answers_health(url: str, instance: str) -> bool:
    """Whether this launcher's own web process answers (not another one on the port)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200 and resp.headers.get("X-Library-Instance") == instance
    except OSError:
        return False


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host or "0.0.0.0", port))
        except OSError:
            return False
    return True


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


class Child:
    """A process of ours (worker, web) in a session of its own, started again on demand
    (with `again`, when it is not the command it is first started with)."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        log: Path | None,
        again: list[str] | None = None,
    ):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.again = again
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = self.again if self.proc is not None and self.again else self.command
        out = None
        if self.log is not None:
            out = open(open_private(self.log, os.O_WRONLY | os.O_APPEND), "ab")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.env,
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
            )
        finally:
            if out is not None:
                out.close()  # the child has its own copy

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def why(self) -> str:
        return exit_reason(self.proc.poll() if self.proc is not None else None)

    def stop(self) -> None:
        if self.proc is not None:
            end_group(self.proc, self.name)


def _database_part(pg: EmbeddedPostgres) -> Part:
    def start() -> None:
        pg.start()  # recovers from its write-ahead log after a crash

    return Part(
        name="database (PostgreSQL)",
        start=start,
        alive=pg.running,
        stop=pg.stop,
        why=lambda: "its server process is gone",
        clear=lambda: None,  # a crashed postmaster leaves nothing to stop
    )


def _replica_part(replica: EmbeddedReplica) -> Part:
    def start() -> None:
        replica.start(wait_seconds=30)  # it catches up from the primary by itself

    return Part(
        name="database replica (PostgreSQL standby)",
        start=start,
        alive=replica.running,
        stop=replica.stop,
        why=lambda: "its server process is gone (reads go to the primary meanwhile)",
        clear=lambda: None,
    )


def _redis_part(redis: EmbeddedRedis) -> Part:
    def start() -> None:
        redis.start()  # reloads its append-only file: the queue comes back

    return Part(
        name="queue and cache (Redis)",
        start=start,
        alive=redis.running,
        stop=redis.stop,
        why=lambda: exit_reason(redis.exit_code()),
    )


def _child_part(child: Child, name: str) -> Part:
    return Part(name=name, start=child.start, alive=child.alive, stop=child.stop, why=child.why)


def main() -> int:
    keep_private()  # before anything is written: the children inherit it
    settings = get_settings()
    data = settings.data_dir
    private_dirs(data)  # only what is missing: a running library's folder is not touched
    address = _local_address(settings.host)
    port = settings.port
    url = f"http://{'localhost' if address == '127.0.0.1' else address}:{port}"

    lock = DataFolderLock(data / "launcher.lock")
    holder = lock.acquire(url)
    if holder is not None:
        print(
            f"A library is already running from {data} (process {holder.pid}, {holder.url}).\n"
            "Use that one, or stop it first (Ctrl-C in its terminal).",
            file=sys.stderr,
        )
        return 1
    if not _port_free(settings.host, port):
        print(
            f"Port {port} is in use by another program (or a library left running by a "
            "launcher that was killed). Stop it, or choose another port with PORT=...",
            file=sys.stderr,
        )
        lock.release()
        return 1
    _private_data_folder(data)  # the folder is this launcher's now

    started = time.monotonic()
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    parts: list[Part] = []
    supervisor = Supervisor(parts, say=_say)
    replica_url = settings.database_replica_url
    try:
        if settings.database_url:
            db_url = settings.database_url
        else:
            pg = EmbeddedPostgres(data / "pg", archive=wal_archive(settings))
            db_url = pg.start()
            joined = " (joined: it was already running)" if pg.was_running else ""
            print(f"  PostgreSQL  embedded in {pg.root}{joined}", flush=True)
            if pg.archive is not None and pg.archive.folder is not None:
                print(f"  Backups     write-ahead log archived to {pg.archive.folder}", flush=True)
            if not pg.was_running:
                parts.append(_database_part(pg))
            if settings.embedded_replica:
                replica = EmbeddedReplica(data / "pg-replica", pg, archive=pg.archive)
                replica_url = replica.start()
                print(f"  Replica     streaming from it, in {replica.root}", flush=True)
                parts.append(_replica_part(replica))
        if settings.redis_url:
            redis_url = settings.redis_url
        else:
            redis = EmbeddedRedis(data / "redis")
            redis_url = redis.start()
            joined = " (joined: it was already running)" if redis.was_running else ""
            print(f"  Redis       embedded in {redis.root}{joined}", flush=True)
            if not redis.was_running:
                parts.append(_redis_part(redis))
        instance = uuid.uuid4().hex
        # Every process counts its metrics into files here; the metrics page adds them up.
        # Emptied at each start: counts of processes that ended belong to the last run.
        metrics_dir = data / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        private_dirs(metrics_dir)
        env = _child_env(
            {
                MULTIPROC_ENV: str(metrics_dir),
                "DATABASE_URL": db_url,
                "DATABASE_REPLICA_URL": replica_url,
                "REDIS_URL": redis_url,
                "REFLEX_REDIS_URL": redis_url,
                "GRANIAN_WORKERS": str(settings.web_workers),
                "LIBRARY_INSTANCE": instance,
            }
        )
        _prepare(db_url)

        private_dirs(data / "logs")
        worker = Child(
            "worker",
            [sys.executable, "-m", "jobs.run"],
            env,
            data / "logs" / "worker.log",
        )
        worker.start()
        parts.append(_child_part(worker, "worker"))
        print(f"  Worker      started (log: {data / 'logs' / 'worker.log'})", flush=True)
        if not settings.smtp_host:
            print(f"  Mail        to files in {data / 'mail'} (no SMTP_HOST)", flush=True)

        # Started again, it serves the frontend built now (app.serve): no rebuild.
        serve_again = [sys.executable, "-m", "app.serve", settings.host, str(port)]
        web = Child("web", _web_command(settings.host, port), env, None, again=serve_again)
        web.start()
        parts.append(_child_part(web, "web app"))
        print(
            "  Web         building the frontend and starting (first start takes longer)...",
            flush=True,
        )
        health = f"http://{address}:{port}/api/v1/health"
        while not stopping and not _answers_health(health, instance):
            if not web.alive():
                print("The web app exited; see the messages above.", file=sys.stderr)
                return 1
            time.sleep(0.5)
        if not stopping:
            took = time.monotonic() - started
            print(
                f"\n  The library is open at {url}  (ready in {took:.0f} s)\n"
                "  Create the first admin in another terminal:\n"
                "      ./run.sh create-admin you@example.org\n"
                "  A part that stops is started again; press Ctrl-C to stop everything.\n",
                flush=True,
            )
        for part in parts:
            part.up_since = time.monotonic()
        while not stopping:
            supervisor.watch()
            time.sleep(0.5)
        return 0
    finally:
        print("\n  Stopping...", flush=True)
        supervisor.stop_all()
        lock.release()
        print("  Stopped.", flush=True)


def _prepare(db_url: str) -> None:
    """Migrations, and the search index ready before the worker (its writer) and the web
    processes (its readers) start."""
    import asyncio

    from backend.db import dispose_engine
    from backend.migrate import upgrade
    from backend.search import indexer
    from backend.search.engines import get_search_engine

    upgrade(db_url)
    print("  Migrations  applied", flush=True)
    engine = get_search_engine()
    os.environ["DATABASE_URL"] = db_url
    get_settings.cache_clear()

    async def prepare() -> int:
        try:
            return await indexer.prepare_engine(engine)
        finally:
            await dispose_engine()

    queued = asyncio.run(prepare())
    note = f" (new index: {queued} documents queued for indexing)" if queued else ""
    print(f"  Search      {engine.name}{note}", flush=True)


def _web_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reflex",
        "run",
        "--env",
        "prod",
        "--single-port",
        "--backend-host",
        host,
        "--backend-port",
        str(port),
        "--loglevel",
        "warning",
    ]


if __name__ == "__main__":
    sys.exit(main())
