"""./run.sh's launcher on the embedded default: it starts everything and Ctrl-C stops it all."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import ROOT, free_port

pytestmark = pytest.mark.e2e


def _processes_using(folder: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:120]}")
    return found


def test_embedded_start_and_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        PORT=str(port),
        PUBLIC_URL=f"http://localhost:{port}",
        DATA_DIR=str(tmp_path),
        WEB_WORKERS="1",
    )
    log = tmp_path / "launcher.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.launcher"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600
        while "library is open" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "no start within 10 minutes"
            time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as r:
            assert r.status == 200
        assert (tmp_path / "pg" / "PG_VERSION").exists()
        assert (tmp_path / "redis" / "redis.sock").exists()
        assert _processes_using(tmp_path), "the embedded servers should run from the data folder"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(90)
    output = log.read_text(errors="replace")
    assert proc.returncode == 0, output[-3000:]
    assert "Stopped." in output
    time.sleep(1)
    assert _processes_using(tmp_path) == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
