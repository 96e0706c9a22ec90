"""./run.sh's launcher on the embedded default: it starts everything, listens on this
machine only, writes nothing others may read, and Ctrl-C stops it all."""

import os
import shutil
import socket
import stat
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import launch

pytestmark = pytest.mark.e2e
LISTEN = "0A"  # a socket's state in /proc/net/tcp


def _processes_using(folder: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:120]}")
    return found


def _address(hex_address: str) -> str:
    """An address as /proc/net/tcp{,6} writes it (32-bit words in host order)."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def _listening_on(port: int) -> set[str]:
    """Every local address some socket of this machine listens on at `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.add(_address(address))
    return found


def _other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback (there may be none)."""
    return [
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _open_to_others(data: Path, ignore: set[Path]) -> list[str]:
    """Entries under the data folder that a user other than the app's could read."""
    found = []
    for path in data.rglob("*"):
        try:
            mode = _mode(path)
            if stat.S_ISSOCK(path.lstat().st_mode):
                # PostgreSQL's socket is 0777 by default, inside its private cluster folder.
                mode = _mode(path.parent)
        except FileNotFoundError:  # a server's temporary file, gone meanwhile
            continue
        if path not in ignore and mode & 0o077:
            found.append(f"{oct(mode)} {path}")
    return found


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside pytest's own temporary one, which every new pytest session (on a
    shared machine, anyone's) closes to its user: run as root, the embedded PostgreSQL
    runs as another user, who must pass through the folders above its cluster."""
    folder = Path(tempfile.mkdtemp(prefix="library-launcher-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_embedded_start_and_ctrl_c_leaves_nothing_running(outside: Path) -> None:
    data = outside / "data"
    data.mkdir(mode=0o755)  # as an older version left it: the launcher closes it
    data.chmod(0o755)
    # No DATABASE_URL / REDIS_URL: the embedded servers in the data folder are used.
    launched = launch(data, DATABASE_URL="", REDIS_URL="")
    port = int(launched.env["PORT"])
    try:
        launched.wait_ready()
        with urllib.request.urlopen(f"{launched.url}/api/v1/health", timeout=5) as r:
            assert r.status == 200
        assert (data / "pg" / "PG_VERSION").exists()
        assert (data / "redis" / "redis.sock").exists()
        servers = _processes_using(data)
        assert servers, "the embedded servers should run from the data folder"

        # The web process listens on this machine only; the embedded servers not at all.
        assert _listening_on(port) == {"127.0.0.1"}
        for address in _other_addresses():
            with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
                pass
        for proc in psutil.process_iter(["cmdline"]):
            if str(data) in " ".join(proc.info["cmdline"] or []):
                listening = [c for c in proc.net_connections("inet") if c.status == "LISTEN"]
                assert listening == [], proc.info["cmdline"]

        # Nothing in the data folder is open to other users (the embedded PostgreSQL's
        # own user, when started as root, may pass through the data folder: 0710).
        assert _mode(data) == (0o710 if os.geteuid() == 0 else 0o700)
        assert _mode(data / "logs") == 0o700
        assert _mode(data / "logs" / "worker.log") == 0o600
        assert _mode(data / "redis" / "redis.log") == 0o600
        assert _open_to_others(data, ignore={launched.log}) == []
    finally:
        launched.stop()
    assert launched.proc.returncode == 0, launched.output()[-3000:]
    assert "Stopped." in launched.output()
    time.sleep(1)
    assert _processes_using(data) == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{launched.url}/api/v1/health", timeout=2)
