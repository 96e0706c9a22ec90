"""./run.sh's launcher on the embedded default: it starts everything and Ctrl-C stops it all."""

import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import launch

pytestmark = pytest.mark.e2e


def _processes_using(folder: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:120]}")
    return found


def test_embedded_start_and_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
    # No DATABASE_URL / REDIS_URL: the embedded servers in the data folder are used.
    launched = launch(tmp_path, DATABASE_URL="", REDIS_URL="")
    try:
        launched.wait_ready()
        with urllib.request.urlopen(f"{launched.url}/api/v1/health", timeout=5) as r:
            assert r.status == 200
        assert (tmp_path / "pg" / "PG_VERSION").exists()
        assert (tmp_path / "redis" / "redis.sock").exists()
        assert _processes_using(tmp_path), "the embedded servers should run from the data folder"
    finally:
        launched.stop()
    assert launched.proc.returncode == 0, launched.output()[-3000:]
    assert "Stopped." in launched.output()
    time.sleep(1)
    assert _processes_using(tmp_path) == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{launched.url}/api/v1/health", timeout=2)
